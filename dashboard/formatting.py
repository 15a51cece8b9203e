"""Text formatting of the dashboard (pure): times, percentages, ages, heartbeat warnings."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pandas as pd

# Times may come out of DataFrames: pandas' Timestamp and NaT are datetime subclasses (NaT = missing).


def fmt_time(ts: datetime | None) -> str:
    return "—" if ts is None or pd.isna(ts) else pd.Timestamp(ts).strftime("%Y-%m-%d %H:%M UTC")


def pct(x: float | None) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1%}"


def num(x: float | None, fmt: str) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def age_text(age: timedelta) -> str:
    secs = int(age.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if secs >= size:
            return f"{secs // size} {unit}"
    return f"{secs} s"


def heartbeat_note(last_beat: datetime | None, now: datetime, stale: timedelta = timedelta(minutes=2)) -> str:
    """A warning when no consumer has written health for a while (heartbeats are wall time)."""
    if last_beat is None or pd.isna(last_beat):
        return ""
    age = now - pd.Timestamp(last_beat).to_pydatetime()
    return f" :orange[(**silent for {age_text(age)}** — is `finsentry run` running?)]" if age > stale else ""
