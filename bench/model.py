"""`finsentry model bench`: our engine vs the tutorial baseline, same texts, same machine.

The engine is measured in a fresh subprocess (torch in the same process slows ONNX Runtime,
FIELD-NOTES), together with the int8-vs-fp32 accuracy on the FPB test split (fp32 = the shipped
fp16 graph widened to fp32, i.e. the exported weights at full precision). The baseline, a
``transformers`` ``pipeline("text-classification")`` in PyTorch fp32 with batch size 32 over the
same architecture, runs in this process afterwards. Tokenisation is counted on both sides.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from finsentry.errors import ModelError
from model.data import SPLITS_DIR, load_split


def bench_texts(splits_dir: Path = SPLITS_DIR) -> list[str]:
    """FPB test + twitter sentiment test texts (about 1,500)."""
    return [e.text for e in load_split("fpb", "test", splits_dir) + load_split("twitter_sentiment", "test", splits_dir)]


def _engine_side(model_path: str | None, threads: int) -> dict[str, Any]:
    """Runs in the subprocess: engine throughput + int8/fp32 accuracy (no torch here)."""
    import onnx

    from model.convert import fp16_to_fp32
    from model.engine import SHIPPED_DIR, load_classifier
    from model.evaluate import evaluate_file

    texts = bench_texts()
    clf = load_classifier(model_path, provider="cpu", variant="int8", threads=threads)
    clf.classify(texts[:64])
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        clf.classify(texts)
        best = min(best, time.perf_counter() - t0)
    test = SPLITS_DIR / "fpb_test.csv"
    acc8 = evaluate_file(clf, test)["accuracy"]
    mdir = Path(model_path) if model_path else SHIPPED_DIR
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "model.fp32.onnx"
        onnx.save(fp16_to_fp32(onnx.load(str(mdir / "model.fp16.onnx"))), str(fp32))
        clf32 = load_classifier(mdir, provider="cpu", variant="fp32", onnx_file=fp32, threads=threads)
        acc32 = evaluate_file(clf32, test)["accuracy"]
    return {"n_texts": len(texts), "engine_seconds": best, "engine_texts_per_s": len(texts) / best,
            "int8_accuracy": acc8, "fp32_accuracy": acc32, "model_version": clf.version}


def _baseline_side(checkpoint: Path, texts: list[str], threads: int) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    from model.train import default_base

    torch.set_num_threads(threads)
    src = checkpoint / "encoder" if (checkpoint / "encoder" / "config.json").exists() else Path(default_base())
    model = AutoModelForSequenceClassification.from_pretrained(str(src), num_labels=3)
    tok = AutoTokenizer.from_pretrained(str(src))  # type: ignore[no-untyped-call]  # unannotated in transformers
    pipe = pipeline("text-classification", model=model, tokenizer=tok, device=-1)
    pipe(texts[:64], batch_size=32, truncation=True)
    t0 = time.perf_counter()
    pipe(texts, batch_size=32, truncation=True)
    secs = time.perf_counter() - t0
    return {"baseline_model": str(src).split("site-packages/")[-1], "baseline_seconds": secs,
            "baseline_texts_per_s": len(texts) / secs}


def run_bench(
    model_path: str | Path | None = None, checkpoint: str | Path = "artifacts/train", threads: int = 2
) -> dict[str, Any]:
    """Measure engine (subprocess) then baseline (here); returns the result dict."""
    code = ("import json,sys; from bench.model import _engine_side; "
            f"print(json.dumps(_engine_side({str(model_path) if model_path else None!r}, {threads})))")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=str(Path(__file__).resolve().parents[1]))
    if proc.returncode != 0:
        raise ModelError(f"engine benchmark failed: {proc.stderr[-2000:]}")
    engine = json.loads(proc.stdout.strip().splitlines()[-1])
    base = _baseline_side(Path(checkpoint), bench_texts(), threads)
    return {
        **engine, **base, "threads": threads,
        "speedup": engine["engine_texts_per_s"] / base["baseline_texts_per_s"],
        "int8_accuracy_drop": round(100 * (engine["fp32_accuracy"] - engine["int8_accuracy"]), 2),
    }


def format_table(res: dict[str, Any]) -> str:
    rows = [("engine (ONNX int8, length-bucketed)", res["engine_texts_per_s"]),
            ("baseline (transformers pipeline fp32, bs 32)", res["baseline_texts_per_s"])]
    lines = [f"{'system':<46} {'texts/s':>9}"] + [f"{n:<46} {v:9.1f}" for n, v in rows]
    lines.append(f"speedup {res['speedup']:.2f}x on {res['n_texts']} texts, {res['threads']} threads; "
                 f"FPB test accuracy fp32 {res['fp32_accuracy']:.4f} int8 {res['int8_accuracy']:.4f} "
                 f"(drop {res['int8_accuracy_drop']:.2f} points)")
    return "\n".join(lines)
