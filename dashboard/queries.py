"""Read-only queries of the dashboard: plain functions, a connection/engine in, a DataFrame out.

Every chart reads the additive 1-minute rollups in ``buckets`` (binned in the database with
``epoch_bin``), never raw items; the headlines table and alerts use their indexes
(``ix_items_published_at``, ``ix_items_*_published``, ``ix_item_tickers_ticker_published``,
``ix_alerts_*``, ``ix_outbox_alert``) with a LIMIT. Times in and out are tz-aware UTC.
SQLAlchemy errors are translated here into ``finsentry.errors``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, ParamSpec, TypeVar

import pandas as pd
from sqlalchemy import Connection, Engine, and_, case, func, inspect, or_, select, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from dashboard.sqltime import epoch_bin
from finsentry.errors import StoreError, StoreUnavailable
from finsentry.timeutil import as_utc
from store.schema import (
    alert_outbox,
    alerts,
    buckets,
    item_tickers,
    items,
    pipeline_health,
)

Connectable = Engine | Connection
P = ParamSpec("P")
R = TypeVar("R")

ALL_KEY = "*"
UNSCORED = "unscored"
COUNT_COLS = ("n_negative", "n_neutral", "n_positive", "n_duplicates", "score_sum")
SERIES_COLUMNS = ["key", "t", *COUNT_COLS, "n", "index", "neg_share"]
REQUIRED_TABLES = ("items", "buckets", "alerts", "alert_outbox", "pipeline_health", "item_tickers")


def _translated(fn: Callable[P, R]) -> Callable[P, R]:
    """Translate library errors at this edge: unreachable store vs anything else."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except OperationalError as exc:
            raise StoreUnavailable(f"store query {fn.__name__} failed: {exc.orig}") from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"store query {fn.__name__} failed: {exc}") from exc

    return wrapper


@contextmanager
def _connect(db: Connectable) -> Iterator[Connection]:
    if isinstance(db, Connection):
        yield db
    else:
        with db.connect() as conn:
            yield conn


utc = as_utc  # naive values are UTC (how SQLite hands them back); aware ones are converted


def _utc_col(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True)


def _frame(conn: Connection, stmt: Any) -> pd.DataFrame:
    result = conn.execute(stmt)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


# --- store state ----------------------------------------------------------------------------


@_translated
def has_schema(db: Connectable) -> bool:
    """True when the service has created the store's tables."""
    with _connect(db) as conn:
        insp = inspect(conn)
        return all(insp.has_table(t) for t in REQUIRED_TABLES)


@_translated
def data_span(db: Connectable, bucket_s: int = 60) -> tuple[datetime, datetime] | None:
    """(first, last) event time in the store, from the whole-stream rollup and the items index.

    ``last`` is the end of the newest bucket or the newest item, whichever is later; it is
    the dashboard's "now", so a replayed historical stream reads the same as a live one.
    """
    with _connect(db) as conn:
        all_rows = and_(buckets.c.key_type == "all", buckets.c.key == ALL_KEY)
        first_b = conn.execute(
            select(buckets.c.bucket_start).where(all_rows).order_by(buckets.c.bucket_start).limit(1)
        ).scalar()
        last_b = conn.execute(
            select(buckets.c.bucket_start).where(all_rows).order_by(buckets.c.bucket_start.desc()).limit(1)
        ).scalar()
        first_i = conn.execute(select(func.min(items.c.published_at))).scalar()
        last_i = conn.execute(select(func.max(items.c.published_at))).scalar()
    firsts = [utc(v) for v in (first_b, first_i) if v is not None]
    lasts = [utc(v) + timedelta(seconds=1) for v in (last_i,) if v is not None]
    if last_b is not None:
        lasts.append(utc(last_b) + timedelta(seconds=bucket_s))
    if not firsts or not lasts:
        return None
    return min(firsts), max(lasts)


# --- rollups --------------------------------------------------------------------------------

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


@_translated
def keys_of(db: Connectable, key_type: str) -> list[str]:
    """Every key of one type that has buckets, sorted."""
    with _connect(db) as conn:
        return _keys(conn, key_type)


def _type_range(conn: Connection, key_type: str, start: datetime, end: datetime,
                keys: Sequence[str] | None = None) -> Any:
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


@_translated
def totals(db: Connectable, start: datetime, end: datetime, key_type: str = "all", key: str = ALL_KEY) -> dict[str, float]:
    """Summed counts of one key over [start, end) (primary-key range scan)."""
    stmt = select(*(func.coalesce(func.sum(buckets.c[c]), 0).label(c) for c in COUNT_COLS)).where(
        buckets.c.key_type == key_type,
        buckets.c.key == key,
        buckets.c.bucket_start >= utc(start),
        buckets.c.bucket_start < utc(end),
    )
    with _connect(db) as conn:
        row = conn.execute(stmt).one()
    out = {c: float(getattr(row, c)) for c in COUNT_COLS}
    out["n"] = out["n_negative"] + out["n_neutral"] + out["n_positive"]
    out["index"] = out["score_sum"] / out["n"] if out["n"] else float("nan")
    out["neg_share"] = out["n_negative"] / out["n"] if out["n"] else float("nan")
    return out


