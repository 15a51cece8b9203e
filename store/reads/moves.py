""""Sharpest moves" that always rank something: the leaderboard, widened step by step until it has rows.

A quiet hour (or a young store) leaves no ticker with 5 items in the last hour; rather than an
empty panel the read widens the recent window, lowers the volume floor, and finally ranks topics,
and says which rung it took so the page can tell the reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from store.reads._db import Connectable
from store.reads.rollups import leaderboard


@dataclass(frozen=True)
class MoveWindow:
    """One rung of the ladder: key type, recent window vs the baseline before it, volume floors."""

    key_type: str
    recent: timedelta
    baseline: timedelta
    min_recent: int
    min_baseline: int

    def describe(self) -> str:
        return (f"{self.key_type}s: negative share in the last {_dur(self.recent)} vs the {_dur(self.baseline)} "
                f"before (min. {self.min_recent} / {self.min_baseline} items)")


def _dur(d: timedelta) -> str:
    h = int(d.total_seconds() // 3600)
    return f"{h // 24} d" if h >= 48 and h % 24 == 0 else f"{h} h" if h != 1 else "hour"


H = timedelta(hours=1)
LADDER: tuple[MoveWindow, ...] = (
    MoveWindow("ticker", H, 24 * H, 5, 10),  # the default: a move within the hour
    MoveWindow("ticker", 6 * H, 24 * H, 5, 10),
    MoveWindow("ticker", 24 * H, 72 * H, 3, 5),
    MoveWindow("ticker", 24 * H, 7 * 24 * H, 1, 1),
    MoveWindow("topic", 6 * H, 24 * H, 3, 5),
    MoveWindow("topic", 24 * H, 7 * 24 * H, 1, 1),
)


def sharpest_moves(db: Connectable, end: datetime, limit: int = 15,
                   ladder: tuple[MoveWindow, ...] = LADDER) -> tuple[pd.DataFrame, MoveWindow]:
    """The first rung of ``ladder`` that ranks at least one key (or the last rung, empty)."""
    df = pd.DataFrame()
    for rung in ladder:
        df = leaderboard(db, end, key_type=rung.key_type, recent=rung.recent, baseline=rung.baseline,
                         min_recent=rung.min_recent, min_baseline=rung.min_baseline, limit=limit)
        if not df.empty:
            return df, rung
    return df, ladder[-1]
