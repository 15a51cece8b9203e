"""A company outside the ticker dictionary: its surge of negative headlines alerts on its entity key,
through the real service and SQLite store, with its name, its story and evidence about it only."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry

from finsentry.metrics import Metrics
from finsentry.records import AlertEvent, ScoredItem
from finsentry.settings import Settings
from monitor.alerting import Notifier, NotifierConfig
from monitor.alerting.payload import alert_annotations
from monitor.service import MonitorConfig, MonitorService
from store import Store
from tests.monitor.synthetic import T0

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa".split()


def _item(i: int, minutes: float, text: str, label: str) -> ScoredItem:
    ts = T0 + timedelta(minutes=minutes)
    score = {"negative": -0.8, "neutral": 0.0, "positive": 0.7}[label]
    return ScoredItem(
        id=f"e{i}", text=text, published_at=ts, ingested_at=ts, source="wire", label=label,  # type: ignore[arg-type]
        p_negative=0.9 if label == "negative" else 0.05, p_neutral=0.05, p_positive=0.05, score=score,
        topics=[("Company | Product News", 0.9)],
    )


def _calm(i: int) -> str:
    # Distinct texts (identical ones would be syndicated copies), no organisation names.
    return f"markets note {WORDS[i % 16]} {WORDS[(i // 16) % 16]} {WORDS[(i // 256) % 16]} figures"


def test_a_quiet_outside_company_surges_and_alerts_on_its_entity_key(tmp_path: Path) -> None:
    settings = Settings(store_url=f"sqlite:///{tmp_path / 'e.db'}")  # type: ignore[call-arg]
    store = Store(settings.store_url)
    events: list[AlertEvent] = []
    metrics = Metrics(CollectorRegistry())
    notifier = Notifier(NotifierConfig(), store, metrics)
    monitor = MonitorService(MonitorConfig.from_settings(settings), store, metrics, notifier, on_event=events.append)
    items: list[ScoredItem] = []
    n = 0
    for h in range(36):  # a day and a half of calm news, 10 an hour, 20 % negative
        for j in range(10):
            items.append(_item(n, h * 60 + j * 6, _calm(n), "negative" if j < 2 else "neutral"))
            n += 1
    surge = [
        "Quorvex Capital halts withdrawals as losses mount",
        "Quorvex Capital investors rush for the exits after halt",
        "Regulators probe Quorvex Capital over withdrawal halt",
        "Quorvex Capital founder apologises as withdrawals stay halted",
        "Quorvex Capital creditors demand answers on losses",
        "Quorvex Capital misses payment to lenders",
    ]
    for k, text in enumerate(surge):  # six negatives about it in three hours
        items.append(_item(n, 36 * 60 + k * 30, text, "negative"))
        n += 1
    items.append(_item(n, 40 * 60, _calm(n), "neutral"))  # moves event time past the surge
    items.sort(key=lambda it: it.published_at)
    try:
        for start in range(0, len(items), 50):
            batch = items[start : start + 50]
            monitor.enrich(batch)
            new = store.write_batch(batch, monitor.in_transaction)
            if new:
                monitor.after_write(new)
    finally:
        monitor.close()
        store.close()
    fired = [e for e in events if e.status == "firing" and e.key_type == "entity"]
    assert [e.key for e in fired] == ["Quorvex Capital"]
    alert = fired[0]
    assert T0 + timedelta(hours=36) <= alert.started_at <= T0 + timedelta(hours=39)
    assert alert.entity == "Quorvex Capital"
    assert alert.evidence and all("Quorvex Capital" in e.text for e in alert.evidence)
    assert alert.story_size >= 3 and "Quorvex Capital" in alert.story
    notes = alert_annotations(alert)
    assert notes["entity"] == "Quorvex Capital" and int(notes["story_headlines"]) == alert.story_size
    earlier = [e for e in events if e.status == "firing" and e.key_type != "entity" and e.started_at < alert.started_at]
    assert not earlier
