"""The dashboard's time range: pure functions from a choice and the data's span to a window and step.

"Now" is the stream's watermark (the store's newest event time), not the wall clock, so a
replayed historical stream (say, March 2023) reads exactly like a live one.
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
# The chart step per range: fine enough to see a burst, coarse enough that a quiet stream still
# puts several items in most steps (60-100 points per chart).
STEPS_S: dict[str, int] = {"1 h": 60, "6 h": 300, "24 h": 900, "3 d": 3600, "7 d": 7200}
_NICE_BINS_S = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 7 * 86400)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    bin_s: int
    label: str = ""  # how titles name the window: "24 h", "all (20 d)"

    @property
    def span(self) -> timedelta:
        return self.end - self.start


def bin_seconds(span: timedelta, max_bins: int = 240, bucket_s: int = 60) -> int:
    """Smallest "nice" multiple of the rollup width ``bucket_s`` keeping the chart under ``max_bins``."""
    need = max(span.total_seconds() / max_bins, bucket_s)
    return next((b for b in _NICE_BINS_S if b >= need and b % bucket_s == 0), max(_NICE_BINS_S[-1], bucket_s))


def step_seconds(choice: str, span: timedelta, bucket_s: int = 60) -> int:
    """The chart step of a range choice (a multiple of the rollup width); "All" gets ~100 steps."""
    step = STEPS_S.get(choice)
    if step is None:
        return bin_seconds(span, max_bins=100, bucket_s=bucket_s)
    return -(-step // bucket_s) * bucket_s  # rounded up to whole rollups


def window(choice: str, first: datetime, last: datetime, bucket_s: int = 60) -> Window:
    """The [start, end) window for a range choice, ending at the newest data."""
    if choice not in RANGES:
        choice = DEFAULT_RANGE
    length = RANGES[choice]
    start = first if length is None else last - length  # the chosen width even on a young store
    label = choice if length is not None else f"all ({_span_text(last - start)})"
    return Window(start=start, end=last, bin_s=step_seconds(choice, last - start, bucket_s), label=label)


def _span_text(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours / 24:.0f} d" if hours >= 48 else f"{max(hours, 1):.0f} h"
