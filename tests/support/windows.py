"""Reference implementation of the sliding-window sentiment index per key, from 1-minute buckets.

The product computes the index in SQL (``store.reads``, binned in the database); this is its
definition in plain Python, for tests.

The index of a key over a window is the mean of ``p_positive - p_negative`` over the unique
scored items whose event time falls in ``[end - width, end)``, with the label counts and the
negative share beside it.

    >>> from finsentry.records import Counts
    >>> from datetime import datetime, UTC
    >>> t = datetime(2023, 3, 10, 12, 0, tzinfo=UTC)
    >>> w = summarize([(t, Counts(n_negative=1, score_sum=-0.8))], end=t.replace(minute=5), width_s=900)
    >>> w.n, w.negative_share
    (1, 1.0)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from finsentry.timeutil import as_utc
from monitor.buckets import EMPTY, Counts, merge

DEFAULT_WIDTHS_S: tuple[int, ...] = (900, 3600, 86_400)  # 15 min, 1 h, 1 day


@dataclass(frozen=True, slots=True)
class WindowSummary:
    width_s: int
    start: datetime
    end: datetime
    counts: Counts

    @property
    def n(self) -> int:
        return self.counts.total

    @property
    def negative_share(self) -> float:
        return self.counts.negative_share

    @property
    def index(self) -> float:
        """Mean sentiment score in [-1, 1]; 0 for an empty window."""
        return self.counts.mean_score

    def as_dict(self) -> dict[str, object]:
        c = self.counts
        return {
            "width_s": self.width_s,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "n": c.total,
            "n_negative": c.n_negative,
            "n_neutral": c.n_neutral,
            "n_positive": c.n_positive,
            "n_duplicates": c.n_duplicates,
            "negative_share": c.negative_share,
            "index": c.mean_score,
        }


def summarize(series: Iterable[tuple[datetime, Counts]], end: datetime, width_s: int) -> WindowSummary:
    """Sum the buckets whose start lies in ``[end - width, end)``."""
    end = as_utc(end)
    start = end - timedelta(seconds=width_s)
    acc = EMPTY
    for ts, c in series:
        ts = as_utc(ts)
        if start <= ts < end:
            acc = merge(acc, c)
    return WindowSummary(width_s, start, end, acc)


def sentiment_index(
    series: Iterable[tuple[datetime, Counts]],
    end: datetime,
    widths_s: Iterable[int] = DEFAULT_WIDTHS_S,
) -> dict[int, WindowSummary]:
    """The index over several trailing windows ending at ``end`` (one pass per width)."""
    rows = list(series)
    return {w: summarize(rows, end, w) for w in widths_s}


def rolling(
    series: Iterable[tuple[datetime, Counts]], width_s: int, step_s: int
) -> list[WindowSummary]:
    """A trailing window evaluated at every step from the first to the last bucket (charts)."""
    rows = sorted(((as_utc(t), c) for t, c in series), key=lambda r: r[0])
    if not rows:
        return []
    out: list[WindowSummary] = []
    step = timedelta(seconds=step_s)
    width = timedelta(seconds=width_s)
    end = rows[0][0] + step
    last = rows[-1][0] + step
    lo = hi = 0
    while end <= last:
        while hi < len(rows) and rows[hi][0] < end:
            hi += 1
        while lo < hi and rows[lo][0] < end - width:
            lo += 1
        total = EMPTY
        for _, c in rows[lo:hi]:
            total = merge(total, c)
        out.append(WindowSummary(width_s, end - width, end, total))
        end += step
    return out
