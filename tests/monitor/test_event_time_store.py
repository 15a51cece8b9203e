"""Event-time state in the SQL store (SQLite and PostgreSQL) and its memory twin: monotone
watermarks saved in the write transaction, held items released once, restore capped."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from finsentry.metrics import Metrics
from finsentry.records import ALL, Counts, ScoredItem
from monitor.service import MonitorConfig, MonitorService
from store import Store
from store.protocol import MonitorStore
from tests.monitor.synthetic import T0, item
from tests.monitor.test_service import small_settings
from tests.support.memory_store import MemoryStore

P0, P1 = ("news", 0), ("news", 1)
ONE = Counts(n_negative=1, score_sum=-0.8)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest) -> Iterator[MonitorStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    store = Store(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))
    try:
        yield store
    finally:
        store.close()


def test_watermarks_are_saved_monotone_and_rolled_back_with_the_transaction(any_store: MonitorStore) -> None:
    store = any_store
    with store.transaction() as txn:
        txn.save_watermarks({P0: T0 + timedelta(minutes=5), P1: T0}, T0)
    with store.transaction() as txn:
        txn.save_watermarks({P0: T0, P1: T0 + timedelta(minutes=1)}, T0)  # P0 cannot go back
    assert store.load_watermarks() == {P0: T0 + timedelta(minutes=5), P1: T0 + timedelta(minutes=1)}
    with pytest.raises(RuntimeError), store.transaction() as txn:
        txn.save_watermarks({P0: T0 + timedelta(hours=1)}, T0)
        raise RuntimeError("the batch failed")
    assert store.load_watermarks()[P0] == T0 + timedelta(minutes=5)
    with store.transaction() as txn:
        txn.save_watermarks({P1: T0 + timedelta(minutes=2)}, T0 + timedelta(minutes=10))
    # Rows some instance wrote recently: the partitions still being read (the others are idle).
    assert store.load_watermarks(updated_since=T0 + timedelta(minutes=1)) == {P1: T0 + timedelta(minutes=2)}


def _held(i: int, ts: datetime) -> ScoredItem:
    it = item(i, ts, "negative", "Banks", "wire-a", ["JPM"])
    it.ingested_at = T0
    it.kafka_topic, it.kafka_partition, it.kafka_offset = "news", 0, i
    return it


def test_held_items_are_released_once_in_event_order(any_store: MonitorStore) -> None:
    store = any_store
    a, b = _held(1, T0 + timedelta(hours=2)), _held(2, T0 + timedelta(hours=1))
    store.write_batch([a, b], lambda txn, new: txn.hold_items([it.id for it in new]))
    assert store.next_held() == b.published_at
    with store.transaction() as txn:
        assert txn.release_held(T0 + timedelta(minutes=30)) == []
    with pytest.raises(RuntimeError), store.transaction() as txn:
        assert [it.id for it in txn.release_held(T0 + timedelta(hours=3))] == [b.id, a.id]
        raise RuntimeError("rolled back: still held")
    with store.transaction() as txn:
        got = txn.release_held(T0 + timedelta(hours=1, minutes=30))
    assert [it.id for it in got] == [b.id]
    assert (got[0].tickers, got[0].topic, got[0].label, got[0].kafka_partition) == (["JPM"], "Banks", "negative", 0)
    assert got[0].published_at == b.published_at and got[0].score == b.score
    assert store.next_held() == a.published_at
    with store.transaction() as txn:
        assert [it.id for it in txn.release_held(T0 + timedelta(days=1))] == [a.id]
        assert txn.release_held(T0 + timedelta(days=1)) == []
    assert store.next_held() is None


def test_restore_never_takes_a_future_bucket_or_watermark(any_store: MonitorStore) -> None:
    """A store written by an older version holds a bucket dated 2999: the monitor starts at the
    newest bucket up to now + max_future_s, and so do persisted watermarks beyond that cap."""
    store = any_store
    now = T0 + timedelta(hours=1)
    with store.transaction() as txn:
        txn.add_buckets({("all", "*", datetime(2999, 1, 1, tzinfo=UTC)): ONE,
                         ("all", "*", T0 + timedelta(minutes=30)): ONE})
    monitor = MonitorService(MonitorConfig.from_settings(small_settings()), store, Metrics(CollectorRegistry()),
                             clock=lambda: now)
    assert monitor.watermark.value == T0 + timedelta(minutes=30)
    assert store.latest_bucket_start(at_most=now) == T0 + timedelta(minutes=30)
    with store.transaction() as txn:
        txn.save_watermarks({P0: datetime(2999, 1, 1, tzinfo=UTC), ("*", -1): datetime(2999, 1, 1, tzinfo=UTC)}, now)
    again = MonitorService(MonitorConfig.from_settings(small_settings()), store, Metrics(CollectorRegistry()),
                           clock=lambda: now)
    again.assign([P0])
    assert again.watermark.value == now + timedelta(minutes=5)
    assert store.read_series(ALL, T0, now)  # the old buckets are still there to be read


@pytest.mark.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)
def test_the_dashboards_now_is_the_stream_watermark_not_the_newest_item(store_url: str) -> None:
    from store import reads

    store = Store(store_url)
    try:
        monitor = MonitorService(MonitorConfig.from_settings(small_settings()), store, Metrics(CollectorRegistry()),
                                 clock=lambda: T0 + timedelta(hours=1))
        normal = [item(i, T0 + timedelta(minutes=i), "neutral", "Macro", "wire-a", []) for i in range(30)]
        typo = item(99, datetime(2999, 1, 1, tzinfo=UTC), "negative", "Banks", "wire-a", [])
        typo.ingested_at = T0 + timedelta(minutes=20)  # same (logical) partition as the others
        new = store.write_batch([*normal, typo], monitor.in_transaction)
        monitor.after_write(new)
        span = reads.data_span(store.engine, 60)
        assert span is not None and span[1] == T0 + timedelta(minutes=30)  # end of the watermark's bucket
    finally:
        store.close()
