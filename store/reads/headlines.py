"""Dashboard reads of stored items: the headlines table, unscored counts and the source list.

Every read walks an index (``ix_items_published_at``, ``ix_items_*_published``,
``ix_item_tickers_ticker_published``) and stops at a LIMIT.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import func, or_, select, text

from store.reads._db import Connectable, connect, frame, translated, utc, utc_col
from store.reads.languages import UNKNOWN_LANG
from store.schema import item_tickers, items

UNSCORED = "unscored"
HEADLINE_COLUMNS = [
    "published_at", "label", "confidence", "score", "text", "source", "topic", "tickers",
    "lang", "duplicate_of", "url", "id",
]


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@translated
def headlines(
    db: Connectable,
    start: datetime,
    end: datetime,
    labels: Sequence[str] | None = None,
    topic: str | None = None,
    ticker: str | None = None,
    source: str | None = None,
    search: str | None = None,
    limit: int = 200,
    langs: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Newest items first in [start, end), filtered; ``labels`` may include ``"unscored"``,
    ``langs`` the language codes (``"?"``: items without a detected language).

    Walks ``published_at`` (or the ticker's) index backwards and stops at ``limit`` rows.
    """
    ts = item_tickers.c.published_at if ticker else items.c.published_at
    stmt = select(
        items.c.id, items.c.published_at, items.c.label, items.c.p_negative, items.c.p_neutral,
        items.c.p_positive, items.c.score, items.c.text, items.c.source, items.c.topic,
        items.c.tickers, items.c.lang, items.c.duplicate_of, items.c.url,
    )
    if ticker:
        stmt = stmt.join(item_tickers, item_tickers.c.item_id == items.c.id).where(item_tickers.c.ticker == ticker)
    stmt = stmt.where(ts >= utc(start), ts < utc(end))
    if labels:
        wanted = [lab for lab in labels if lab != UNSCORED]
        conds = [items.c.label.in_(wanted)] if wanted else []
        if UNSCORED in labels:
            conds.append(items.c.label.is_(None))
        stmt = stmt.where(or_(*conds))
    if topic:
        stmt = stmt.where(items.c.topic == topic)
    if source:
        stmt = stmt.where(items.c.source == source)
    if langs:
        known = [lg for lg in langs if lg != UNKNOWN_LANG]
        lang_conds = [items.c.lang.in_(known)] if known else []
        if UNKNOWN_LANG in langs:
            lang_conds.append(items.c.lang.is_(None))
        stmt = stmt.where(or_(*lang_conds))
    if search and search.strip():
        stmt = stmt.where(items.c.text.ilike(f"%{_escape_like(search.strip())}%", escape="\\"))
    stmt = stmt.order_by(ts.desc()).limit(limit)
    with connect(db) as conn:
        df = frame(conn, stmt)
    if df.empty:
        return pd.DataFrame(columns=HEADLINE_COLUMNS)
    df["published_at"] = utc_col(df["published_at"])
    df["confidence"] = df[["p_negative", "p_neutral", "p_positive"]].max(axis=1, skipna=True)
    df["label"] = df["label"].fillna(UNSCORED)
    df["tickers"] = df["tickers"].map(lambda v: ", ".join(v) if isinstance(v, list) else (v or ""))
    return df[HEADLINE_COLUMNS]


@translated
def unscored_count(db: Connectable, start: datetime, end: datetime) -> int:
    """Items stored without a sentiment (no model for their language), via the label index."""
    stmt = select(func.count()).select_from(items).where(
        items.c.label.is_(None), items.c.published_at >= utc(start), items.c.published_at < utc(end)
    )
    with connect(db) as conn:
        return int(conn.execute(stmt).scalar() or 0)


_SOURCES_SQL = text(
    """
    WITH RECURSIVE s(source) AS (
        SELECT (SELECT min(source) FROM items)
        UNION ALL
        SELECT (SELECT min(source) FROM items WHERE source > s.source) FROM s WHERE s.source IS NOT NULL
    )
    SELECT source FROM s WHERE source IS NOT NULL
    """
)


@translated
def sources(db: Connectable) -> list[str]:
    """Every source of a stored item, scored or not (one seek per source on ix_items_source_published)."""
    with connect(db) as conn:
        return [str(v) for v in conn.execute(_SOURCES_SQL).scalars()]
