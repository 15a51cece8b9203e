"""Test twins of the bucket store: the stored ``buckets`` table in memory, and sums of series.

Built on the production pieces (``contributions``, ``Watermark``, ``merge``) so they cannot drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime

from finsentry.records import EMPTY, BucketId, Counts, KeyId, ScoredItem, merge
from monitor.buckets import Watermark, contributions


def sum_counts(series: Iterable[tuple[datetime, Counts]]) -> Counts:
    """The sum of a series' bucket counts."""
    acc = EMPTY
    for _, c in series:
        acc = merge(acc, c)
    return acc


class BucketTable:
    """In-memory twin of the stored ``buckets`` table: apply batches, read counts.

    The service writes the same contributions to the store; tests and the evaluation use
    this to reason about buckets without a database.
    """

    def __init__(self, width_s: int, allowed_lateness_s: int) -> None:
        self.width_s = width_s
        self.watermark = Watermark(allowed_lateness_s)
        self.rows: dict[BucketId, Counts] = {}
        self.late = 0

    def apply(self, batch: Iterable[ScoredItem]) -> list[ScoredItem]:
        """Add a batch; returns the late items (counted, not applied)."""
        batch = list(batch)
        on_time, late = self.watermark.split(batch)
        for bid, c in contributions(on_time, self.width_s).items():
            self.rows[bid] = merge(self.rows.get(bid, EMPTY), c)
        for item in batch:
            self.watermark.advance(item.published_at)
        self.late += len(late)
        return late

    def series(self, key: KeyId) -> Iterator[tuple[datetime, Counts]]:
        kt, k = key
        for (bkt, bk, start), c in sorted(self.rows.items(), key=lambda kv: kv[0][2]):
            if bkt == kt and bk == k:
                yield start, c

    def as_mapping(self) -> Mapping[BucketId, Counts]:
        return dict(self.rows)
