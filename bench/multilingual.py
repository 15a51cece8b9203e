"""Multilingual int8 engine vs the English (MiniLM) int8 engine: same texts, same process, one run.

Both classifiers are loaded side by side (no torch in this process) and timed in alternation on the
same ~1,500 English test texts, plus the multilingual one on the Polish labelled headlines; the ratio
``multilingual / english`` is what issue 13 asks to stay >= 0.5.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.model import bench_texts
from model.data import read_csv

POLISH = Path(__file__).resolve().parents[1] / "data" / "eval" / "polish_headlines.csv"


def _best(classify: Callable[[list[str]], object], texts: list[str], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        classify(texts)
        best = min(best, time.perf_counter() - t0)
    return best


def run_multilingual_bench(threads: int = 2, rounds: int = 2) -> dict[str, Any]:
    """Texts/s of both engines (best of ``rounds``, alternating) and their ratio."""
    from model.engine import MULTILINGUAL_DIR, load_classifier

    english = load_classifier(None, provider="cpu", variant="int8", threads=threads)
    multi = load_classifier(MULTILINGUAL_DIR, provider="cpu", variant="int8", threads=threads)
    texts = bench_texts()
    polish = [r["text"] for r in read_csv(POLISH)]
    for clf in (english, multi):
        clf.classify(texts[:64])
    en_s = mu_s = float("inf")
    for _ in range(rounds):
        en_s = min(en_s, _best(english.classify, texts, 1))
        mu_s = min(mu_s, _best(multi.classify, texts, 1))
    pl_s = _best(multi.classify, polish, rounds)
    return {
        "n_texts": len(texts), "threads": threads,
        "english_texts_per_s": len(texts) / en_s, "multilingual_texts_per_s": len(texts) / mu_s,
        "ratio_vs_english": en_s / mu_s,
        "multilingual_polish_texts_per_s": len(polish) / pl_s, "n_polish": len(polish),
        "english_version": english.version, "multilingual_version": multi.version,
    }
