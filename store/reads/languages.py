"""Dashboard reads of items by language: the per-step volume of each language, scored or not.

Languages live on items only (the rollups are per label, not per language), so this read walks
``ix_items_published_at`` over the range and groups in the database: one row per step and
language travels to the page.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import case, func, select

from store.reads._db import Connectable, connect, frame, translated, utc
from store.schema import items
from store.sqltime import epoch_bin

UNKNOWN_LANG = "?"
LANGUAGE_COLUMNS = ["t", "lang", "n", "n_unscored", "scored"]


@translated
def language_series(db: Connectable, start: datetime, end: datetime, bin_s: int) -> pd.DataFrame:
    """Per step and language in [start, end): items (copies included), how many unscored, and
    ``scored`` (False when no item of that language in the step had a model)."""
    t = epoch_bin(items.c.published_at, bin_s).label("t")
    lang = func.coalesce(items.c.lang, UNKNOWN_LANG).label("lang")
    stmt = (
        select(t, lang, func.count().label("n"),
               func.sum(case((items.c.label.is_(None), 1), else_=0)).label("n_unscored"))
        .where(items.c.published_at >= utc(start), items.c.published_at < utc(end))
        .group_by(t, lang)
        .order_by(t, lang)
    )
    with connect(db) as conn:
        df = frame(conn, stmt)
    if df.empty:
        return pd.DataFrame(columns=LANGUAGE_COLUMNS)
    df["t"] = pd.to_datetime(df["t"].astype("int64"), unit="s", utc=True)
    df["n"] = df["n"].astype(int)
    df["n_unscored"] = df["n_unscored"].astype(int)
    df["scored"] = df["n_unscored"] < df["n"]
    return df[LANGUAGE_COLUMNS]


def language_totals(langs: pd.DataFrame) -> pd.DataFrame:
    """lang, n, n_unscored over the whole range, busiest first (pure)."""
    if langs.empty:
        return pd.DataFrame(columns=["lang", "n", "n_unscored"])
    out = langs.groupby("lang", as_index=False)[["n", "n_unscored"]].sum()
    return out.sort_values(["n", "lang"], ascending=[False, True]).reset_index(drop=True)
