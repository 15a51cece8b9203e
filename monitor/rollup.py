"""Sentiment index and sums over the stored buckets: the store returns raw series, we compute.

The bucket SQL (additive upserts, series reads) lives in ``store.buckets``; this module keeps
the monitor's arithmetic over what the store hands back.

    index = read_index(store, ("topic", "Banks"), end)   # {900: WindowSummary, 3600: ..., 86400: ...}
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Protocol

from finsentry.records import EMPTY, Counts, KeyId, merge
from finsentry.timeutil import as_utc
from monitor.windows import DEFAULT_WIDTHS_S, WindowSummary, sentiment_index


class SeriesReader(Protocol):
    """The one store read the index needs (``store.Store`` and its in-memory twin have it)."""

    def read_series(self, key: KeyId, start: datetime, end: datetime) -> list[tuple[datetime, Counts]]: ...


def read_index(
    store: SeriesReader,
    key: KeyId,
    end: datetime,
    widths_s: Iterable[int] = DEFAULT_WIDTHS_S,
) -> dict[int, WindowSummary]:
    """Sentiment index of ``key`` over trailing windows ending at ``end`` (dashboard API)."""
    widths = tuple(widths_s)
    start = as_utc(end) - timedelta(seconds=max(widths))
    return sentiment_index(store.read_series(key, start, end), end, widths)


def sum_counts(series: Iterable[tuple[datetime, Counts]]) -> Counts:
    """The sum of a series' bucket counts."""
    acc = EMPTY
    for _, c in series:
        acc = merge(acc, c)
    return acc


__all__ = ["SeriesReader", "read_index", "sum_counts"]
