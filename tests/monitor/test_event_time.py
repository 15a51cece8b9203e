"""Event time across partitions, through the whole MonitorService (memory store, real Notifier).

A backlog spread over four partitions (each in event order, as produced) is read in any
interleaving of uneven chunks, as a consumer catching up reads it; the buckets and the alert
events must equal those of the in-order replay (``monitor evaluate``'s path: one logical
partition). Also: restart and rebalance resume from the persisted watermarks, and a
future-dated item is held out of the trends until its time comes (issue 12).
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from finsentry.metrics import Metrics
from finsentry.records import ALL, AlertEvent, Counts, KeyId, ScoredItem
from monitor.alerting import Notifier
from monitor.buckets import keys_of
from monitor.service import MonitorConfig, MonitorService
from store.protocol import MonitorStore
from tests.monitor.synthetic import T0, item, stream
from tests.monitor.test_service import ONSET, burst, small_settings
from tests.support.memory_store import MemoryStore

PARTS = [("news", p) for p in range(4)]
IDLE_S = 30.0


class FakeWall:
    """The monotonic clock of partition idleness, moved by the test."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class Recording(MonitorService):
    def __init__(self, store: MonitorStore, wall: FakeWall, now: datetime | None = None) -> None:
        s = small_settings(partition_idle_s=IDLE_S)
        metrics = Metrics(CollectorRegistry())
        self.events: list[AlertEvent] = []
        self.metrics_ = metrics
        clock = (lambda: now) if now is not None else None
        super().__init__(MonitorConfig.from_settings(s), store, metrics, Notifier.from_settings(s, store, metrics),
                         clock=clock, on_event=self.events.append, wall=wall)

    def late(self) -> float:
        return self.metrics_.registry.get_sample_value("finsentry_late_items_total") or 0.0


def feed(store: MonitorStore, monitor: MonitorService, batch: list[ScoredItem]) -> None:
    new = store.write_batch(batch, monitor.in_transaction)
    if new:
        monitor.after_write(new)


def backlog() -> list[ScoredItem]:
    """Calm hours, then a negative burst: alerts fire (the comparison is not vacuous)."""
    return stream(ONSET + 8, per_minute=6, shape=burst, seed=31)


def in_order(items: list[ScoredItem], batch: int = 64) -> tuple[MemoryStore, Recording]:
    store, wall = MemoryStore(), FakeWall()
    monitor = Recording(store, wall)
    ordered = sorted(items, key=lambda it: (it.published_at, it.id))
    for i in range(0, len(ordered), batch):
        feed(store, monitor, [replace(it) for it in ordered[i: i + batch]])
    return store, monitor


def series(store: MemoryStore, items: list[ScoredItem]) -> dict[KeyId, dict[datetime, Counts]]:
    """Every key's buckets; score sums rounded (float addition order differs between read orders)."""
    keys = {k for it in items for k in keys_of(it)}
    found = store.read_series_many(keys, T0 - timedelta(days=1), T0 + timedelta(days=2))
    return {k: {b: replace(c, score_sum=round(c.score_sum, 9)) for b, c in s.items()} for k, s in found.items()}


_REFERENCE: dict[str, tuple[dict[KeyId, dict[datetime, Counts]], list[AlertEvent]]] = {}


def reference(items: list[ScoredItem]) -> tuple[dict[KeyId, dict[datetime, Counts]], list[AlertEvent]]:
    if "ref" not in _REFERENCE:
        store, monitor = in_order(items)
        _REFERENCE["ref"] = (series(store, items), monitor.events)
    return _REFERENCE["ref"]


def partitioned(items: list[ScoredItem], rnd: random.Random) -> list[list[ScoredItem]]:
    """Each partition's records in event order (a producer writing as news arrives)."""
    parts: list[list[ScoredItem]] = [[] for _ in PARTS]
    for it in sorted(items, key=lambda it: (it.published_at, it.id)):
        p = rnd.randrange(len(PARTS))
        parts[p].append(replace(it, kafka_topic=PARTS[p][0], kafka_partition=PARTS[p][1]))
    return parts


@settings(max_examples=40, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), max_chunk=st.sampled_from([8, 64, 256, 1000]))
def test_a_backlog_read_at_any_skew_gives_the_in_order_buckets_and_alerts(seed: int, max_chunk: int) -> None:
    rnd = random.Random(seed)  # the interleaving: which partition each item went to, chunk sizes, order
    items = backlog()
    want_buckets, want_events = reference(items)
    assert any(e.status == "firing" for e in want_events)
    parts = partitioned(items, rnd)
    store, wall = MemoryStore(), FakeWall()
    monitor = Recording(store, wall)
    monitor.assign(PARTS)
    pos = [0] * len(PARTS)
    while any(pos[p] < len(parts[p]) for p in range(len(PARTS))):
        batch: list[ScoredItem] = []
        for _ in range(rnd.randint(1, 3)):  # one poll: uneven chunks of one to three partitions
            open_parts = [p for p in range(len(PARTS)) if pos[p] < len(parts[p])]
            if not open_parts:
                break
            p = rnd.choice(open_parts)
            n = rnd.randint(1, max_chunk)
            batch += parts[p][pos[p]: pos[p] + n]
            pos[p] = min(len(parts[p]), pos[p] + n)
        wall.t += rnd.choice([0.1, 1.0, 5.0])  # never past the idle timeout while catching up
        feed(store, monitor, batch)
        monitor.caught_up([PARTS[p] for p in range(len(PARTS)) if pos[p] == len(parts[p])])
        monitor.tick(T0)
    wall.t += IDLE_S + 1  # caught up everywhere and silent: the stream's watermark is the newest event
    monitor.tick(T0)
    assert monitor.late() == 0
    assert series(store, items) == want_buckets
    assert monitor.events == want_events


