"""The dashboard's read API: plain functions, an engine or connection in, a DataFrame out.

    from store import reads
    reads.series(engine, "topic", None, start, end, bin_s=900)

Charts read the additive rollups (``rollups``), the headlines table and filters read items
(``headlines``), the alert pages read episodes and their deliveries (``alerts``). Times in and
out are tz-aware UTC; SQLAlchemy errors become ``StoreUnavailable`` / ``StoreError``.
"""

from store.reads._db import Connectable
from store.reads.alerts import (
    ALERT_COLUMNS,
    DELIVERY_COLUMNS,
    FIGURE_ALIASES,
    active_alerts,
    alert_history,
    delivery,
    delivery_summary,
    evidence_frame,
    failed_deliveries,
    figure,
    health,
)
from store.reads.headlines import HEADLINE_COLUMNS, UNSCORED, headlines, sources, unscored_count
from store.reads.languages import LANGUAGE_COLUMNS, UNKNOWN_LANG, language_series, language_totals
from store.reads.moves import LADDER, MoveWindow, sharpest_moves
from store.reads.rollups import (
    ALL_KEY,
    COUNT_COLS,
    SERIES_COLUMNS,
    data_span,
    has_schema,
    keys_of,
    leaderboard,
    series,
    top_keys,
    totals,
)

__all__ = [
    "ALERT_COLUMNS",
    "ALL_KEY",
    "COUNT_COLS",
    "DELIVERY_COLUMNS",
    "FIGURE_ALIASES",
    "HEADLINE_COLUMNS",
    "LADDER",
    "LANGUAGE_COLUMNS",
    "SERIES_COLUMNS",
    "UNKNOWN_LANG",
    "UNSCORED",
    "Connectable",
    "MoveWindow",
    "active_alerts",
    "alert_history",
    "data_span",
    "delivery",
    "delivery_summary",
    "failed_deliveries",
    "evidence_frame",
    "figure",
    "has_schema",
    "headlines",
    "health",
    "keys_of",
    "language_series",
    "language_totals",
    "leaderboard",
    "series",
    "sharpest_moves",
    "sources",
    "top_keys",
    "totals",
    "unscored_count",
]
