"""One key's closed bucket counts (sparse, sorted), with absolute block sums kept incrementally (pure).

The detector reads three things from it: the trailing window that holds enough items, sums over
longer windows, and the shares of whole history blocks for the baseline.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from monitor.buckets import EMPTY, Counts, merge

if TYPE_CHECKING:
    from monitor.detector_config import DetectorConfig
    from monitor.stats import Baseline


class KeyHistory:
    """Closed bucket counts of one key (sparse), with absolute block sums kept incrementally."""

    def __init__(self, block_s: int) -> None:
        self.block_s = block_s
        self.starts: list[datetime] = []
        self.counts: dict[datetime, Counts] = {}
        self.blocks: dict[int, Counts] = {}
        # Baselines only read whole blocks before the window: cache them per last block and
        # forget the cache when an older block changes (late items, refreshes).
        self.baseline_cache: dict[int, Baseline | None] = {}

    def block_of(self, ts: datetime) -> int:
        return int(ts.timestamp()) // self.block_s

    def _touch(self, block: int) -> None:
        if self.baseline_cache and block <= max(self.baseline_cache):
            self.baseline_cache.clear()

    def put(self, ts: datetime, c: Counts) -> None:
        self._touch(self.block_of(ts))
        old = self.counts.get(ts)
        if old is None:
            bisect.insort(self.starts, ts)
        else:
            b = self.block_of(ts)
            self.blocks[b] = _sub(self.blocks[b], old)
        self.counts[ts] = c
        b = self.block_of(ts)
        self.blocks[b] = merge(self.blocks.get(b, EMPTY), c)

    def drop(self, ts: datetime) -> None:
        old = self.counts.pop(ts, None)
        if old is None:
            return
        self._touch(self.block_of(ts))
        self.starts.pop(bisect.bisect_left(self.starts, ts))
        b = self.block_of(ts)
        self.blocks[b] = _sub(self.blocks[b], old)

    def replace_range(self, start: datetime, end: datetime, fresh: Mapping[datetime, Counts]) -> None:
        """Make ``[start, end)`` equal to ``fresh`` (a re-read from the store)."""
        lo = bisect.bisect_left(self.starts, start)
        hi = bisect.bisect_left(self.starts, end)
        for ts in self.starts[lo:hi]:
            if ts not in fresh:
                self.drop(ts)
        for ts, c in fresh.items():
            if start <= ts < end and self.counts.get(ts) != c:
                self.put(ts, c)

    def prune(self, before: datetime) -> None:
        cut = bisect.bisect_left(self.starts, before)
        for ts in self.starts[:cut]:
            self.drop(ts)

    def window(self, end: datetime, cfg: DetectorConfig) -> tuple[datetime, Counts, bool]:
        """(window start, counts, enough volume) for the trailing window ending at ``end``."""
        wmin = end - timedelta(seconds=cfg.window_min_s)
        wmax = end - timedelta(seconds=cfg.window_max_s)
        i = bisect.bisect_left(self.starts, end) - 1
        acc = EMPTY
        start = wmin
        while i >= 0 and self.starts[i] >= wmin:
            acc = merge(acc, self.counts[self.starts[i]])
            i -= 1
        while acc.total < cfg.min_items and i >= 0 and self.starts[i] >= wmax:
            start = self.starts[i]
            acc = merge(acc, self.counts[start])
            i -= 1
        return start, acc, acc.total >= cfg.min_items

    def sum_range(self, start: datetime, end: datetime) -> Counts:
        lo = bisect.bisect_left(self.starts, start)
        hi = bisect.bisect_left(self.starts, end)
        neg = neu = pos = dup = 0
        score = 0.0
        counts = self.counts
        for ts in self.starts[lo:hi]:  # plain ints: this is the detector's innermost loop
            c = counts[ts]
            neg += c.n_negative
            neu += c.n_neutral
            pos += c.n_positive
            dup += c.n_duplicates
            score += c.score_sum
        return Counts(neg, neu, pos, dup, score)

    def block_shares(
        self, before: datetime, cfg: DetectorConfig
    ) -> tuple[list[float], list[int], Counts]:
        """Shares and sizes of qualifying whole blocks before ``before`` within the baseline,
        and the pooled counts of the blocks older than ``before - window_max`` (the key's
        settled history, for the prior of young keys)."""
        last = self.block_of(before) - 1  # the block holding ``before`` overlaps the window
        first = last - cfg.baseline_s // cfg.block_s + 1
        shares: list[float] = []
        sizes: list[int] = []
        pooled = EMPTY
        settled = self.block_of(before - timedelta(seconds=cfg.window_max_s))
        for j in range(first, last + 1):
            c = self.blocks.get(j)
            if c is None or c.total == 0:
                continue
            if j < settled:
                pooled = merge(pooled, c)
            if c.total >= cfg.block_min_items:
                shares.append(c.negative_share)
                sizes.append(c.total)
        return shares, sizes, pooled


def _sub(a: Counts, b: Counts) -> Counts:
    return Counts(
        a.n_negative - b.n_negative,
        a.n_neutral - b.n_neutral,
        a.n_positive - b.n_positive,
        a.n_duplicates - b.n_duplicates,
        a.score_sum - b.score_sum,
    )
