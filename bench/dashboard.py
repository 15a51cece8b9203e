"""Render benchmark: the whole dashboard page through Streamlit's AppTest against a big store.

``run_render_bench(n_items=1_000_000, runs=20)`` builds (once, cached under ``var/bench``) a
seeded SQLite store with ``n_items`` items, then times full page runs. Each *cold* run first
drops the query cache, so every query really hits the database (what a refresh costs); *warm*
runs reuse cached results (what a widget click costs). Target: cold p95 < 1 s.

    python -m bench.dashboard --items 1000000 --runs 20
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import time
from pathlib import Path
from typing import Any

from tests.support.seed import bench_store

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
TARGET_P95_S = 1.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def run_render_bench(n_items: int = 1_000_000, runs: int = 20, directory: str = "var/bench",
                     warm_runs: int = 5) -> dict[str, Any]:
    """Time full-page renders (AppTest) against a generated store; returns the figures."""
    # AppTest runs without a Streamlit server: drop its "no runtime" warnings (on import of the
    # cached readers and every cache clear); a filter, as Streamlit resets its loggers' levels.
    for name in ("streamlit.runtime.caching.cache_data_api", "streamlit.runtime.scriptrunner_utils.script_run_context"):
        logging.getLogger(name).addFilter(lambda record: record.levelno >= logging.ERROR)

    from streamlit.testing.v1 import AppTest

    from dashboard import cached

    t0 = time.perf_counter()
    path = bench_store(n_items, directory=directory)
    store_s = time.perf_counter() - t0
    url = f"sqlite:///{path.resolve()}"
    previous = os.environ.get("FINSENTRY_STORE_URL")
    os.environ["FINSENTRY_STORE_URL"] = url
    try:
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.run()  # warm-up: imports, engine, SQLite page cache
        if at.exception:
            raise RuntimeError(f"dashboard raised during the benchmark: {at.exception[0].value}")
        cold: list[float] = []
        for _ in range(runs):
            cached.clear()
            t = time.perf_counter()
            at.run()
            cold.append(time.perf_counter() - t)
            if at.exception:
                raise RuntimeError(f"dashboard raised during the benchmark: {at.exception[0].value}")
        warm: list[float] = []
        for _ in range(warm_runs):
            t = time.perf_counter()
            at.run()
            warm.append(time.perf_counter() - t)
        n_charts = len(at.get("plotly_chart"))
        n_tables = len(at.dataframe)
    finally:
        if previous is None:
            os.environ.pop("FINSENTRY_STORE_URL", None)
        else:
            os.environ["FINSENTRY_STORE_URL"] = previous
    p95 = _percentile(cold, 0.95)
    return {
        "n_items": n_items,
        "runs": runs,
        "render_p50_s": round(statistics.median(cold), 4),
        "render_p95_s": round(p95, 4),
        "render_max_s": round(max(cold), 4),
        "render_warm_p50_s": round(statistics.median(warm), 4) if warm else None,
        "target_p95_s": TARGET_P95_S,
        "meets_target": p95 < TARGET_P95_S,
        "charts": n_charts,
        "tables": n_tables,
        "store": str(path),
        "store_mb": round(path.stat().st_size / 2**20, 1),
        "store_ready_s": round(store_s, 2),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--dir", default="var/bench")
    args = ap.parse_args(argv)
    print(json.dumps(run_render_bench(args.items, args.runs, args.dir)))


if __name__ == "__main__":
    main()