@_translated
def series(
    db: Connectable, key_type: str, keys: Sequence[str] | None, start: datetime, end: datetime, bin_s: int
) -> pd.DataFrame:
    """Per key and time bin: counts, sentiment index (score_sum / n) and negative share.

    ``keys=None`` reads every key of the type (for bounded types such as topics).
    """
    if keys is not None and not keys:
        return pd.DataFrame(columns=SERIES_COLUMNS)
    t = epoch_bin(buckets.c.bucket_start, bin_s).label("t")
    with _connect(db) as conn:
        stmt = (
            select(buckets.c.key, t, *(func.sum(buckets.c[c]).label(c) for c in COUNT_COLS))
            .where(_type_range(conn, key_type, start, end, keys))
            .group_by(buckets.c.key, t)
            .order_by(buckets.c.key, t)
        )
        df = _frame(conn, stmt)
    if df.empty:
        return pd.DataFrame(columns=SERIES_COLUMNS)
    df["t"] = pd.to_datetime(df["t"].astype("int64"), unit="s", utc=True)
    for c in COUNT_COLS:
        df[c] = df[c].astype(float)
    return _with_ratios(df)[SERIES_COLUMNS]


@_translated
def top_keys(db: Connectable, key_type: str, start: datetime, end: datetime, limit: int = 20) -> pd.DataFrame:
    """The most active keys of one type in [start, end): key, n, neg_share, index."""
    n = (buckets.c.n_negative + buckets.c.n_neutral + buckets.c.n_positive)
    with _connect(db) as conn:
        stmt = (
            select(
                buckets.c.key,
                func.sum(n).label("n"),
                func.sum(buckets.c.n_negative).label("n_negative"),
                func.sum(buckets.c.score_sum).label("score_sum"),
            )
            .where(_type_range(conn, key_type, start, end))
            .group_by(buckets.c.key)
            .order_by(func.sum(n).desc(), buckets.c.key)
            .limit(limit)
        )
        df = _frame(conn, stmt)
    if df.empty:
        return pd.DataFrame(columns=["key", "n", "neg_share", "index"])
    df["n"] = df["n"].astype(int)
    safe_n = df["n"].where(df["n"] > 0)
    df["neg_share"] = df["n_negative"] / safe_n
    df["index"] = df["score_sum"] / safe_n
    return df[["key", "n", "neg_share", "index"]]


@_translated
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

    def part(col: Any, recent_part: bool) -> Any:
        cond = is_recent if recent_part else ~is_recent
        return func.sum(case((cond, col), else_=0))

    with _connect(db) as conn:
        stmt = (
            select(
                buckets.c.key,
                part(n, True).label("n_recent"),
                part(buckets.c.n_negative, True).label("neg_recent"),
                part(buckets.c.score_sum, True).label("score_recent"),
                part(n, False).label("n_base"),
                part(buckets.c.n_negative, False).label("neg_base"),
            )
            .where(_type_range(conn, key_type, b_start, end))
            .group_by(buckets.c.key)
        )
        df = _frame(conn, stmt)
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


# --- headlines ------------------------------------------------------------------------------

