"""The dashboard reads what the real service writes: Store + MonitorService in, page out.

A synthetic stream (calm, then a negative burst) goes through ``Store.write_batch(batch,
monitor.in_transaction)`` and ``monitor.after_write`` as the ingest loop drives them; the page
must show the real detector's alert with its figures and evidence, and totals equal the items.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import create_engine
from streamlit.testing.v1 import AppTest

from finsentry.metrics import Metrics
from finsentry.records import ScoredItem
from finsentry.settings import Settings
from monitor.alerting import Notifier
from monitor.service import MonitorConfig, MonitorService
from store import Store
from store import reads as q
from tests.dashboard.conftest import APP

T0 = datetime(2023, 3, 10, 9, 0, tzinfo=UTC)
ONSET, MINUTES, PER_MIN = 150, 158, 12


def _item(i: int, ts: datetime, label: str | None, rnd: random.Random) -> ScoredItem:
    score = {"negative": -0.8, "neutral": 0.0, "positive": 0.7, None: None}[label]
    topic = rnd.choice(["Financials", "Macro", "Earnings"])
    return ScoredItem(
        id=f"svc{i}", text=f"Regional lender headline {i} ({label or 'pl'})", published_at=ts, ingested_at=ts,
        source=rnd.choice(["Reuters", "CNBC"]), lang="en" if label else "pl", label=label,  # type: ignore[arg-type]
        p_negative=None if label is None else (0.9 if label == "negative" else 0.05),
        p_neutral=None if label is None else 0.05,
        p_positive=None if label is None else (0.9 if label == "positive" else 0.05),
        score=score, topics=[(topic, 0.9)] if label else [], tickers=["JPM"] if rnd.random() < 0.3 else [],
        model_version="test-model" if label else None,
    )


def _batches() -> list[list[ScoredItem]]:
    rnd = random.Random(5)
    out, n = [], 0
    for m in range(MINUTES):
        p_neg = 0.8 if m >= ONSET else 0.15
        batch = []
        for _ in range(PER_MIN):
            ts = T0 + timedelta(minutes=m, seconds=rnd.uniform(0, 59.9))
            r = rnd.random()
            label = "negative" if r < p_neg else ("positive" if r < p_neg + (1 - p_neg) * 0.35 else "neutral")
            batch.append(_item(n, ts, label, rnd))
            n += 1
        if m % 30 == 0:
            batch.append(_item(n, T0 + timedelta(minutes=m, seconds=30), None, rnd))  # no model for Polish
            n += 1
        out.append(sorted(batch, key=lambda it: it.published_at))
    return out


@pytest.fixture(scope="module")
def service_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('svc') / 'service.db'}"
    settings = Settings(store_url=url, detector_block_s=600, detector_min_blocks=6,  # type: ignore[call-arg]
                        detector_baseline_s=2 * 3600, detector_window_max_s=3600)
    store = Store(url)
    metrics = Metrics(CollectorRegistry())
    monitor = MonitorService(MonitorConfig.from_settings(settings), store, metrics,
                             Notifier.from_settings(settings, store, metrics))
    for batch in _batches():
        new = store.write_batch(batch, monitor.in_transaction)
        if new:
            monitor.after_write(new)
    store.upsert_health("finsentry-test@host", consumed=1905, processed=1901, dead_lettered=4, lag=0,
                        items_per_s=31.5, model_version="test-model", provider="CPUExecutionProvider")
    monitor.close()
    store.close()
    return url


def test_queries_read_the_service_rollups_and_alerts(service_store: str) -> None:
    engine = create_engine(service_store)
    first, last = q.data_span(engine)
    assert first == T0 and last > T0 + timedelta(minutes=MINUTES - 1)
    tot = q.totals(engine, first, last)
    assert tot["n"] == MINUTES * PER_MIN  # every scored item once; the Polish ones stay out
    assert q.unscored_count(engine, first, last) == len(range(0, MINUTES, 30))
    active = q.active_alerts(engine)
    whole = active[active["key_type"] == "all"]
    assert len(whole) == 1, active[["id", "key_type", "key"]]
    a = whole.iloc[0]
    assert T0 + timedelta(minutes=ONSET) <= a["started_at"] <= T0 + timedelta(minutes=ONSET + 2)
    # the detector's own figure names are understood
    assert a["share"] > a["baseline"] + 0.3 and a["statistic"] > 3 and a["window_n"] >= 20
    ev = q.evidence_frame(a["evidence"])
    assert len(ev) > 0 and (ev["score"] < 0).all()
    engine.dispose()


def test_page_shows_the_service_alert(service_store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINSENTRY_STORE_URL", service_store)
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    boxes = [b.value for b in (*at.error, *at.warning)]
    assert any("All news" in b and "negative share" in b for b in boxes), boxes
    alerts_card = next(m for m in at.metric if m.label.startswith("Alerts · "))
    assert alerts_card.value != "0" and "firing" in alerts_card.delta and not alerts_card.delta.startswith("0 ")
    assert not [m for m in at.metric if m.label == "Statistic" and m.value == "—"]
    assert any("test-model on CPUExecutionProvider" in c.value for c in at.caption)
