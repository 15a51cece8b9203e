"""Real browser: `finsentry dashboard` served on loopback, opened in headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert

from ingest.broker import free_port
from store.schema import pipeline_health
from tests.support.seed import seed_store

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SECTIONS = ("Overview", "Sentiment index over time", "Negative share by topic", "Sharpest negative moves",
            "Headlines", "Alerts", "Model & pipeline health")

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed (make sysdeps)")


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"dashboard exited early with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError("dashboard did not become healthy")


def _add_consumer(url: str) -> None:
    """What a newly started consumer instance does: write its first health row."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(pipeline_health).values(
            instance="finsentry-new@host-9", updated_at=datetime(2023, 3, 13, 16, tzinfo=UTC),
            consumed=10, processed=10, dead_lettered=0, lag=0, items_per_s=1.0,
            model_version="m", provider="CPUExecutionProvider",
        ))
    engine.dispose()


def test_dashboard_in_chromium(tmp_path: Path) -> None:
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright

    # Its own store (this test writes to it), as dense as a busy day so the screenshot is telling.
    store = tmp_path / "live.db"
    url_store = f"sqlite:///{store}"
    engine = create_engine(url_store)
    seed_store(engine, n_items=30_000, span=timedelta(days=1))
    engine.dispose()
    port = free_port()
    finsentry = shutil.which("finsentry", path=str(Path(sys.executable).parent)) or "finsentry"
    proc = subprocess.Popen(
        [finsentry, "dashboard", "--port", str(port), "--store", url_store, "--refresh", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "FINSENTRY_LOG_FORMAT": "console"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url, proc)
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update"],
            )
            page = browser.new_page(viewport={"width": 1600, "height": 3500})
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_selector(".js-plotly-plot", timeout=60_000)
            page.wait_for_selector("text=Model & pipeline health", timeout=60_000)
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 3", timeout=30_000)
            page.wait_for_timeout(1500)  # let the last charts lay out
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
            text = page.inner_text("body")
            for section in SECTIONS:
                assert section in text, section
            assert "Items / min" in text and "Active alerts" in text
            assert page.locator("[data-testid=stException]").count() == 0
            assert page.locator(".js-plotly-plot").count() >= 3
            assert "2 consumer instance(s)" in text
            # clicking an alert row drills into that alert's evidence
            assert "Evidence headlines for All news" in text
            grid = page.locator(".st-key-alert_table [data-testid=stDataFrame]").bounding_box()
            page.mouse.click(grid["x"] + 15, grid["y"] + 35 + 35 + 17)  # row 2: the FRC episode
            page.wait_for_selector("text=Evidence headlines for ticker: FRC", timeout=30_000)
            # auto-refresh: a new consumer's health row shows up without any click
            _add_consumer(url_store)
            page.wait_for_selector("text=3 consumer instance(s)", timeout=30_000)
            assert page.locator("[data-testid=stException]").count() == 0
            browser.close()
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert proc.returncode == 0, out.decode(errors="replace")[-2000:]
    assert b"dashboard.serving" in out