def test_one_global_max_would_have_lost_items() -> None:
    """The control: the same skewed read with one partition for everything (today's bug) is late."""
    items = backlog()
    rnd = random.Random(5)
    parts = partitioned(items, rnd)
    store, wall = MemoryStore(), FakeWall()
    monitor = Recording(store, wall)
    for p in range(len(PARTS)):  # partition by partition, as a catching-up consumer may read
        feed(store, monitor, [replace(it, kafka_topic=None, kafka_partition=None) for it in parts[p]])
    assert monitor.late() > len(items) / 3  # three partitions of four read after the newest one


def test_restart_and_rebalance_resume_from_the_persisted_watermarks() -> None:
    items = backlog()
    parts = partitioned(items, random.Random(9))
    half = [len(p) // 2 for p in parts]
    store, wall = MemoryStore(), FakeWall()
    first = Recording(store, wall)
    first.assign(PARTS)
    for p in range(len(PARTS)):
        feed(store, first, parts[p][: half[p]])
    saved = store.load_watermarks()
    for p in range(len(PARTS)):
        assert saved[PARTS[p]] == parts[p][half[p] - 1].published_at
    assert saved[("*", -1)] == min(parts[p][half[p] - 1].published_at for p in range(len(PARTS)))
    # Two instances after a restart: each owns two partitions and resumes where they were.
    a, b = Recording(store, wall), Recording(store, wall)
    a.assign(PARTS[:2])
    b.assign(PARTS[2:])
    assert a.watermark.value == min(saved[PARTS[0]], saved[PARTS[1]])
    assert b.watermark.value == min(saved[PARTS[2]], saved[PARTS[3]])
    feed(store, a, parts[0][half[0]:])
    # Rebalance: b leaves, a takes its partitions over from their saved watermarks.
    a.assign(PARTS[2:])
    assert a.watermark.value == min(saved[PARTS[1]], saved[PARTS[2]], saved[PARTS[3]])
    for p in (1, 2, 3):
        feed(store, a, parts[p][half[p]:])
    assert a.late() == 0 and b.late() == 0
    wall.t += IDLE_S + 1
    a.caught_up(PARTS)
    a.tick(T0)
    want_buckets, _ = reference(items)
    assert series(store, items) == want_buckets


def test_a_future_dated_item_is_held_until_its_time_and_trends_continue_after_a_restart() -> None:
    items = sorted(stream(60, per_minute=4, seed=3), key=lambda it: (it.published_at, it.id))
    store, wall = MemoryStore(), FakeWall()
    now = T0 + timedelta(minutes=10)
    monitor = Recording(store, wall, now=now)
    typo = item(10_000, datetime(2999, 1, 1, tzinfo=T0.tzinfo), "negative", "Banks", "wire-a", ["JPM"])
    typo.ingested_at = now
    soon = item(10_001, T0 + timedelta(minutes=40), "negative", "Banks", "wire-a", [])  # 30 min ahead
    soon.ingested_at = now
    early, late = items[: len(items) // 2], items[len(items) // 2:]
    feed(store, monitor, early[:20])
    feed(store, monitor, [typo, soon])
    assert store.next_held() == soon.published_at
    assert monitor.metrics_.registry.get_sample_value("finsentry_future_items_held_total") == 2
    assert monitor.watermark.value is not None and monitor.watermark.value <= now + timedelta(minutes=5)
    feed(store, monitor, early[20:])
    # A restart: the watermark resumes from the store, never from the held item's year.
    again = Recording(store, wall, now=now)
    wm = again.watermark.value
    assert wm is not None and wm < T0 + timedelta(hours=1)
    feed(store, again, late)
    assert again.late() == 0
    again.tick(T0)  # the loop's periodic tick: the watermark passed 00:40, the held item is added
    total = sum(c.total for _, c in store.read_series(ALL, T0, T0 + timedelta(days=1)))
    # Every normal item and the held one whose time came (00:40) are in the trends; 2999 is not.
    assert total == len(items) + 1
    assert store.next_held() == typo.published_at
    feed(store, again, [item(20_000, T0 + timedelta(minutes=59), "neutral", "Macro", "wire-c", [])])
    again.tick(T0)  # released once only
    assert sum(c.total for _, c in store.read_series(ALL, T0, T0 + timedelta(days=1))) == len(items) + 2
    assert not store.read_series(ALL, datetime(2998, 1, 1, tzinfo=T0.tzinfo), datetime(3000, 1, 1, tzinfo=T0.tzinfo))
