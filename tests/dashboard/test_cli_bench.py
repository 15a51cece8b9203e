"""`finsentry dashboard` command line pieces and the render benchmark (small store)."""

from __future__ import annotations

import sys
from pathlib import Path

from typer.testing import CliRunner

from app.cli import app
from bench.dashboard import _percentile, run_render_bench
from dashboard.cli import absolute_store_url, streamlit_command


def test_dashboard_command_is_registered() -> None:
    result = CliRunner().invoke(app, ["dashboard", "--help"])
    assert result.exit_code == 0
    for flag in ("--port", "--host", "--store", "--refresh"):
        assert flag in result.output


def test_streamlit_command_is_headless_on_the_given_address() -> None:
    cmd = streamlit_command("127.0.0.1", 8765)
    assert cmd[:4] == [sys.executable, "-m", "streamlit", "run"] and cmd[4].endswith("dashboard/app.py")
    assert "--server.address=127.0.0.1" in cmd and "--server.port=8765" in cmd
    assert "--server.headless=true" in cmd and "--browser.gatherUsageStats=false" in cmd


def test_relative_sqlite_urls_become_absolute(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert absolute_store_url("sqlite:///var/x.db") == f"sqlite:///{tmp_path}/var/x.db"
    assert absolute_store_url("sqlite:////abs/x.db") == "sqlite:////abs/x.db"
    pg = "postgresql+psycopg://u:secret@db:5432/fin"
    assert absolute_store_url(pg) == pg


def test_percentile() -> None:
    assert _percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.5) == 3.0
    assert _percentile([1.0, 2.0], 0.95) == 1.95


def test_render_bench_on_a_small_store(tmp_path: Path) -> None:
    out = run_render_bench(n_items=3000, runs=3, directory=str(tmp_path), warm_runs=1)
    assert out["n_items"] == 3000 and out["runs"] == 3 and out["charts"] >= 5  # + one per alert card
    assert 0 < out["render_p50_s"] <= out["render_p95_s"] <= out["render_max_s"]
    assert Path(out["store"]).exists()
    again = run_render_bench(n_items=3000, runs=1, directory=str(tmp_path), warm_runs=0)
    assert again["store"] == out["store"] and again["store_ready_s"] < 1  # cached store reused
