"""Event-time watermarks per input partition (pure), as Kafka Streams and Flink keep them.

Each partition's watermark is the newest event time read from it. The stream's watermark is the
**minimum** over the partitions that are not idle: a consumer that catches up on a backlog reads
partitions in uneven chunks (one can be an hour ahead of another within a poll), and a single
global "max seen" would mark the slower partitions' items late. With the minimum, a bucket closes
only once every active partition has passed it, so a backlog read at any skew gives the same
buckets, and the same tests, as an in-order replay.

A partition that is assigned but not read yet holds the stream back (its backlog may be older
than anything seen). A partition is *idle* when the consumer says it is caught up (no lag) and it
has delivered nothing for ``idle_timeout_s`` of wall time: it no longer holds the stream back
(otherwise one quiet partition would stop every alert). When every partition is idle, the stream's
watermark is the maximum. The stream's watermark never goes back (a rebalance that brings an older
partition cannot reopen closed buckets).

Event times further ahead of their ingest time than ``max_future_s`` are capped there, so one
future-dated item cannot move a partition's watermark into the future.

    >>> from datetime import datetime, UTC
    >>> w = PartitionWatermarks(idle_timeout_s=30)
    >>> w.assign([("news", 0), ("news", 1)], wall_s=0.0)
    >>> w.observe(("news", 0), datetime(2023, 3, 10, 12, tzinfo=UTC), wall_s=0.0)
    >>> w.observe(("news", 1), datetime(2023, 3, 10, 11, tzinfo=UTC), wall_s=0.0)
    >>> w.value(wall_s=1.0).hour
    11
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from finsentry.timeutil import as_utc

PartitionId = tuple[str, int]  # (topic, partition)


@dataclass(slots=True)
class _Partition:
    watermark: datetime | None  # None: assigned, nothing read yet
    last_read_s: float  # wall clock (monotonic seconds) of the newest record read from it
    caught_up: bool = False


class PartitionWatermarks:
    """Per-partition event-time progress; :meth:`value` is the stream's watermark."""

    def __init__(self, idle_timeout_s: float = 30.0, max_future_s: float = 300.0) -> None:
        self.idle_timeout_s = idle_timeout_s
        self.max_future = timedelta(seconds=max_future_s)
        self._parts: dict[PartitionId, _Partition] = {}
        self._emitted: datetime | None = None

    def assign(self, partitions: Iterable[PartitionId], wall_s: float) -> None:
        """Partitions this consumer now owns: each holds the stream back until read or idle."""
        for pid in partitions:
            self._parts.setdefault(pid, _Partition(None, wall_s))

    def observe(self, partition: PartitionId, event_time: datetime, wall_s: float,
                ingested_at: datetime | None = None) -> None:
        """A record of ``partition`` with ``event_time`` was read at ``wall_s``."""
        ts = as_utc(event_time)
        if ingested_at is not None:
            ts = min(ts, as_utc(ingested_at) + self.max_future)
        part = self._parts.get(partition)
        if part is None:
            self._parts[partition] = _Partition(ts, wall_s)
            return
        part.last_read_s = wall_s
        part.caught_up = False
        if part.watermark is None or ts > part.watermark:
            part.watermark = ts

    def caught_up(self, partitions: Iterable[PartitionId]) -> None:
        """The consumer has no lag on these partitions (what remains is waiting for new data)."""
        for pid in partitions:
            part = self._parts.get(pid)
            if part is not None:
                part.caught_up = True

    def revoke(self, partitions: Iterable[PartitionId]) -> None:
        """Partitions this consumer no longer owns stop holding the watermark back."""
        for pid in partitions:
            self._parts.pop(pid, None)

    def idle(self, wall_s: float) -> set[PartitionId]:
        return {pid for pid, p in self._parts.items()
                if p.caught_up and wall_s - p.last_read_s >= self.idle_timeout_s}

    def value(self, wall_s: float) -> datetime | None:
        """Minimum over active partitions (the maximum when all are idle), never below its last value;
        None before any record."""
        idle = self.idle(wall_s)
        active = [p.watermark for pid, p in self._parts.items() if pid not in idle]
        known = [p.watermark for p in self._parts.values() if p.watermark is not None]
        if any(w is None for w in active):
            current = None  # an unread partition may hold older records: hold the stream back
        elif active:
            current = min(w for w in active if w is not None)
        else:
            current = max(known, default=None)
        if current is not None and (self._emitted is None or current > self._emitted):
            self._emitted = current
        return self._emitted

    def clone(self) -> PartitionWatermarks:
        """An independent copy (what a write transaction would make of the state, before it commits)."""
        other = PartitionWatermarks(self.idle_timeout_s, self.max_future.total_seconds())
        other._parts = {pid: replace(p) for pid, p in self._parts.items()}
        other._emitted = self._emitted
        return other

    def assigned(self) -> set[PartitionId]:
        return set(self._parts)

    def floor(self, ts: datetime) -> None:
        """The stream's watermark is at least ``ts`` (restart: where the stream was before)."""
        ts = as_utc(ts)
        if self._emitted is None or ts > self._emitted:
            self._emitted = ts

    def snapshot(self) -> dict[PartitionId, datetime]:
        """Per-partition watermarks to persist (restart, rebalance to another instance)."""
        return {pid: p.watermark for pid, p in self._parts.items() if p.watermark is not None}

    def restore(self, saved: Mapping[PartitionId, datetime], wall_s: float) -> None:
        """Resume from persisted watermarks; a partition already tracked keeps the newer one."""
        for pid, ts in saved.items():
            ts = as_utc(ts)
            part = self._parts.get(pid)
            if part is None:
                self._parts[pid] = _Partition(ts, wall_s)
            elif part.watermark is None or ts > part.watermark:
                part.watermark = ts
