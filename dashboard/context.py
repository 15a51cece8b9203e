"""What every part of the dashboard page shares: the page's context and the label styles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from dashboard.theme import LABEL_COLORS, SEVERITY_COLORS, UNSCORED_COLOR
from dashboard.timerange import Window

LANGUAGE_MAX_SPAN = timedelta(hours=24)  # the language chart reads items, not rollups: at most this much
HEADLINE_LIMIT = 200
REFRESH_CHOICES = (0, 5, 10, 30, 60, 300)
ANY = "(any)"
HEADLINE_WINDOWS: dict[str, timedelta | None] = {
    "whole range": None, "last 15 min": timedelta(minutes=15), "last hour": timedelta(hours=1),
    "last 6 h": timedelta(hours=6),
}


@dataclass(frozen=True)
class Page:
    url: str
    engine: Engine
    win: Window
    first: datetime


def label_style(value: str) -> str:
    return f"color: {LABEL_COLORS.get(value, UNSCORED_COLOR)}; font-weight: 600"


def alert_style(value: str) -> str:
    color = SEVERITY_COLORS.get(value) or (SEVERITY_COLORS["critical"] if value == "firing" else "")
    return f"color: {color}; font-weight: 600" if color else ""


def delivery_style(value: str) -> str:
    if value.startswith("FAILED"):
        return f"color: {SEVERITY_COLORS['critical']}; font-weight: bold"
    return f"color: {SEVERITY_COLORS['warning']}" if value.startswith("pending") else ""
