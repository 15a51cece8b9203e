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

from dashboard.timerange import RANGES
from ingest.broker import free_port
from store.schema import pipeline_health
from tests.support.seed import seed_store

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SECTIONS = ("Alerts now", "Overview", "Sentiment index over time", "Negative share by topic",
            "Sharpest negative moves", "Headlines", "Alert history", "Model & pipeline health")

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


# Marks a chart has drawn, per chart (keyed by its Streamlit key): scatter points, non-empty line
# paths, bars, heatmap images. A chart whose range holds data must draw something.
_DRAWN_JS = """
() => Object.fromEntries(Array.from(document.querySelectorAll('.js-plotly-plot')).map(el => {
  const holder = el.closest('[class*="st-key-"]');
  const key = holder ? [...holder.classList].find(c => c.startsWith('st-key-')).slice(7) : '?';
  const d = p => (p.getAttribute('d') || '');
  const pts = el.querySelectorAll('.scatterlayer path.point').length;
  const lines = [...el.querySelectorAll('.scatterlayer path.js-line')].filter(p => d(p).length > 4).length;
  const bars = [...el.querySelectorAll('.barlayer path')].filter(p => d(p).length > 4 && d(p) !== 'M0,0Z').length;
  const heat = el.querySelectorAll('.heatmaplayer image, .hm image').length;
  return [key, {points: pts, lines: lines, bars: bars, heat: heat}];
}))
"""
EXPECTED_CHARTS = ("alert_timeline", "index_chart", "volume_chart", "language_chart", "topic_heatmap")


def _launch(p):
    return p.chromium.launch(
        executable_path=CHROMIUM,
        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update"],
    )


def _serve(url_store: str, refresh: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    finsentry = shutil.which("finsentry", path=str(Path(sys.executable).parent)) or "finsentry"
    proc = subprocess.Popen(
        [finsentry, "dashboard", "--port", str(port), "--store", url_store, "--refresh", str(refresh)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "FINSENTRY_LOG_FORMAT": "console"},
    )
    url = f"http://127.0.0.1:{port}"
    _wait_http(url, proc)
    return proc, url


def _stop(proc: subprocess.Popen) -> bytes:
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


def test_dashboard_in_chromium(tmp_path: Path) -> None:
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright

    # Its own store (this test writes to it), as dense as a busy day so the screenshot is telling.
    store = tmp_path / "live.db"
    url_store = f"sqlite:///{store}"
    engine = create_engine(url_store)
    seed_store(engine, n_items=30_000, span=timedelta(days=1))
    engine.dispose()
    proc, url = _serve(url_store, refresh=2)
    try:
        with sync_playwright() as p:
            browser = _launch(p)
            page = browser.new_page(viewport={"width": 1600, "height": 3500})
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_selector(".js-plotly-plot", timeout=60_000)
            page.wait_for_selector("text=Model & pipeline health", timeout=60_000)
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 6", timeout=30_000)
            page.wait_for_timeout(1500)  # let the last charts lay out
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
            text = page.inner_text("body")
            for section in SECTIONS:
                assert section in text, section
            assert "Items / min · 24 h" in text and "Alerts · 24 h" in text
            assert page.locator("[data-testid=stException]").count() == 0
            assert "2 consumer instance(s)" in text
            # clicking an alert row drills into that alert's evidence
            assert "Evidence headlines for All news" in text
            table = page.locator(".st-key-alert_table [data-testid=stDataFrame]")
            table.scroll_into_view_if_needed()
            grid = table.bounding_box()  # viewport coordinates, after the scroll
            page.mouse.click(grid["x"] + 15, grid["y"] + 35 + 35 + 17)  # row 2: the FRC episode
            page.wait_for_selector("text=Evidence headlines for ticker: FRC", timeout=30_000)
            # auto-refresh: a new consumer's health row shows up without any click
            _add_consumer(url_store)
            page.wait_for_selector("text=3 consumer instance(s)", timeout=30_000)
            assert page.locator("[data-testid=stException]").count() == 0
            browser.close()
    finally:
        out = _stop(proc)
    assert proc.returncode == 0, out.decode(errors="replace")[-2000:]
    assert b"dashboard.serving" in out


def test_every_range_button_draws_every_chart_and_alerts_are_on_the_first_screen(tmp_path: Path) -> None:
    """A sparse week (~2 items a minute): each range button's charts draw their data; a firing
    alert is visible without scrolling on a laptop-sized window."""
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    store = tmp_path / "week.db"
    url_store = f"sqlite:///{store}"
    engine = create_engine(url_store)
    seed_store(engine, n_items=20_000, span=timedelta(days=7))
    engine.dispose()
    proc, url = _serve(url_store, refresh=0)
    try:
        with sync_playwright() as p:
            browser = _launch(p)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_selector("text=Model & pipeline health", timeout=60_000)
            # first screen: the critical firing alert's card, its headline and evidence, above the fold
            card = page.locator("[data-testid=stAlert]", has_text="CRITICAL").first
            card.wait_for(timeout=30_000)
            box = card.bounding_box()
            assert box is not None and box["y"] + box["height"] <= 900, box
            assert "ticker: FRC" in card.inner_text()
            assert page.locator("text=Evidence headlines").first.bounding_box()["y"] < 900
            for choice in RANGES:
                page.locator("[data-testid=stSidebar] button", has_text=choice).first.click()
                page.wait_for_selector(f"text=steps · range {choice}", timeout=30_000)
                page.wait_for_function(
                    f"document.querySelectorAll('.js-plotly-plot').length >= {len(EXPECTED_CHARTS)}", timeout=30_000)
                page.wait_for_timeout(800)  # plotly lays out after the element appears
                drawn = page.evaluate(_DRAWN_JS)
                for key in EXPECTED_CHARTS:
                    assert key in drawn, (choice, key, sorted(drawn))
                    assert sum(drawn[key].values()) > 0, (choice, key, drawn[key])
                assert drawn["index_chart"]["points"] >= 30, (choice, drawn["index_chart"])  # a line, not a dot
                assert page.locator("[data-testid=stException]").count() == 0, choice
            browser.close()
    finally:
        out = _stop(proc)
    assert proc.returncode == 0, out.decode(errors="replace")[-2000:]
