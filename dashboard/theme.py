"""Colours and labels of the dashboard, defined once so every chart and table agrees."""

from __future__ import annotations

LABELS: tuple[str, ...] = ("negative", "neutral", "positive")

# Negative red, neutral grey, positive green: the same everywhere (charts, tables, badges).
LABEL_COLORS: dict[str, str] = {
    "negative": "#d64541",
    "neutral": "#9aa0a6",
    "positive": "#2e9e5b",
}
UNSCORED_LABEL = "unscored"
UNSCORED_COLOR = "#c7a34a"

ALERT_COLOR = "#d64541"
EPISODE_FILL = "rgba(214, 69, 65, 0.13)"
SEVERITY_COLORS: dict[str, str] = {"critical": "#d64541", "warning": "#d9822b"}

# Negative share heatmap: white (calm) -> deep red (everything negative).
NEGATIVE_SCALE: list[list[float | str]] = [
    [0.0, "#fbfbfb"],
    [0.25, "#f6c9c4"],
    [0.5, "#e8877f"],
    [1.0, "#a31f1a"],
]
# Sentiment index -1..1: red through grey to green.
INDEX_SCALE: list[list[float | str]] = [
    [0.0, LABEL_COLORS["negative"]],
    [0.5, "#eeeeee"],
    [1.0, LABEL_COLORS["positive"]],
]
# Distinct line colours for compared series (the stream as a whole is always dark).
SERIES_COLORS: tuple[str, ...] = (
    "#1f3b73", "#8e44ad", "#e67e22", "#16a085", "#2c7fb8", "#b5651d", "#7f8c8d", "#c0392b",
)
