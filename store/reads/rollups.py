"""Dashboard reads of the additive 1-minute rollups (``buckets``), never of raw items.

Charts are binned in the database with ``epoch_bin``, so only a few hundred rows travel to a
page. Range reads are shaped so both databases seek the primary key
``(key_type, key, bucket_start)`` per key instead of reading a type's whole history.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Connection, and_, case, func, inspect, select, text

from store.reads._db import Connectable, connect, frame, translated, utc
from store.schema import buckets, items
from store.sqltime import epoch_bin

ALL_KEY = "*"
COUNT_COLS = ("n_negative", "n_neutral", "n_positive", "n_duplicates", "score_sum")
SERIES_COLUMNS = ["key", "t", *COUNT_COLS, "n", "index", "neg_share"]
REQUIRED_TABLES = ("items", "buckets", "alerts", "alert_outbox", "pipeline_health", "item_tickers")


@translated
def has_schema(db: Connectable) -> bool:
    """True when the service has created the store's tables."""
    with connect(db) as conn:
        insp = inspect(conn)
        return all(insp.has_table(t) for t in REQUIRED_TABLES)


@translated
def data_span(db: Connectable, bucket_s: int = 60) -> tuple[datetime, datetime] | None:
    """(first, last) event time in the store, from the whole-stream rollup and the items index.

    ``last`` is the dashboard's "now", so a replayed historical stream reads the same as a live
    one: the end of the bucket holding the stream's persisted event-time watermark (never an item
    dated in the future: one typo of year 2999 must not empty every chart). A store without a
    watermark (written by an older service, or seeded) falls back to the newest bucket or item.
    """
    from store.schema import watermarks

    with connect(db) as conn:
        stream_wm = None
        if inspect(conn).has_table("watermarks"):
            stream_wm = conn.execute(select(watermarks.c.watermark).where(
                watermarks.c.topic == "*", watermarks.c.partition == -1)).scalar()
        all_rows = and_(buckets.c.key_type == "all", buckets.c.key == ALL_KEY)
        first_b = conn.execute(
            select(buckets.c.bucket_start).where(all_rows).order_by(buckets.c.bucket_start).limit(1)
        ).scalar()
        last_b = conn.execute(
            select(buckets.c.bucket_start).where(all_rows).order_by(buckets.c.bucket_start.desc()).limit(1)
        ).scalar()
        first_i = conn.execute(select(func.min(items.c.published_at))).scalar()
        first_r = None  # retention rolled older minutes up: the range starts at the oldest daily row
        if inspect(conn).has_table("buckets_daily"):
            from store.schema import buckets_daily

            first_r = conn.execute(select(func.min(buckets_daily.c.bucket_start)).where(
                buckets_daily.c.key_type == "all")).scalar()
        last_i = conn.execute(select(func.max(items.c.published_at))).scalar()
    firsts = [utc(v) for v in (first_b, first_i, first_r) if v is not None]
    lasts = [utc(v) + timedelta(seconds=1) for v in (last_i,) if v is not None]
    if last_b is not None:
        lasts.append(utc(last_b) + timedelta(seconds=bucket_s))
    if stream_wm is not None:
        wm_s = int(utc(stream_wm).timestamp()) // bucket_s * bucket_s
        lasts = [datetime.fromtimestamp(wm_s + bucket_s, tz=utc(stream_wm).tzinfo)]
    if not firsts or not lasts:
        return None
    return min(firsts), max(lasts)


# Distinct keys of one type by a "loose index scan" of the buckets primary key: one index seek
# per key, however long the history (a plain DISTINCT would read every stored bucket).
_KEYS_SQL = text(
    """
    WITH RECURSIVE k(key) AS (
        SELECT (SELECT min(key) FROM buckets WHERE key_type = :kt)
        UNION ALL
        SELECT (SELECT min(key) FROM buckets WHERE key_type = :kt AND key > k.key)
        FROM k WHERE k.key IS NOT NULL
    )
    SELECT key FROM k WHERE key IS NOT NULL
    """
)


def _keys(conn: Connection, key_type: str) -> list[str]:
    return [str(k) for k in conn.execute(_KEYS_SQL, {"kt": key_type}).scalars()]


@translated
def keys_of(db: Connectable, key_type: str) -> list[str]:
    """Every key of one type that has buckets, sorted."""
    with connect(db) as conn:
        return _keys(conn, key_type)


