"""The multilingual recipe's parts: FinNSP loss, encoder shaping, int8 embeddings, routed evaluation."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

from model.convert import quantize_embedding_rows
from model.engine import Prediction
from model.evaluate import evaluate_routed
from model.labels import SENTIMENT_LABELS
from model.train import NOT_NEGATIVE, TrainConfig, default_base, sentiment_loss, shape_encoder, train

NEG = SENTIMENT_LABELS.index("negative")


def test_not_negative_rows_get_the_binary_loss():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
    p = torch.softmax(logits, -1)
    got = sentiment_loss(logits, torch.tensor([NOT_NEGATIVE, 1]))
    want = (-torch.log(1 - p[0, NEG]) - torch.log(p[1, 1])) / 2
    assert got is not None and torch.allclose(got, want, atol=1e-6)
    # "not negative" is satisfied by neutral and positive alike: moving mass between them changes nothing
    a = sentiment_loss(torch.tensor([[0.0, 3.0, 0.0]]), torch.tensor([NOT_NEGATIVE]))
    b = sentiment_loss(torch.tensor([[0.0, 0.0, 3.0]]), torch.tensor([NOT_NEGATIVE]))
    assert a is not None and b is not None and torch.allclose(a, b)
    assert sentiment_loss(logits, torch.tensor([-100, -100])) is None


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    from transformers import BertConfig, BertModel

    base = tmp_path_factory.mktemp("tinybase")
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    BertModel(cfg).save_pretrained(base)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copyfile(f"{default_base()}/{name}", base / name)
    return base


def test_shape_encoder_drops_upper_layers_and_freezes_lower(tiny_base):
    from model.network import MultiTaskClassifier

    net = MultiTaskClassifier.from_base(str(tiny_base), 3, 20)
    shape = shape_encoder(net, keep_layers=2, freeze_layers=1)
    enc = net.encoder
    assert shape["layers"] == 2 and enc.config.num_hidden_layers == 2
    assert not any(p.requires_grad for p in enc.embeddings.parameters())
    assert not any(p.requires_grad for p in enc.encoder.layer[0].parameters())
    assert all(p.requires_grad for p in enc.encoder.layer[1].parameters())
    assert shape["trainable_parameters"] < shape["parameters"]


@pytest.mark.slow
def test_tiny_multilingual_run_trains_on_chinese_and_selects_on_polish_dev(tiny_base, tmp_path):
    from model.train import load_checkpoint

    pl = tmp_path / "pl.csv"
    with pl.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text", "label", "split"])
        w.writerows([["a", "Akcje spadają po upadku banku", "negative", "dev"],
                     ["b", "Zysk banku wzrósł o 20 proc.", "positive", "dev"],
                     ["c", "Kurs złotego bez zmian", "neutral", "test"]])
    out = tmp_path / "ckpt"
    report = train(TrainConfig(base=str(tiny_base), out=str(out), epochs=1, limit=24, max_length=32,
                               evals_per_epoch=1, batch_size=16, chinese=True, polish_dev=str(pl),
                               keep_layers=2, freeze_layers=1))
    assert {"finfe", "finnsp"} <= set(report["test"]) and report["encoder_shape"]["layers"] == 2
    last = report["history"][-1]
    assert last["val_pl_dev_accuracy"] >= 0 and "val_finnsp_accuracy" in last
    net, _, _ = load_checkpoint(out)  # the checkpoint reloads with the truncated depth
    assert net.encoder.config.num_hidden_layers == 2
    from transformers import BertModel

    frozen = BertModel.from_pretrained(str(tiny_base)).embeddings.word_embeddings.weight
    assert torch.equal(net.encoder.embeddings.word_embeddings.weight, frozen)

    from model import load_classifier
    from model.export import export

    ship = tmp_path / "ship"
    (ship).mkdir()
    (ship / "model.fp16.onnx").write_bytes(b"stale")  # an older export's file must not survive
    card = export(out, ship, tmp_path / "work", evaluate_test=False, n_validate=30, int8_only=True,
                  tolerance={"int8": {"agreement": 0.0, "max_prob_diff": 1.0}})
    assert sorted(p.name for p in ship.iterdir()) == ["card.json", "model.int8.onnx", "tokenizer.json"]
    assert "model.int8.onnx" in card["files"] and "EmbedLayerNormalization" not in card["fused_operators"]
    graph = onnx.load(str(ship / "model.int8.onnx")).graph
    assert any(i.name.endswith("_int8") and i.data_type == TensorProto.INT8 for i in graph.initializer)
    clf = load_classifier(ship, provider="cpu")
    assert clf.variant == "int8" and len(clf.classify(["Zysk wzrósł", "利润大增"])) == 2


def _gather_model(table: np.ndarray) -> onnx.ModelProto:
    node = helper.make_node("Gather", ["table", "ids"], ["out"], name="emb")
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("ids", TensorProto.INT64, [None, None])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [None, None, table.shape[1]])],
        [numpy_helper.from_array(table, "table")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_embedding_rows_become_int8_with_per_row_scales():
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    table = (rng.normal(size=(12_000, 64)) * rng.uniform(0.01, 2.0, size=(12_000, 1))).astype(np.float32)
    model = _gather_model(table)
    saved = quantize_embedding_rows(model)
    assert saved > 0.7 * table.nbytes
    assert {i.data_type for i in model.graph.initializer} == {TensorProto.INT8, TensorProto.FLOAT}
    ids = np.array([[0, 5, 11_999], [7, 7, 3]], dtype=np.int64)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"ids": ids})[0]
    want = table[ids]
    row_max = np.abs(want).max(-1, keepdims=True)
    assert got.shape == want.shape and np.all(np.abs(got - want) <= row_max / 254 + 1e-7)
    small = _gather_model(table[:100])
    assert quantize_embedding_rows(small) == 0  # position/type tables stay fp32


def _pred(label: str) -> Prediction:
    return Prediction(label=label, probs={lab: float(lab == label) for lab in SENTIMENT_LABELS}, score=0.0)


def test_evaluate_routed_reports_per_language_and_unscored(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text("text,label\nen up,positive\nen down,negative\npl spadek,negative\nde x,neutral\n ,neutral\n",
                    encoding="utf-8")
    answers = {"en up": (_pred("positive"), "en"), "en down": (_pred("neutral"), "en"),
               "pl spadek": (_pred("negative"), "pl"), "de x": (None, "de")}
    rep = evaluate_routed(lambda texts: [answers[t] for t in texts], path)
    assert rep["per_language"]["en"]["accuracy"] == 0.5 and rep["per_language"]["pl"]["accuracy"] == 1.0
    assert rep["unscored"] == {"de": 1} and rep["skipped"] == {"empty_text": 1}
    assert rep["overall"]["n"] == 3 and rep["overall_with_unscored"]["accuracy"] == 0.5


def test_eval_cli_routes_by_detected_language(tmp_path, monkeypatch):
    """`model eval` without --model: the real detector and router, as `finsentry run` builds them."""
    from app.cli import app

    path = tmp_path / "mixed.csv"
    path.write_text(
        "text,label\n"
        "Shares plunged 30 % after a profit warning .,negative\n"
        "Net profit more than doubled and guidance was raised .,positive\n"
        "\"Akcje banków spadają po upadku SVB, inwestorzy wycofują pieniądze\",negative\n"
        "Die Aktien der Banken fallen nach dem Zusammenbruch der Bank stark,negative\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("FINSENTRY_LANGUAGE_MODELS", '{"en": "shipped", "pl": "multilingual"}')
    res = CliRunner().invoke(app, ["model", "eval", "--input", str(path), "--provider", "cpu"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["routed"] and summary["unscored"] == {"de": 1} and summary["n"] == 3
    assert summary["per_language"]["en"]["n"] == 2 and summary["per_language"]["pl"]["n"] == 1


def test_packaged_multilingual_model_loads_and_reports_per_language():
    from model import load_classifier
    from model.engine import MULTILINGUAL_DIR

    files = {p.name: p.stat().st_size for p in MULTILINGUAL_DIR.iterdir()}
    assert "model.fp16.onnx" not in files and max(files.values()) < 50 * 2**20 and sum(files.values()) < 60 * 2**20
    card = json.loads((MULTILINGUAL_DIR / "card.json").read_text())
    assert {"pl_test", "zh_finfe_test", "zh_finnsp_test", "en_fpb_test"} <= set(card["per_language"])
    clf = load_classifier(MULTILINGUAL_DIR, provider="cpu", threads=1)
    preds = clf.classify(["Plajta Silicon Valley Bank pogłębiła spadki na Wall Street", "银行股价暴跌", ""])
    assert [p.label in SENTIMENT_LABELS for p in preds] == [True] * 3 and not preds[0].truncated


def test_default_routing_sends_polish_and_chinese_to_the_multilingual_model():
    from finsentry.settings import Settings
    from model.engine import MULTILINGUAL_DIR
    from model.languages import ModelRouter

    asked: list[str | None] = []

    class Loaded:
        version = "v"
        provider = "cpu"

        def __init__(self, path: str | None) -> None:
            asked.append(path)

        def classify(self, texts: list[str]) -> list[object]:
            return list(texts)

    router = ModelRouter(Settings().language_models, Loaded)  # type: ignore[call-arg]
    assert asked == [None, str(MULTILINGUAL_DIR)]  # English: the shipped model; pl and zh share one load
    assert router.model_for("pl") is router.model_for("zh") is not router.model_for("en")
