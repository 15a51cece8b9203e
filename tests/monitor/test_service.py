"""MonitorService against the real store (SQLite and PostgreSQL), its in-memory twin and the
real Notifier.

A synthetic stream goes through ``store.write_batch(items, monitor.in_transaction)`` and
``monitor.after_write`` exactly as the ingest loop drives it. ``any_store`` runs a test on the
memory store as well; the twin tests at the end compare the memory store with SQLite.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry

from finsentry.metrics import Metrics
from finsentry.records import ALL, AlertEvent, ScoredItem
from finsentry.settings import Settings
from monitor.alerting import Notifier
from monitor.service import MonitorConfig, MonitorService
from store import Store
from store.protocol import MonitorStore
from tests.monitor.synthetic import T0, item, stream
from tests.support.buckets import sum_counts
from tests.support.memory_store import MemoryStore
from tests.support.windows import sentiment_index

ONSET = 150  # minutes of calm history before the burst

StoreFactory = Callable[[], MonitorStore]


def small_settings(url: str = "sqlite:///unused.db", **kw: object) -> Settings:
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


def feed(store: MonitorStore, monitor: MonitorService, batch: list[ScoredItem]) -> list[ScoredItem]:
    new = store.write_batch(batch, monitor.in_transaction)
    if new:
        monitor.after_write(new)
    return new


def by_minute(items: list[ScoredItem]) -> list[list[ScoredItem]]:
    out: dict[int, list[ScoredItem]] = {}
    for it in sorted(items, key=lambda i: (i.published_at, i.id)):
        out.setdefault(int((it.published_at - T0).total_seconds() // 60), []).append(it)
    return [out[k] for k in sorted(out)]


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def make_store(request: pytest.FixtureRequest) -> StoreFactory:
    """A factory of stores over one backing database (a second call = a restarted process)."""
    if request.param == "memory":
        shared = MemoryStore()
        return lambda: shared
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    return lambda: Store(url)


@pytest.fixture
def any_store(make_store: StoreFactory) -> MonitorStore:
    return make_store()


class Recording(MonitorService):
    """The service as the composition root builds it, keeping every alert event it emits."""

    def __init__(self, settings: Settings, store: MonitorStore, metrics: Metrics) -> None:
        self.events: list[AlertEvent] = []
        super().__init__(MonitorConfig.from_settings(settings), store, metrics,
                         Notifier.from_settings(settings, store, metrics), on_event=self.events.append)


def make(
    store: MonitorStore, registry: CollectorRegistry | None = None, **kw: object
) -> tuple[MonitorService, Metrics]:
    metrics = Metrics(registry or CollectorRegistry())
    return Recording(small_settings(**kw), store, metrics), metrics


def close(store: MonitorStore) -> None:
    if isinstance(store, Store):
        store.close()


def test_spike_alert_recorded_with_evidence_gauges_and_bounded_labels(make_store: StoreFactory) -> None:
    store = make_store()
    monitor, metrics = make(store)
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
    episodes = {e.key: e for e in store.firing_episodes()}
    assert episodes[ALL].started_at == ev.started_at  # recorded, still firing (may have escalated)
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
    close(store)


def test_restart_keeps_the_baseline_and_detects_like_an_uninterrupted_run(make_store: StoreFactory) -> None:
    batches = by_minute(stream(ONSET + 6, per_minute=12, shape=burst, seed=22))
    store = make_store()
    monitor, _ = make(store)
    for b in batches[: ONSET - 5]:
        feed(store, monitor, b)
    close(store)
    store = make_store()  # a fresh process on the same store
    monitor, _ = make(store)
    for b in batches[ONSET - 5 :]:
        feed(store, monitor, b)
    restarted = [e.alert_id for e in monitor.events if e.status == "firing"]
    close(store)

    other = MemoryStore()
    straight, _ = make(other)
    for b in batches:
        feed(other, straight, b)
    uninterrupted = [e.alert_id for e in straight.events if e.status == "firing"]
    assert restarted and restarted == uninterrupted


def test_syndicated_copies_are_linked_and_counted_once(any_store: MonitorStore) -> None:
    store = any_store
    monitor, _ = make(store)
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
    assert [it.duplicate_of for it in (first, *copies)] == [None, "s1", "s1"]
    with store.transaction() as txn:  # the stored links: only the first copy is a first copy
        assert txn.first_copies([first.story_hash], T0, T0 + timedelta(hours=1)) == {first.story_hash: [(T0, "s1")]}
        evidence = txn.evidence(ALL, T0, T0 + timedelta(hours=1), 5)
    assert [e.id for e in evidence] == ["s1"]
    total = sum_counts(store.read_series(ALL, T0, T0 + timedelta(hours=1)))
    assert (total.n_negative, total.n_duplicates) == (1, 2)
    close(store)


def test_late_items_are_counted_not_applied_and_instances_add_up(any_store: MonitorStore) -> None:
    store = any_store
    registry = CollectorRegistry()
    a, _ = make(store, registry=registry, allowed_lateness_s=600)
    b, _ = make(store, allowed_lateness_s=600)
    feed(store, a, [item(1, T0 + timedelta(hours=1), "negative", "Banks", "w", [])])
    feed(store, b, [item(2, T0 + timedelta(hours=1, minutes=1), "positive", "Tech", "w", [])])
    late = item(3, T0, "negative", "Banks", "w", [])
    on_time = item(4, T0 + timedelta(minutes=55), "neutral", "Banks", "w", [])
    feed(store, a, [late, on_time])
    assert registry.get_sample_value("finsentry_late_items_total") == 1
    total = sum_counts(store.read_series(ALL, T0, T0 + timedelta(hours=2)))
    end = T0 + timedelta(hours=1, minutes=2)
    index = sentiment_index(store.read_series(("topic", "Banks"), end - timedelta(hours=1), end), end, (300, 3600))
    assert (total.n_negative, total.n_neutral, total.n_positive) == (1, 1, 1)  # item 3 was late
    assert index[3600].n == 2 and index[300].n == 1 and index[300].negative_share == 1.0
    close(store)


class _Down:
    """Every read of the monitor fails like an unreachable store (writes go to the real one)."""

    def __getattr__(self, name: str) -> object:
        from finsentry.errors import StoreUnavailable

        def fail(*_a: object, **_k: object) -> object:
            raise StoreUnavailable(f"{name}: store unreachable")

        return fail


def test_store_outage_after_the_write_delays_but_does_not_lose_the_alert(any_store: MonitorStore) -> None:
    store = any_store
    batches = by_minute(stream(ONSET + 8, per_minute=12, shape=burst, seed=23))
    monitor, _ = make(store)
    for b in batches[: ONSET + 1]:
        feed(store, monitor, b)
    monitor.store = _Down()  # type: ignore[assignment]  # reads after the write now fail
    for b in batches[ONSET + 1 : ONSET + 4]:
        assert store.write_batch(b, monitor.in_transaction)
        monitor.after_write(b)  # must not raise
    assert not [e for e in monitor.events if e.key_type == "all"]
    monitor.store = store
    for b in batches[ONSET + 4 :]:
        feed(store, monitor, b)
    firing = [e for e in monitor.events if e.status == "firing" and e.key_type == "all"]
    assert firing and firing[0].started_at <= T0 + timedelta(minutes=ONSET + 2)
    assert firing[0].started_at in {e.started_at for e in store.firing_episodes() if e.key == ALL}
    close(store)


def test_a_future_dated_item_cannot_close_every_bucket(any_store: MonitorStore) -> None:
    store = any_store
    monitor, metrics = make(store)
    now = T0 + timedelta(hours=1)
    typo = item(1, now + timedelta(days=365), "negative", "Banks", "w", [])  # a year ahead: a bad timestamp
    typo.ingested_at = now
    feed(store, monitor, [typo])
    assert monitor.watermark.value <= now + timedelta(minutes=5)
    on_time = item(2, now - timedelta(minutes=30), "neutral", "Banks", "w", [])
    feed(store, monitor, [on_time])  # still inside the allowed lateness: applied, not late
    assert metrics.registry.get_sample_value("finsentry_late_items_total") == 0
    assert store.read_series(ALL, T0, now)[0][1].n_neutral == 1
    close(store)


# --- the memory store is a faithful twin ------------------------------------------------------


def _run(store: MonitorStore, batches: list[list[ScoredItem]]) -> MonitorService:
    monitor, _ = make(store)
    for b in batches:
        feed(store, monitor, b)
    return monitor


def test_memory_and_sqlite_stores_give_the_same_alerts_and_buckets(sqlite_url: str) -> None:
    batches = by_minute(stream(ONSET + 8, per_minute=12, shape=burst, seed=24))
    sql, mem = Store(sqlite_url), MemoryStore()
    on_sql = _run(sql, batches)
    batches = by_minute(stream(ONSET + 8, per_minute=12, shape=burst, seed=24))  # fresh objects
    on_mem = _run(mem, batches)
    assert on_sql.events and on_sql.events == on_mem.events  # ids, figures, evidence, order
    end = T0 + timedelta(minutes=ONSET + 8)
    keys = [ALL, ("topic", "Banks"), ("ticker", "JPM"), ("source", "wire-a")]
    assert sql.read_series_many(keys, T0, end) == mem.read_series_many(keys, T0, end)
    assert sql.top_keys("ticker", T0, end, 3) == mem.top_keys("ticker", T0, end, 3)
    assert sql.latest_bucket_start() == mem.latest_bucket_start()
    assert sorted(sql.firing_episodes(), key=str) == sorted(mem.firing_episodes(), key=str)
    sql.close()


def test_memory_and_sqlite_stores_link_the_same_copies(sqlite_url: str) -> None:
    def run(store: MonitorStore) -> list[str | None]:
        monitor, _ = make(store)
        texts = ["Bank run fears spread", "Bank run fears spread", "Other story", "Bank run fears spread"]
        batch = [item(i, T0 + timedelta(minutes=i), "negative", "Banks", f"o{i}", []) for i in range(4)]
        for it, text in zip(batch, texts, strict=True):
            it.text = text
        monitor.enrich(batch)
        feed(store, monitor, [batch[1], batch[0]])  # out of order inside one batch
        feed(store, monitor, batch[2:])
        assert feed(store, monitor, [batch[3]]) == []
        return [it.duplicate_of for it in batch]

    sql = Store(sqlite_url)
    assert run(sql) == run(MemoryStore()) == [None, "s0", None, "s0"]
    sql.close()