def type_range(conn: Connection, key_type: str, start: datetime, end: datetime,
               keys: Sequence[str] | None = None) -> ColumnElement[bool]:
    """WHERE clause for a key type (all its keys unless given) and a time range, shaped so both
    databases seek the primary key (key_type, key, bucket_start) per key instead of reading the
    type's whole history."""
    wanted = list(keys) if keys is not None else _keys(conn, key_type)
    return and_(
        buckets.c.key_type == key_type,
        buckets.c.key.in_(wanted),
        buckets.c.bucket_start >= utc(start),
        buckets.c.bucket_start < utc(end),
    )


def _with_ratios(df: pd.DataFrame) -> pd.DataFrame:
    df["n"] = df["n_negative"] + df["n_neutral"] + df["n_positive"]
    safe_n = df["n"].where(df["n"] > 0)
    df["index"] = df["score_sum"] / safe_n
    df["neg_share"] = df["n_negative"] / safe_n
    return df


@translated
def totals(db: Connectable, start: datetime, end: datetime, key_type: str = "all",
           key: str = ALL_KEY) -> dict[str, float]:
    """Summed counts of one key over [start, end) (primary-key range scan)."""
    stmt = select(*(func.coalesce(func.sum(buckets.c[c]), 0).label(c) for c in COUNT_COLS)).where(
        buckets.c.key_type == key_type,
        buckets.c.key == key,
        buckets.c.bucket_start >= utc(start),
        buckets.c.bucket_start < utc(end),
    )
    with connect(db) as conn:
        row = conn.execute(stmt).one()
    out = {c: float(getattr(row, c)) for c in COUNT_COLS}
    out["n"] = out["n_negative"] + out["n_neutral"] + out["n_positive"]
    out["index"] = out["score_sum"] / out["n"] if out["n"] else float("nan")
    out["neg_share"] = out["n_negative"] / out["n"] if out["n"] else float("nan")
    return out


@translated
def _reaches_rollups(conn: Connection, start: datetime) -> bool:
    """Does ``[start, …)`` begin before the oldest whole-stream minute bucket while retention has moved
    older minutes into the hourly/daily rollups (``store.rollup``)? Two indexed lookups."""
    from store.schema import buckets_daily

    if not inspect(conn).has_table(buckets_daily.name):
        return False
    first = conn.execute(select(buckets.c.bucket_start).where(
        buckets.c.key_type == "all", buckets.c.key == ALL_KEY).order_by(buckets.c.bucket_start).limit(1)).scalar()
    if first is not None and utc(start) >= utc(first):
        return False
    return conn.execute(select(buckets_daily.c.bucket_start).limit(1)).scalar() is not None


def series(
    db: Connectable, key_type: str, keys: Sequence[str] | None, start: datetime, end: datetime, bin_s: int
) -> pd.DataFrame:
    """Per key and time bin: counts, sentiment index (score_sum / n) and negative share.

    ``keys=None`` reads every key of the type (for bounded types such as topics).
    """
    if keys is not None and not keys:
        return pd.DataFrame(columns=SERIES_COLUMNS)
    t = epoch_bin(buckets.c.bucket_start, bin_s).label("t")
    with connect(db) as conn:
        if _reaches_rollups(conn, start):
            return series_all_resolutions(conn, key_type, keys, start, end, bin_s)
        stmt = (
            select(buckets.c.key, t, *(func.sum(buckets.c[c]).label(c) for c in COUNT_COLS))
            .where(type_range(conn, key_type, start, end, keys))
            .group_by(buckets.c.key, t)
            .order_by(buckets.c.key, t)
        )
        df = frame(conn, stmt)
    if df.empty:
        return pd.DataFrame(columns=SERIES_COLUMNS)
    df["t"] = pd.to_datetime(df["t"].astype("int64"), unit="s", utc=True)
    for c in COUNT_COLS:
        df[c] = df[c].astype(float)
    return _with_ratios(df)[SERIES_COLUMNS]


@translated
def top_keys(db: Connectable, key_type: str, start: datetime, end: datetime, limit: int = 20) -> pd.DataFrame:
    """The most active keys of one type in [start, end): key, n, neg_share, index."""
    n = (buckets.c.n_negative + buckets.c.n_neutral + buckets.c.n_positive)
    with connect(db) as conn:
        stmt = (
            select(
                buckets.c.key,
                func.sum(n).label("n"),
                func.sum(buckets.c.n_negative).label("n_negative"),
                func.sum(buckets.c.score_sum).label("score_sum"),
            )
            .where(type_range(conn, key_type, start, end))
            .group_by(buckets.c.key)
            .order_by(func.sum(n).desc(), buckets.c.key)
            .limit(limit)
        )
        df = frame(conn, stmt)
    if df.empty:
        return pd.DataFrame(columns=["key", "n", "neg_share", "index"])
    df["n"] = df["n"].astype(int)
    safe_n = df["n"].where(df["n"] > 0)
    df["neg_share"] = df["n_negative"] / safe_n
    df["index"] = df["score_sum"] / safe_n
    return df[["key", "n", "neg_share", "index"]]