HEADLINE_COLUMNS = [
    "published_at", "label", "confidence", "score", "text", "source", "topic", "tickers",
    "lang", "duplicate_of", "url", "id",
]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@_translated
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
) -> pd.DataFrame:
    """Newest items first in [start, end), filtered; ``labels`` may include ``"unscored"``.

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
    if search and search.strip():
        stmt = stmt.where(items.c.text.ilike(f"%{_escape_like(search.strip())}%", escape="\\"))
    stmt = stmt.order_by(ts.desc()).limit(limit)
    with _connect(db) as conn:
        df = _frame(conn, stmt)
    if df.empty:
        return pd.DataFrame(columns=HEADLINE_COLUMNS)
    df["published_at"] = _utc_col(df["published_at"])
    df["confidence"] = df[["p_negative", "p_neutral", "p_positive"]].max(axis=1, skipna=True)
    df["label"] = df["label"].fillna(UNSCORED)
    df["tickers"] = df["tickers"].map(lambda v: ", ".join(v) if isinstance(v, list) else (v or ""))
    return df[HEADLINE_COLUMNS]


@_translated
def unscored_count(db: Connectable, start: datetime, end: datetime) -> int:
    """Items stored without a sentiment (no model for their language), via the label index."""
    stmt = select(func.count()).select_from(items).where(
        items.c.label.is_(None), items.c.published_at >= utc(start), items.c.published_at < utc(end)
    )
    with _connect(db) as conn:
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


@_translated
def sources(db: Connectable) -> list[str]:
    """Every source of a stored item, scored or not (one seek per source on ix_items_source_published)."""
    with _connect(db) as conn:
        return [str(v) for v in conn.execute(_SOURCES_SQL).scalars()]


# --- alerts ---------------------------------------------------------------------------------

# The detector's figure names first (monitor.detector), then aliases we accept (first present wins).
FIGURE_ALIASES: dict[str, tuple[str, ...]] = {
    "share": ("negative_share", "current_share", "share", "current"),
    "baseline": ("baseline_negative_share", "baseline_share", "baseline"),
    "statistic": ("z", "statistic", "spike_score", "score"),
    "window_n": ("window_items", "n", "count", "n_items", "total"),
}
ALERT_COLUMNS = [
    "id", "severity", "status", "key_type", "key", "started_at", "resolved_at", "share", "baseline",
    "statistic", "window_n", "figures", "evidence",
]


def _figure(figures: Any, name: str) -> float | None:
    if not isinstance(figures, dict):
        return None
    for alias in FIGURE_ALIASES[name]:
        value = figures.get(alias)
        if isinstance(value, (int, float)):
            return float(value)
    return None


def _alert_frame(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return pd.DataFrame(columns=ALERT_COLUMNS)
    df["started_at"] = _utc_col(df["started_at"])
    df["resolved_at"] = _utc_col(df["resolved_at"])
    for name in FIGURE_ALIASES:
        df[name] = df["figures"].map(lambda f, n=name: _figure(f, n))
    return df[ALERT_COLUMNS]


_ALERT_SELECT = (
    alerts.c.id, alerts.c.severity, alerts.c.status, alerts.c.key_type, alerts.c.key, alerts.c.started_at,
    alerts.c.resolved_at, alerts.c.figures, alerts.c.evidence,
)


@_translated
def active_alerts(db: Connectable) -> pd.DataFrame:
    """Firing alerts, newest onset first (``ix_alerts_status``)."""
    stmt = select(*_ALERT_SELECT).where(alerts.c.status == "firing").order_by(alerts.c.started_at.desc())
    with _connect(db) as conn:
        return _alert_frame(_frame(conn, stmt))


@_translated
def alert_history(db: Connectable, start: datetime, end: datetime, limit: int = 300) -> pd.DataFrame:
    """Episodes overlapping [start, end), newest onset first (``ix_alerts_started``)."""
    stmt = (
        select(*_ALERT_SELECT)
        .where(
            alerts.c.started_at < utc(end),
            or_(alerts.c.resolved_at.is_(None), alerts.c.resolved_at >= utc(start)),
        )
        .order_by(alerts.c.started_at.desc())
        .limit(limit)
    )
    with _connect(db) as conn:
        return _alert_frame(_frame(conn, stmt))


@_translated
def delivery(db: Connectable, alert_ids: Sequence[str]) -> pd.DataFrame:
    """Outbox rows of these alerts (``ix_outbox_alert``): one per notification and target."""
    cols = ["alert_id", "status", "channel", "target", "attempts", "delivered_at", "next_attempt_at", "last_error"]
    if not alert_ids:
        return pd.DataFrame(columns=cols)
    stmt = (
        select(*(alert_outbox.c[c] for c in cols))
        .where(alert_outbox.c.alert_id.in_(list(alert_ids)))
        .order_by(alert_outbox.c.alert_id, alert_outbox.c.id)
    )
    with _connect(db) as conn:
        df = _frame(conn, stmt)
    if df.empty:
        return pd.DataFrame(columns=cols)
    df["delivered_at"] = _utc_col(df["delivered_at"])
    df["next_attempt_at"] = _utc_col(df["next_attempt_at"])
    return df[cols]


def delivery_summary(outbox: pd.DataFrame) -> pd.Series:
    """alert_id -> short text such as "delivered 2/2" or "pending: 1/2 delivered · last error: ...". Pure."""
    if outbox.empty:
        return pd.Series(dtype=object)

    def one(group: pd.DataFrame) -> str:
        total = len(group)
        done = int(group["delivered_at"].notna().sum())
        if done == total:
            return f"delivered {done}/{total}"
        errors = group.loc[group["delivered_at"].isna(), "last_error"].dropna()
        tail = f" · last error: {str(errors.iloc[-1])[:60]}" if len(errors) else ""
        return f"pending: {done}/{total} delivered{tail}"

    return outbox.groupby("alert_id")[["delivered_at", "last_error"]].apply(one)


def evidence_frame(evidence: Any) -> pd.DataFrame:
    """An alert's evidence JSON ([{id, text, source, score}, ...]) as a table. Pure."""
    cols = ["text", "source", "score", "id"]
    rows = [e for e in (evidence or []) if isinstance(e, dict)]
    if not rows:
        return pd.DataFrame(columns=cols)
    df = pd.DataFrame(rows)
    for c in cols:
        if c not in df.columns:
            df[c] = None
    return df[cols]


# --- pipeline -------------------------------------------------------------------------------


@_translated
def health(db: Connectable) -> pd.DataFrame:
    """One row per consumer instance, most recently updated first."""
    stmt = select(pipeline_health).order_by(pipeline_health.c.updated_at.desc())
    with _connect(db) as conn:
        df = _frame(conn, stmt)
    if not df.empty:
        df["updated_at"] = _utc_col(df["updated_at"])
    return df
