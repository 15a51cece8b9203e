"""`python -m bench` orchestration: sections as data, targets, the table, results.json.

No wall-clock figure is asserted here (benchmarks report, tests check the plumbing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from bench import run as bench
from bench.consumer import (
    descendants,
    load_texts,
    rss_bytes,
    stored_items,
    tree_rss_bytes,
)

app = typer.Typer()  # what `python -m bench` runs
app.command()(bench.bench_command)


def _metric(key: str) -> bench.Metric:
    return next(m for m in bench.METRICS if m.key == key)


def test_targets_from_the_issue() -> None:
    assert (_metric("speedup").op, _metric("speedup").target) == (">=", 4.0)
    assert (_metric("ratio").op, _metric("ratio").target) == (">=", 0.8)
    assert (_metric("latency_p99_ms").op, _metric("latency_p99_ms").target) == ("<=", 500.0)
    assert (_metric("rss_peak_mb").op, _metric("rss_peak_mb").target) == ("<=", 600.0)
    assert (_metric("first_item_s").op, _metric("first_item_s").target) == ("<=", 5.0)
    assert (_metric("render_p95_s").op, _metric("render_p95_s").target) == ("<=", 1.0)


@pytest.mark.parametrize(
    ("key", "value", "met"),
    [("speedup", 4.0, True), ("speedup", 3.99, False), ("latency_p99_ms", 500.0, True),
     ("latency_p99_ms", 501.0, False), ("engine_texts_per_s", 100.0, None), ("speedup", None, None)],
)
def test_met(key: str, value: float | None, met: bool | None) -> None:
    assert _metric(key).met(value) is met


def test_pick_uses_aliases_and_derives_ratios() -> None:
    assert bench.pick({"engine_texts_per_s": 800, "baseline_texts_per_s": 100}, _metric("speedup")) == 8.0
    assert bench.pick({"speedup": 5}, _metric("speedup")) == 5.0
    assert bench.pick({"e2e_items_per_s": 90, "engine_items_per_s": 100}, _metric("ratio")) == pytest.approx(0.9)
    assert bench.pick({"p99_ms": 120}, _metric("latency_p99_ms")) == 120.0
    assert bench.pick({"speedup": True}, _metric("speedup")) is None
    assert bench.pick({}, _metric("ratio")) is None


def test_as_mapping_accepts_dataclasses_and_objects() -> None:
    from dataclasses import dataclass

    @dataclass
    class R:
        speedup: float

    assert bench.as_mapping(R(4.5)) == {"speedup": 4.5}
    assert bench.as_mapping({"a": 1}) == {"a": 1}


def test_rows_report_status_for_missing_sections_and_figures() -> None:
    sections = {
        "model": {"status": "ok", "result": {"engine_texts_per_s": 500.0, "baseline_texts_per_s": 100.0}},
        "e2e": {"status": bench.NOT_AVAILABLE, "reason": "no module"},
    }
    rows = {r["metric"]: r for r in bench.rows(sections)}
    assert rows["speedup"]["value"] == 5.0 and rows["speedup"]["met"] is True
    assert rows["int8_accuracy_drop"]["value"] is None and rows["int8_accuracy_drop"]["status"] == "missing"
    assert rows["ratio"]["status"] == bench.NOT_AVAILABLE and rows["ratio"]["met"] is None
    assert rows["rss_peak_mb"]["status"] == "skipped"
    table = bench.render_table(list(rows.values()))
    assert bench._number(1_000_000.0) == "1,000,000" and bench._number(0.956) == "0.956"
    assert "5 x" in table and ">= 4 x" in table and "met" in table and bench.NOT_AVAILABLE in table


def _ok_section() -> dict[str, float]:
    return {"rss_peak_mb": 700.0, "first_item_s": 1.5}


def _broken_section() -> dict[str, float]:
    raise RuntimeError("boom")


def test_section_result_turns_outcomes_into_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(bench.SECTIONS, "ok", (__name__, "_ok_section", "ok"))
    monkeypatch.setitem(bench.SECTIONS, "broken", (__name__, "_broken_section", "broken"))
    monkeypatch.setitem(bench.SECTIONS, "absent", ("no_such_module.bench", "run", "absent"))
    assert bench._section_result("ok")["result"] == {"rss_peak_mb": 700.0, "first_item_s": 1.5}
    broken = bench._section_result("broken")
    assert broken["status"] == "error" and "boom" in broken["reason"]
    assert bench._section_result("absent")["status"] == bench.NOT_AVAILABLE


def test_run_section_in_a_child_process_reports_unknown_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    """The child entry point prints one JSON outcome; a bad section name is an error, not a crash."""
    out = subprocess.run([sys.executable, "-m", "bench.run", "nope"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode != 0 and "usage" in out.stderr
    outcome = bench.run_section("consumer", timeout_s=0.01)  # far too short: reported, not raised
    assert outcome["status"] == "error" and "timed out" in outcome["reason"]


def test_bench_command_prints_one_table_and_writes_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    canned: dict[str, dict[str, Any]] = {
        "model": {"status": "ok", "result": {"speedup": 6.1, "engine_texts_per_s": 610.0,
                                             "baseline_texts_per_s": 100.0, "int8_accuracy_drop": 0.2}},
        "e2e": {"status": bench.NOT_AVAILABLE, "reason": "bench.e2e.run_e2e_bench: no module"},
        "consumer": {"status": "ok", "result": _ok_section()},
    }
    calls: list[str] = []
    monkeypatch.setattr(bench, "run_section", lambda name, timeout_s: calls.append(name) or canned[name])
    out = tmp_path / "bench" / "results.json"
    result = CliRunner().invoke(app, ["--only", "model", "--only", "e2e", "--only", "consumer",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert calls == ["model", "e2e", "consumer"]
    assert "MISSED" in result.output  # RSS 700 MB vs <= 600 MB
    assert "e2e: not available" in result.output
    report = json.loads(out.read_text())
    assert set(report["sections"]) == {"model", "e2e", "consumer"}
    rows = {r["metric"]: r for r in report["rows"]}
    assert rows["speedup"]["met"] is True and rows["rss_peak_mb"]["met"] is False
    assert "render_p95_s" not in rows  # sections not run are left out of the table
    assert "page render" not in result.output
    assert report["machine"]["cpus"] == os.cpu_count()
    assert {"loadavg_1m_start", "loadavg_1m_end"} <= set(report["machine"]) and "loadavg_1m" not in report["machine"]


def test_bench_command_rejects_unknown_sections() -> None:
    result = CliRunner().invoke(app, ["--only", "nope"])
    assert result.exit_code != 0


def test_proc_sampling_sees_children() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; x = bytearray(30 * 2**20); time.sleep(30)"])
    try:
        deadline = time.monotonic() + 10
        while rss_bytes(child.pid) < 30 * 2**20 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert child.pid in descendants(os.getpid())
        assert rss_bytes(child.pid) >= 30 * 2**20
        assert tree_rss_bytes(os.getpid()) > rss_bytes(os.getpid())
    finally:
        child.kill()
        child.wait()
    assert rss_bytes(child.pid) == 0


def test_bench_texts_are_real_headlines() -> None:
    texts = load_texts(50)
    assert len(texts) == 50 and all(t.strip() for t in texts)
    assert len(set(texts)) > 10


def test_stored_items_reads_sqlite_stores(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "s.db"
    assert stored_items(db) == 0
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE other (x)")
    assert stored_items(db) == 0  # no items table yet
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE items (id TEXT)")
        conn.executemany("INSERT INTO items VALUES (?)", [("a",), ("b",)])
    assert stored_items(db) == 2


def _model_available() -> bool:
    from model.engine import SHIPPED_DIR

    return bool(os.environ.get("FINSENTRY_MODEL_PATH")) or (SHIPPED_DIR / "card.json").is_file()


@pytest.mark.slow
@pytest.mark.skipif(not _model_available(), reason="no shipped model yet (model/shipped) and no FINSENTRY_MODEL_PATH")
def test_consumer_measurement_end_to_end(tmp_path: Path) -> None:
    """A real `finsentry run` on a real Tansu broker: every item stored, RSS sampled, clean SIGTERM exit."""
    from bench.consumer import measure_service, tansu_broker

    texts = load_texts(120)
    with tansu_broker(tmp_path / "broker.log") as bootstrap:
        fig = measure_service(bootstrap, tmp_path, "t", texts[:5], texts[5:], partitions=2, timeout_s=120)
    assert fig["stored"] == fig["items"] == 120
    assert 0 < fig["first_item_s"] < 120
    assert fig["rss_peak_mb"] >= fig["rss_steady_mb"] > 50
    assert fig["exit_code"] == 0, (tmp_path / "t.log").read_text()[-2000:]
    assert fig["startup_timeline_s"], "the service logged no JSON events"
