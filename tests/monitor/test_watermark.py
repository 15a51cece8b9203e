"""Per-partition watermarks: a backlog read at any skew closes every bucket complete, as in order."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.watermark import PartitionWatermarks

T0 = datetime(2023, 3, 10, tzinfo=UTC)
PARTS = [("news", p) for p in range(4)]
BUCKET = timedelta(minutes=1)


def bucket(ts: datetime) -> datetime:
    return T0 + BUCKET * ((ts - T0) // BUCKET)


@st.composite
def backlog(draw: st.DrawFn) -> tuple[list[list[datetime]], list[tuple[int, int]]]:
    """Four partitions of event times (each in order, as produced), and a read schedule:
    (partition, how many records) chunks in any order and size, as a catching-up consumer reads."""
    streams = []
    for _ in PARTS:
        gaps = draw(st.lists(st.integers(0, 600), min_size=0, max_size=40))
        t, times = T0, []
        for g in gaps:
            t += timedelta(seconds=g)
            times.append(t)
        streams.append(times)
    left = [len(s) for s in streams]
    schedule = []
    while any(left):
        p = draw(st.sampled_from([i for i, n in enumerate(left) if n]))
        n = draw(st.integers(1, left[p]))
        schedule.append((p, n))
        left[p] -= n
    return streams, schedule


@settings(max_examples=300, deadline=None)
@given(backlog())
def test_any_read_skew_closes_each_bucket_complete(data: tuple[list[list[datetime]], list[tuple[int, int]]]) -> None:
    streams, schedule = data
    w = PartitionWatermarks(idle_timeout_s=30)
    w.assign(PARTS, wall_s=0.0)
    pos = [0] * len(PARTS)
    seen: Counter[datetime] = Counter()
    closed: dict[datetime, int] = {}
    late = 0
    wall = 0.0

    def close_up_to(wm: datetime | None) -> None:
        if wm is None:
            return
        for b in sorted(b for b in seen if b < bucket(wm) and b not in closed):
            closed[b] = seen[b]

    for p, n in schedule:  # one poll: n records of partition p
        wall += 1.0
        wm_before = w.value(wall)
        for ts in streams[p][pos[p]: pos[p] + n]:
            if wm_before is not None and bucket(ts) < bucket(wm_before):
                late += 1
            seen[bucket(ts)] += 1
            w.observe(PARTS[p], ts, wall_s=wall)
        pos[p] += n
        if pos[p] == len(streams[p]):
            w.caught_up([PARTS[p]])
        close_up_to(w.value(wall))
    w.caught_up(PARTS)
    close_up_to(w.value(wall + 60))  # everything idle: the watermark is the newest event
    assert late == 0
    assert all(closed[b] == seen[b] for b in closed), "a bucket closed before all its items arrived"


def test_an_unread_assigned_partition_holds_the_stream_back() -> None:
    w = PartitionWatermarks(idle_timeout_s=30)
    w.assign(PARTS[:2], wall_s=0.0)
    w.observe(PARTS[0], T0 + timedelta(hours=2), wall_s=1.0)
    assert w.value(1.0) is None
    w.observe(PARTS[1], T0, wall_s=2.0)
    assert w.value(2.0) == T0


def test_idle_needs_caught_up_and_quiet_and_the_watermark_never_goes_back() -> None:
    w = PartitionWatermarks(idle_timeout_s=30)
    w.assign(PARTS[:2], wall_s=0.0)
    w.observe(PARTS[0], T0 + timedelta(hours=1), wall_s=0.0)
    w.observe(PARTS[1], T0, wall_s=0.0)
    assert w.value(100.0) == T0  # quiet but not caught up: still holds back
    w.caught_up([PARTS[1]])
    assert w.value(10.0) == T0  # caught up, not yet quiet for 30 s
    assert w.value(31.0) == T0 + timedelta(hours=1)
    w.assign([("news", 7)], wall_s=31.0)  # a rebalance brings an unread partition
    assert w.value(32.0) == T0 + timedelta(hours=1)  # held, never lowered
    w.observe(PARTS[1], T0 + timedelta(minutes=5), wall_s=40.0)  # data again: active again
    w.observe(("news", 7), T0 + timedelta(minutes=1), wall_s=40.0)
    assert w.value(41.0) == T0 + timedelta(hours=1)


def test_future_dated_items_are_capped_and_state_round_trips() -> None:
    w = PartitionWatermarks(idle_timeout_s=30, max_future_s=300)
    ingested = T0
    w.observe(PARTS[0], datetime(2999, 1, 1, tzinfo=UTC), wall_s=0.0, ingested_at=ingested)
    assert w.value(0.0) == T0 + timedelta(seconds=300)
    again = PartitionWatermarks(idle_timeout_s=30)
    again.restore(w.snapshot(), wall_s=0.0)
    assert again.snapshot() == w.snapshot() and again.value(0.0) == T0 + timedelta(seconds=300)
    again.revoke([PARTS[0]])
    assert again.snapshot() == {}
