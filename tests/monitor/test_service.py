"""MonitorService against the real store (SQLite and PostgreSQL) and the real Notifier.

A synthetic stream goes through ``Store.write_batch(items, monitor.in_transaction)`` and
``monitor.after_write`` exactly as the ingest loop drives it.
"""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import CollectorRegistry
from sqlalchemy import select

from finsentry.metrics import Metrics
from finsentry.records import ScoredItem
from finsentry.settings import Settings
from monitor import rollup
from monitor.service import MonitorService
from store import Store
from store.schema import alerts
from store.schema import items as items_table
from tests.monitor.synthetic import T0, item, stream

ONSET = 150  # minutes of calm history before the burst


def small_settings(url: str, **kw: object) -> Settings:
    """Baseline over 10-minute blocks so a 2.5-hour history is enough (keeps the test short)."""
    base: dict[str, object] = dict(
        store_url=url,
        detector_block_s=600,
        detector_min_blocks=6,
        detector_baseline_s=2 * 3600,
        detector_window_max_s=3600,
        ticker_watchlist=["JPM"],
        ticker_top_k=1,
        source_top_k=2,
    )
    base.update(kw)
    return Settings(**base)  # type: ignore[arg-type]


def burst(m: int) -> float | None:
    return 0.8 if m >= ONSET else None


def feed(store: Store, monitor: MonitorService, batch: list[ScoredItem]) -> list[ScoredItem]:
    new = store.write_batch(batch, monitor.in_transaction)
    if new:
        monitor.after_write(new)
    return new


