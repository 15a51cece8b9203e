"""Event-time buckets: additive per-key counts, the watermark, and allowed lateness.

Pure logic (no I/O). An item lands in the bucket ``floor(published_at / width)`` of every key
it belongs to: ``("all", "*")``, ``("topic", best topic)``, ``("ticker", sym)`` for each ticker,
``("entity", name)`` for each organisation beyond the ticker dictionary and ``("source", name)``.
Only scored items count (``label`` set); a syndicated copy
(``duplicate_of`` set) adds to ``n_duplicates`` only, so a story counts once for spikes.

Buckets are monoids: :func:`merge` is associative and commutative with :data:`EMPTY` as
identity, which is what lets several consumer instances add into the same stored rows. The
bucket types (``Counts``, ``KeyId``, ``BucketId``, ``ALL``) live in ``finsentry.records`` (the
store persists them and must not import the monitor); they are re-exported here.

    >>> c = merge(Counts(n_negative=1, score_sum=-0.9), Counts(n_positive=1, score_sum=0.8))
    >>> c.total, round(c.negative_share, 2)
    (2, 0.5)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from finsentry.records import ALL, EMPTY, BucketId, Counts, KeyId, ScoredItem, merge
from finsentry.timeutil import as_utc

__all__ = [
    "ALL",
    "EMPTY",
    "BucketId",
    "Counts",
    "KeyId",
    "Watermark",
    "bucket_start",
    "contributions",
    "item_counts",
    "keys_of",
    "merge",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def bucket_start(ts: datetime, width_s: int) -> datetime:
    """Start of the event-time bucket holding ``ts`` (UTC, aligned to the epoch)."""
    secs = int((as_utc(ts) - _EPOCH).total_seconds() // width_s) * width_s
    return _EPOCH + timedelta(seconds=secs)


def keys_of(item: ScoredItem) -> list[KeyId]:
    """Every aggregation key an item belongs to (deduplicated, stable order)."""
    keys: list[KeyId] = [ALL]
    if item.topic:
        keys.append(("topic", item.topic))
    for sym in dict.fromkeys(item.tickers):
        keys.append(("ticker", sym))
    for name in dict.fromkeys(item.entities):
        keys.append(("entity", name))
    if item.source:
        keys.append(("source", item.source))
    return keys


def item_counts(item: ScoredItem) -> Counts:
    """What one item adds to each of its buckets (EMPTY when unscored)."""
    if not item.scored:
        return EMPTY
    if item.duplicate_of is not None:
        return Counts(n_duplicates=1)
    score = float(item.score or 0.0)
    if item.label == "negative":
        return Counts(n_negative=1, score_sum=score)
    if item.label == "positive":
        return Counts(n_positive=1, score_sum=score)
    return Counts(n_neutral=1, score_sum=score)


def contributions(items: Iterable[ScoredItem], width_s: int) -> dict[BucketId, Counts]:
    """Sum of what ``items`` add to each bucket; the unit written to the store per batch."""
    out: dict[BucketId, Counts] = {}
    for item in items:
        c = item_counts(item)
        if c == EMPTY:
            continue
        start = bucket_start(item.published_at, width_s)
        for kt, k in keys_of(item):
            bid = (kt, k, start)
            out[bid] = merge(out.get(bid, EMPTY), c)
    return out


class Watermark:
    """Event-time progress and the lateness rule: older than ``value - lateness`` = late.

    ``MonitorService.watermark`` is one over the stream's watermark (the minimum over the active
    input partitions, ``monitor.watermark``); :meth:`advance` (newest seen) serves single-stream
    uses such as ``tests.support.buckets``. Lateness is judged against the watermark *before* a
    batch, so the order of items inside a batch never matters.
    """

    def __init__(self, allowed_lateness_s: int, value: datetime | None = None) -> None:
        self.lateness = timedelta(seconds=allowed_lateness_s)
        self.value = as_utc(value) if value is not None else None

    def is_late(self, ts: datetime) -> bool:
        return self.value is not None and as_utc(ts) < self.value - self.lateness

    def split(self, items: Iterable[ScoredItem]) -> tuple[list[ScoredItem], list[ScoredItem]]:
        """(on time, late) against the current value."""
        on_time: list[ScoredItem] = []
        late: list[ScoredItem] = []
        for item in items:
            (late if self.is_late(item.published_at) else on_time).append(item)
        return on_time, late

    def advance(self, ts: datetime) -> None:
        ts = as_utc(ts)
        if self.value is None or ts > self.value:
            self.value = ts
