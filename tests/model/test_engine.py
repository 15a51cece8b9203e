from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from finsentry.errors import ConfigError
from model import Prediction, engine, load_classifier
from model.engine import choose_provider, clean_text

SENTENCES = [
    "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn in the corresponding period in 2007 .",
    "$AAPL - Apple cut to Sell at Goldman on weak iPhone demand https://t.co/xyz",
    "The company will hold its annual general meeting on 12 March .",
    "Sales fell 40 % and the company warned of further losses .",
    "ok",
    "ECB raises rates by 50 basis points, more hikes to come",
]


def test_empty_list(shipped):
    assert shipped.classify([]) == []


def test_bucketing_keeps_order(shipped):
    texts = SENTENCES * 7  # mixed lengths, several batches when batch_size is small
    shipped.batch_size = 4
    try:
        batched = shipped.classify(texts)
    finally:
        shipped.batch_size = 32
    single = [shipped.classify([t])[0] for t in texts]
    for a, b in zip(batched, single, strict=True):
        assert a.label == b.label
        for lab in a.probs:
            assert a.probs[lab] == pytest.approx(b.probs[lab], abs=0.03)


def test_prediction_contract(shipped):
    preds = shipped.classify(SENTENCES)
    assert len(preds) == len(SENTENCES)
    for p in preds:
        assert isinstance(p, Prediction)
        assert p.label in ("negative", "neutral", "positive")
        assert set(p.probs) == {"negative", "neutral", "positive"}
        assert sum(p.probs.values()) == pytest.approx(1.0, abs=1e-3)
        assert p.label == max(p.probs, key=p.probs.get)
        assert p.score == pytest.approx(p.probs["positive"] - p.probs["negative"])
        assert all(prob >= shipped.topic_threshold for _, prob in p.topics)
        assert [prob for _, prob in p.topics] == sorted((prob for _, prob in p.topics), reverse=True)
        assert all(name in shipped.topic_labels for name, _ in p.topics)
    assert shipped.version and shipped.provider == "cpu"


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\x00\x07\u200b", "\u202e"])
def test_empty_after_cleaning_is_neutral(shipped, text):
    (p,) = shipped.classify([text])
    assert p.label == "neutral" and p.probs["neutral"] == 1.0 and p.score == 0.0 and p.topics == []


@pytest.mark.parametrize("text", ["🚀🚀🚀 to the moon", "Der Aktienkurs fiel um 20 Prozent.", "股价大跌",
                                  "a\x00b\x1bc", "\ud83d", "x" * 5000, "TSLA " * 3000])
def test_odd_inputs_never_crash(shipped, text):
    (p,) = shipped.classify([text])
    assert p.label in ("negative", "neutral", "positive")
    assert np.isfinite(p.score)


def test_truncation_at_token_limit(shipped):
    long = "Profit rose sharply . " * 200
    short, longp = shipped.classify(["Profit rose sharply .", long])
    assert longp.truncated and not short.truncated
    tok = shipped._tok  # the limit is the card's max_length
    assert len(tok.encode(long).ids) == shipped.max_length


def test_clean_text():
    assert clean_text("a\x00b\u200bc\n") == "a b c"
    assert clean_text(None) == ""  # type: ignore[arg-type]


def test_provider_selection_without_cuda(monkeypatch):
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert choose_provider("auto") == "cpu"
    assert choose_provider("cpu") == "cpu"
    with pytest.raises(ConfigError):
        choose_provider("cuda")
    with pytest.raises(ConfigError):
        choose_provider("tpu")


def test_provider_cuda_listed_but_libraries_missing(monkeypatch):
    """onnxruntime-gpu lists CUDA even without CUDA libs: we must not ask for it then."""
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(engine, "_CUDA_LIBS", ("libdefinitely-not-here-finsentry.so.1",))
    assert choose_provider("auto") == "cpu"


def test_auto_provider_loads_on_this_machine(shipped, int8_cache, capfd):
    clf = load_classifier(provider="auto", cache_dir=int8_cache)
    assert clf.provider in ("cpu", "cuda")
    err = capfd.readouterr().err
    assert "Require cuDNN" not in err and "Failed to load" not in err


def test_fp16_graph_runs_on_cpu_provider(shipped):
    fp16 = load_classifier(provider="cpu", variant="fp16")
    a, b = fp16.classify(SENTENCES), shipped.classify(SENTENCES)
    assert sum(x.label == y.label for x, y in zip(a, b, strict=True)) >= len(SENTENCES) - 1
