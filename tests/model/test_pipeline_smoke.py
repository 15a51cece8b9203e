"""train -> export -> fp16/int8 -> load, on a tiny random encoder and a few dozen rows (minutes at most)."""

from __future__ import annotations

import json
import shutil

import pytest

from finsentry.errors import ExportValidationError
from model import load_classifier
from model.train import TrainConfig, default_base, train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    from transformers import BertConfig, BertModel

    base = tmp_path_factory.mktemp("tinybase")
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    BertModel(cfg).save_pretrained(base)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copyfile(f"{default_base()}/{name}", base / name)
    return base


def _tiny_train(base, out, **kw):
    return train(TrainConfig(base=str(base), out=str(out), epochs=1, limit=48, max_length=32,
                             evals_per_epoch=1, batch_size=16, **kw))


@pytest.fixture(scope="module")
def tiny_checkpoint(tiny_base, tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt")
    report = _tiny_train(tiny_base, out)
    assert (out / "training_report.json").exists() and report["stop_reason"] in ("epochs", "early_stopping")
    return out


def test_ema_run_saves_the_averaged_weights(tiny_base, tiny_checkpoint, tmp_path):
    from model.train import load_checkpoint

    report = _tiny_train(tiny_base, tmp_path / "ema", ema=0.5)
    assert report["config"]["ema"] == 0.5
    assert json.loads((tmp_path / "ema" / "meta.json").read_text())["ema"] == 0.5
    # same seed and data: only the averaging differs, so the saved weights must differ from the plain run's
    plain, _, _ = load_checkpoint(tiny_checkpoint)
    ema, _, _ = load_checkpoint(tmp_path / "ema")
    assert not plain.sentiment_head.weight.allclose(ema.sentiment_head.weight)


def test_train_export_quantize_load(tiny_checkpoint, tmp_path):
    from model.export import export

    out = tmp_path / "ship"
    card = export(tiny_checkpoint, out, tmp_path / "work", evaluate_test=False, n_validate=30,
                  tolerance={"int8": {"agreement": 0.0, "max_prob_diff": 1.0}})
    assert (out / "model.fp16.onnx").exists() and (out / "tokenizer.json").exists()
    assert json.loads((out / "card.json").read_text())["version"] == card["version"]
    assert card["validation_vs_pytorch"]["fp32"]["max_prob_diff"] < 1e-3
    clf = load_classifier(out, provider="cpu", cache_dir=tmp_path / "cache")
    assert clf.variant == "int8" and (tmp_path / "cache").exists()
    preds = clf.classify(["profit rose", "", "loss widened sharply"])
    assert [p.label in ("negative", "neutral", "positive") for p in preds] == [True] * 3


def test_export_fails_loudly_beyond_tolerance(tiny_checkpoint, tmp_path):
    from model.export import export

    with pytest.raises(ExportValidationError):
        export(tiny_checkpoint, tmp_path / "ship", tmp_path / "work", evaluate_test=False, n_validate=30,
               tolerance={"fp32": {"agreement": 1.01, "max_prob_diff": 0.0}})