def by_minute(items: list[ScoredItem]) -> list[list[ScoredItem]]:
    out: dict[int, list[ScoredItem]] = {}
    for it in sorted(items, key=lambda i: (i.published_at, i.id)):
        out.setdefault(int((it.published_at - T0).total_seconds() // 60), []).append(it)
    return [out[k] for k in sorted(out)]


def make(url: str, registry: CollectorRegistry | None = None, **kw: object) -> tuple[Store, MonitorService, Metrics]:
    store = Store(url)
    metrics = Metrics(registry or CollectorRegistry())
    return store, MonitorService(small_settings(url, **kw), store, metrics), metrics


def test_spike_alert_recorded_with_evidence_gauges_and_bounded_labels(store_url: str) -> None:
    store, monitor, metrics = make(store_url)
    for batch in by_minute(stream(ONSET + 6, per_minute=12, shape=burst, seed=21)):
        feed(store, monitor, batch)
    firing = [e for e in monitor.events if e.status == "firing" and e.key_type == "all"]
    assert firing, "the burst was not detected"
    onset = T0 + timedelta(minutes=ONSET)
    assert onset <= firing[0].started_at <= onset + timedelta(minutes=2)
    assert firing[0].alert_id == f"all:*:{firing[0].started_at.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    ev = firing[0]
    assert ev.figures["negative_share"] > ev.figures["baseline_negative_share"] + 0.3
    assert ev.figures["z"] >= 4.5 and len(ev.evidence) == 5
    assert all(e.score < 0 and e.text.startswith("headline") for e in ev.evidence)
    with store.engine.connect() as conn:
        row = conn.execute(select(alerts).where(alerts.c.id == ev.alert_id)).one()
    assert row.status == "firing" and len(row.evidence) == 5 and row.figures["z"] >= ev.figures["z"]  # may escalate
    r = metrics.registry
    active = {
        sev: r.get_sample_value("finsentry_spike_active", {"key_type": "all", "key": "*", "severity": sev})
        for sev in ("warning", "critical")
    }
    assert sorted(active.values()) == [0.0, 1.0]  # one severity at a time (escalation moves it)
    assert r.get_sample_value("finsentry_spike_score", {"key_type": "all", "key": "*"}) >= 4.5
    assert 0.05 < r.get_sample_value("finsentry_baseline_negative_share_ratio", {"key_type": "all", "key": "*"}) < 0.25
    ticker_labels = {s.labels["key"] for s in r.collect() for s in s.samples if s.labels.get("key_type") == "ticker"}
    source_labels = {s.labels["key"] for s in r.collect() for s in s.samples if s.labels.get("key_type") == "source"}
    assert "JPM" in ticker_labels and len(ticker_labels) <= 2  # watchlist + top-1
    assert 1 <= len(source_labels) <= 2
    store.close()


def test_restart_keeps_the_baseline_and_detects_like_an_uninterrupted_run(sqlite_url: str, tmp_path) -> None:
    batches = by_minute(stream(ONSET + 6, per_minute=12, shape=burst, seed=22))
    store, monitor, _ = make(sqlite_url)
    for b in batches[: ONSET - 5]:
        feed(store, monitor, b)
    store.close()
    store, monitor, _ = make(sqlite_url)  # a fresh process on the same store
    for b in batches[ONSET - 5 :]:
        feed(store, monitor, b)
    restarted = [e.alert_id for e in monitor.events if e.status == "firing"]
    store.close()

    other = f"sqlite:///{tmp_path / 'uninterrupted.db'}"
    store2, straight, _ = make(other)
    for b in batches:
        feed(store2, straight, b)
    store2.close()
    uninterrupted = [e.alert_id for e in straight.events if e.status == "firing"]
    assert restarted and restarted == uninterrupted


def test_syndicated_copies_are_linked_and_counted_once(store_url: str) -> None:
    store, monitor, _ = make(store_url)
    text = "Regional lender halts withdrawals as deposits flee - Reuters"
    first = item(1, T0, "negative", "Banks", "wire-a", ["JPM"])
    copies = [item(i, T0 + timedelta(minutes=i), "negative", "Banks", f"outlet-{i}", ["JPM"]) for i in (2, 3)]
    for it in [first, *copies]:
        it.text = text
    monitor.enrich([first, *copies])
    assert first.story_hash and first.story_hash == copies[0].story_hash
    feed(store, monitor, [copies[0], first])  # out of order inside one batch
    feed(store, monitor, [copies[1]])
    redelivered = item(3, T0 + timedelta(minutes=3), "negative", "Banks", "outlet-3", ["JPM"])
    assert feed(store, monitor, [redelivered]) == []  # already stored: adds nothing
    with store.engine.connect() as conn:
        links = dict(conn.execute(select(items_table.c.id, items_table.c.duplicate_of)).all())
        series = rollup.read_series(conn, ("all", "*"), T0, T0 + timedelta(hours=1))
    assert links == {"s1": None, "s2": "s1", "s3": "s1"}
    total = rollup.sum_counts(series)
    assert (total.n_negative, total.n_duplicates) == (1, 2)
    store.close()


def test_late_items_are_counted_not_applied_and_instances_add_up(sqlite_url: str) -> None:
    registry = CollectorRegistry()
    store, a, metrics = make(sqlite_url, registry=registry, allowed_lateness_s=600)
    b = MonitorService(small_settings(sqlite_url, allowed_lateness_s=600), store, Metrics(CollectorRegistry()))
    feed(store, a, [item(1, T0 + timedelta(hours=1), "negative", "Banks", "w", [])])
    feed(store, b, [item(2, T0 + timedelta(hours=1, minutes=1), "positive", "Tech", "w", [])])
    feed(store, a, [item(3, T0, "negative", "Banks", "w", []), item(4, T0 + timedelta(minutes=55), "neutral", "Banks", "w", [])])
    assert registry.get_sample_value("finsentry_late_items_total") == 1
    with store.engine.connect() as conn:
        total = rollup.sum_counts(rollup.read_series(conn, ("all", "*"), T0, T0 + timedelta(hours=2)))
        index = rollup.read_index(conn, ("topic", "Banks"), T0 + timedelta(hours=1, minutes=2), (300, 3600))
    assert (total.n_negative, total.n_neutral, total.n_positive) == (1, 1, 1)  # item 3 was late
    assert index[3600].n == 2 and index[300].n == 1 and index[300].negative_share == 1.0
    store.close()


def test_store_outage_after_the_write_delays_but_does_not_lose_the_alert(sqlite_url: str, tmp_path) -> None:
    from types import SimpleNamespace

    from sqlalchemy import create_engine

    batches = by_minute(stream(ONSET + 8, per_minute=12, shape=burst, seed=23))
    store, monitor, _ = make(sqlite_url)
    for b in batches[: ONSET + 1]:
        feed(store, monitor, b)
    broken = SimpleNamespace(engine=create_engine(f"sqlite:///{tmp_path / 'missing' / 'x.db'}"))
    monitor.store = broken  # type: ignore[assignment]  # reads after the write now fail
    for b in batches[ONSET + 1 : ONSET + 4]:
        assert store.write_batch(b, monitor.in_transaction)
        monitor.after_write(b)  # must not raise
    assert not [e for e in monitor.events if e.key_type == "all"]
    monitor.store = store
    for b in batches[ONSET + 4 :]:
        feed(store, monitor, b)
    firing = [e for e in monitor.events if e.status == "firing" and e.key_type == "all"]
    assert firing and firing[0].started_at <= T0 + timedelta(minutes=ONSET + 2)
    with store.engine.connect() as conn:
        assert conn.execute(select(alerts.c.id).where(alerts.c.id == firing[0].alert_id)).first()
    store.close()


def test_a_future_dated_item_cannot_close_every_bucket(sqlite_url: str) -> None:
    store, monitor, metrics = make(sqlite_url)
    now = T0 + timedelta(hours=1)
    typo = item(1, now + timedelta(days=365), "negative", "Banks", "w", [])  # a year ahead: a bad timestamp
    typo.ingested_at = now
    feed(store, monitor, [typo])
    assert monitor.watermark.value <= now + timedelta(minutes=5)
    on_time = item(2, now - timedelta(minutes=30), "neutral", "Banks", "w", [])
    feed(store, monitor, [on_time])  # still inside the allowed lateness: applied, not late
    assert metrics.registry.get_sample_value("finsentry_late_items_total") == 0
    with store.engine.connect() as conn:
        assert rollup.read_series(conn, ("all", "*"), T0, now)[0][1].n_neutral == 1
    store.close()
