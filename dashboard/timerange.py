"""The dashboard's time range: pure functions from a choice and the data's span to bins.

"Now" is the newest event time in the store, not the wall clock, so a replayed historical
stream (say, March 2023) reads exactly like a live one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

RANGES: dict[str, timedelta | None] = {
    "1 h": timedelta(hours=1),
    "6 h": timedelta(hours=6),
    "24 h": timedelta(hours=24),
    "3 d": timedelta(days=3),
    "7 d": timedelta(days=7),
    "All": None,
}
DEFAULT_RANGE = "24 h"
_NICE_BINS_S = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 7 * 86400)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    bin_s: int

    @property
    def span(self) -> timedelta:
        return self.end - self.start


def bin_seconds(span: timedelta, max_bins: int = 240, bucket_s: int = 60) -> int:
    """Smallest "nice" multiple of the rollup width ``bucket_s`` keeping the chart under ``max_bins``."""
    need = max(span.total_seconds() / max_bins, bucket_s)
    return next((b for b in _NICE_BINS_S if b >= need and b % bucket_s == 0), max(_NICE_BINS_S[-1], bucket_s))


def window(choice: str, first: datetime, last: datetime, bucket_s: int = 60) -> Window:
    """The [start, end) window for a range choice, ending at the newest data."""
    length = RANGES.get(choice, RANGES[DEFAULT_RANGE])
    start = first if length is None else last - length  # the chosen width even on a young store
    return Window(start=start, end=last, bin_s=bin_seconds(last - start, bucket_s=bucket_s))
