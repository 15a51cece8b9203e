"""`finsentry model export`: checkpoint -> ONNX fp32 -> optimised -> fp16 (GPU) + int8 (CPU), validated.

Training-side module (imports torch). Writes into ``out``: ``model.fp16.onnx`` (shipped),
``tokenizer.json``, ``card.json``; ``model.fp32.onnx`` and ``model.int8.onnx`` go to ``work``
(not shipped; the engine derives int8 from fp16 on first use, exactly as done here).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from transformers import PreTrainedTokenizerBase

from finsentry.errors import ExportValidationError
from finsentry.logs import get_logger
from model.convert import derive_int8, derive_int8_with_embeddings
from model.data import SPLITS_DIR, load_split, sha256
from model.labels import SENTIMENT_LABELS, TOPIC_LABELS
from model.network import MultiTaskClassifier, ProbsWrapper
from model.train import load_checkpoint, predict

log = get_logger(__name__)

# Tolerances against the PyTorch fp32 model on the validation sample.
TOLERANCE = {
    "fp32": {"agreement": 0.999, "max_prob_diff": 1e-3},
    "fp16": {"agreement": 0.99, "max_prob_diff": 0.05},
    "int8": {"agreement": 0.95, "max_prob_diff": 0.5},
}


def _export_fp32(net: MultiTaskClassifier, path: Path, max_length: int) -> None:
    wrapper = ProbsWrapper(net).eval()
    ids = torch.ones((2, 16), dtype=torch.long)
    mask = torch.ones((2, 16), dtype=torch.long)
    dyn = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
           "sentiment_probs": {0: "batch"}, "topic_probs": {0: "batch"}}
    with torch.no_grad():
        torch.onnx.export(
            wrapper, (ids, mask), str(path), input_names=["input_ids", "attention_mask"],
            output_names=["sentiment_probs", "topic_probs"], dynamic_axes=dyn, opset_version=17, dynamo=False,
        )
    onnx.checker.check_model(str(path))


def _optimise(src: Path, dst_fp32: Path, dst_fp16: Path, hidden: int, heads: int, *,
              fuse_embeddings: bool = True) -> dict[str, int]:
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.enable_embed_layer_norm = fuse_embeddings  # unfused: the word-embedding Gather can be int8
    opt = optimize_model(str(src), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=1,
                         optimization_options=options)
    fused: dict[str, int] = {k: v for k, v in opt.get_fused_operator_statistics().items() if v}
    opt.save_model_to_file(str(dst_fp32))
    opt.convert_float_to_float16(keep_io_types=True)
    opt.save_model_to_file(str(dst_fp16))
    return fused


def _ort_probs(path: Path, tok: PreTrainedTokenizerBase, texts: list[str],
               max_length: int) -> tuple[np.ndarray, np.ndarray]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    s_out = np.zeros((len(texts), len(SENTIMENT_LABELS)), np.float32)
    t_out = np.zeros((len(texts), len(TOPIC_LABELS)), np.float32)
    for j in range(0, len(texts), 64):
        enc = tok(texts[j:j + 64], padding=True, truncation=True, max_length=max_length, return_tensors="np")
        s, t = sess.run(None, {"input_ids": enc["input_ids"].astype(np.int64),
                               "attention_mask": enc["attention_mask"].astype(np.int64)})
        s_out[j:j + 64], t_out[j:j + 64] = s, t
    return s_out, t_out


def _compare(ref: tuple[np.ndarray, np.ndarray], got: tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
    agree = [float((r.argmax(1) == g.argmax(1)).mean()) for r, g in zip(ref, got, strict=True)]
    diff = [float(np.abs(r - g).max()) for r, g in zip(ref, got, strict=True)]
    mean = [float(np.abs(r - g).mean()) for r, g in zip(ref, got, strict=True)]
    return {"agreement": min(agree), "max_prob_diff": max(diff), "mean_prob_diff": max(mean),
            "sentiment_agreement": agree[0], "topic_agreement": agree[1]}


def validation_texts(splits_dir: Path = SPLITS_DIR, n: int = 600) -> list[str]:
    """A fixed sample of validation texts from every set (FPB, twitter sentiment, topic)."""
    texts: list[str] = []
    for name in ("fpb", "twitter_sentiment", "topic"):
        texts += [e.text for e in load_split(name, "val", splits_dir)[: n // 3]]
    return texts


def _file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export(checkpoint: Path, out: Path, work: Path | None = None, *, evaluate_test: bool = True,
           splits_dir: Path = SPLITS_DIR, n_validate: int = 600,
           tolerance: dict[str, dict[str, float]] | None = None, int8_only: bool = False) -> dict[str, Any]:
    """Export, optimise, convert, validate (raises ExportValidationError) and write the model card.

    ``int8_only`` (the multilingual model, whose fp16 file would be too large for git): the shipped file
    is ``model.int8.onnx`` derived like the fp16 model's int8, with the word-embedding table quantized per row too.
    """
    from model.engine import load_classifier
    from model.evaluate import evaluate_file

    checkpoint, out = Path(checkpoint), Path(out)
    work = Path(work) if work else checkpoint / "onnx"
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    net, tok, meta = load_checkpoint(checkpoint)
    max_length = int(meta["max_length"])
    raw, fp32, fp16, int8 = (work / n for n in ("raw.onnx", "model.fp32.onnx", "model.fp16.onnx", "model.int8.onnx"))
    _export_fp32(net, raw, max_length)
    cfg = net.encoder.config
    fused = _optimise(raw, fp32, fp16, cfg.hidden_size, cfg.num_attention_heads, fuse_embeddings=not int8_only)
    if int8_only:
        derive_int8_with_embeddings(fp16, int8)
    else:
        derive_int8(fp16, int8)
    log.info("export.converted", fused=fused, fp16_mb=round(fp16.stat().st_size / 2**20, 1),
             int8_mb=round(int8.stat().st_size / 2**20, 1))

    texts = validation_texts(splits_dir, n_validate)
    ref = predict(net, tok, texts, max_length)
    validation: dict[str, dict[str, float]] = {}
    for name, path in (("fp32", fp32), ("int8", int8), ("fp16", fp16)):
        try:
            validation[name] = _compare(ref, _ort_probs(path, tok, texts, max_length))
        except Exception as exc:  # noqa: BLE001 - ORT raises its own types; report and fail loudly
            raise ExportValidationError(f"{name} model does not run on the CPU provider: {exc}") from exc
        tol = {**TOLERANCE, **(tolerance or {})}[name]
        v = validation[name]
        log.info("export.validated", variant=name, **{k: round(x, 5) for k, x in v.items()})
        if v["agreement"] < tol["agreement"] or v["max_prob_diff"] > tol["max_prob_diff"]:
            raise ExportValidationError(f"{name} drifts beyond tolerance: {v} (tolerance {tol})")

    tok.backend_tokenizer.save(str(out / "tokenizer.json"))
    shipped = "model.int8.onnx" if int8_only else "model.fp16.onnx"
    shutil.copyfile(int8 if int8_only else fp16, out / shipped)
    stale = out / ("model.fp16.onnx" if int8_only else "model.int8.onnx")
    stale.unlink(missing_ok=True)  # the engine prefers a local int8 file: never leave an old one beside
    stamp = dt.datetime.now(dt.UTC)
    sha16 = _file_sha(out / shipped)
    report_path = checkpoint / "training_report.json"
    training = json.loads(report_path.read_text()) if report_path.exists() else {}
    card: dict[str, Any] = {
        "name": "finsentry-sentiment-topic",
        "version": f"{stamp:%Y%m%d}-{sha16[:8]}",
        "created": stamp.isoformat(timespec="seconds"),
        "base_model": meta["base"].split("site-packages/")[-1],
        "architecture": {"encoder": cfg.model_type, "layers": cfg.num_hidden_layers, "hidden": cfg.hidden_size,
                         "heads": cfg.num_attention_heads, "pooling": meta.get("pooling", "mean"),
                         "outputs": ["sentiment_probs", "topic_probs"]},
        "max_length": max_length,
        "sentiment_labels": list(SENTIMENT_LABELS),
        "topic_labels": list(TOPIC_LABELS),
        "files": {shipped: {"sha256": sha16, "bytes": (out / shipped).stat().st_size},
                  "tokenizer.json": {"sha256": _file_sha(out / "tokenizer.json")}},
        "sizes_mb": {
            n: round(p.stat().st_size / 2**20, 1) for n, p in (("fp32", fp32), ("fp16", fp16), ("int8", int8))
        },
        "fused_operators": fused,
        "validation_vs_pytorch": validation,
        "tolerance": {**TOLERANCE, **(tolerance or {})},
        "data": training.get("data") or {p.name: sha256(p) for p in sorted(Path(splits_dir).glob("*.csv"))},
        "training": {k: training.get(k) for k in ("stop_reason", "best_step", "minutes", "config")},
        "metrics": {"pytorch_fp32": {k: {m: v[m] for m in ("accuracy", "macro_f1", "n")}
                                     for k, v in training.get("test", {}).items()}},
        "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__,
                     "onnx": onnx.__version__, "onnxruntime": __import__("onnxruntime").__version__,
                     "python": platform.python_version()},
        "license": "Model weights derived from Financial PhraseBank (CC BY-NC-SA 3.0): non-commercial, share-alike.",
    }
    (out / "card.json").write_text(json.dumps(card, indent=2))
    if evaluate_test:
        metrics: dict[str, dict[str, dict[str, Any]]] = {}
        for variant in ("int8", "fp16", "fp32"):
            forced = {"fp32": fp32, "fp16": fp16 if int8_only else None}.get(variant)
            clf = load_classifier(out, provider="cpu", variant=variant, cache_dir=work / "cache", onnx_file=forced)
            metrics[variant] = {}
            for name, task in (("fpb_test", "sentiment"), ("fpb_allagree_test", "sentiment"),
                               ("twitter_sentiment_test", "sentiment"), ("topic_test", "topic")):
                rep = evaluate_file(clf, Path(splits_dir) / f"{name}.csv", task=task)
                metrics[variant][name] = {k: rep[k] for k in ("accuracy", "macro_f1", "n")}
        card["metrics"].update({f"onnx_{k}": v for k, v in metrics.items()})
        card["int8_accuracy_drop_points"] = {
            k: round(100 * (metrics["fp32"][k]["accuracy"] - metrics["int8"][k]["accuracy"]), 2)
            for k in metrics["fp32"]
        }
        (out / "card.json").write_text(json.dumps(card, indent=2))
    log.info("export.done", out=str(out), version=card["version"])
    return card