@translated
def leaderboard(
    db: Connectable,
    end: datetime,
    key_type: str = "ticker",
    recent: timedelta = timedelta(hours=1),
    baseline: timedelta = timedelta(hours=24),
    min_recent: int = 5,
    min_baseline: int = 10,
    limit: int = 15,
) -> pd.DataFrame:
    """Keys whose negative share rose most: recent window vs the baseline window before it."""
    split = utc(end) - recent
    b_start = split - baseline
    is_recent = buckets.c.bucket_start >= split
    n = buckets.c.n_negative + buckets.c.n_neutral + buckets.c.n_positive

    def part(col: ColumnElement[Any], recent_part: bool) -> ColumnElement[Any]:
        cond = is_recent if recent_part else ~is_recent
        return func.sum(case((cond, col), else_=0))

    with connect(db) as conn:
        stmt = (
            select(
                buckets.c.key,
                part(n, True).label("n_recent"),
                part(buckets.c.n_negative, True).label("neg_recent"),
                part(buckets.c.score_sum, True).label("score_recent"),
                part(n, False).label("n_base"),
                part(buckets.c.n_negative, False).label("neg_base"),
            )
            .where(type_range(conn, key_type, b_start, end))
            .group_by(buckets.c.key)
        )
        df = frame(conn, stmt)
    cols = ["key", "n_recent", "share_recent", "share_baseline", "delta", "index_recent"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    df = df[(df["n_recent"] >= min_recent) & (df["n_base"] >= min_baseline)].copy()
    if df.empty:
        return pd.DataFrame(columns=cols)
    df["share_recent"] = df["neg_recent"] / df["n_recent"]
    df["share_baseline"] = df["neg_base"] / df["n_base"]
    df["delta"] = df["share_recent"] - df["share_baseline"]
    df["index_recent"] = df["score_recent"] / df["n_recent"]
    df["n_recent"] = df["n_recent"].astype(int)
    df = df.sort_values(["delta", "n_recent"], ascending=[False, False]).head(limit)
    return df[cols].reset_index(drop=True)


@translated
def series_all_resolutions(
    db: Connectable, key_type: str, keys: Sequence[str] | None, start: datetime, end: datetime, bin_s: int
) -> pd.DataFrame:
    """:func:`series` (which calls this when its range reaches back that far) over the minute buckets
    *and* the hourly/daily rollups that retention moved
    older minutes into (``store.rollup``), for ranges reaching past the minute retention. The three
    tables hold disjoint time except daily vs hourly, so days still covered by hourly rows are read
    from those. Use ``bin_s`` >= 86,400 for ranges older than the hourly retention (daily rows land on
    their day's first bin)."""
    from store.schema import buckets_daily, buckets_hourly

    if keys is not None and not keys:
        return pd.DataFrame(columns=SERIES_COLUMNS)
    with connect(db) as conn:
        insp = inspect(conn)
        parts: list[tuple[Any, datetime]] = [(buckets, utc(end))]
        if insp.has_table(buckets_hourly.name) and insp.has_table(buckets_daily.name):
            first_hourly = conn.execute(select(func.min(buckets_hourly.c.bucket_start))).scalar()
            daily_end = utc(end)
            if first_hourly is not None:
                h0 = utc(first_hourly)
                daily_end = min(daily_end, h0.replace(hour=0, minute=0, second=0, microsecond=0))
            parts += [(buckets_hourly, utc(end)), (buckets_daily, daily_end)]
        frames = []
        for table, upper in parts:
            if upper <= utc(start):
                continue
            t = epoch_bin(table.c.bucket_start, bin_s).label("t")
            stmt = (
                select(table.c.key, t, *(func.sum(table.c[c]).label(c) for c in COUNT_COLS))
                .where(table.c.key_type == key_type, table.c.bucket_start >= utc(start),
                       table.c.bucket_start < upper, *([table.c.key.in_(list(keys))] if keys is not None else []))
                .group_by(table.c.key, t)
            )
            frames.append(frame(conn, stmt))
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=SERIES_COLUMNS)
    df = pd.concat(frames, ignore_index=True)
    for c in COUNT_COLS:
        df[c] = df[c].astype(float)
    df = df.groupby(["key", "t"], as_index=False)[list(COUNT_COLS)].sum().sort_values(["key", "t"])
    df["t"] = pd.to_datetime(df["t"].astype("int64"), unit="s", utc=True)
    return _with_ratios(df.reset_index(drop=True))[SERIES_COLUMNS]
