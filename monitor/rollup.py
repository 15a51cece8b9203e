"""Persisted buckets: additive upserts and the queries that read bucket series back.

``upsert_buckets`` runs inside the store's write transaction, with the contributions of the
items that transaction newly inserted, so a redelivered item (already stored) never adds
twice; ``INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n`` lets several consumer
instances add into the same rows (one global view). SQLite and PostgreSQL both support it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select, tuple_
from sqlalchemy.exc import SQLAlchemyError

from finsentry.errors import StoreError, StoreUnavailable
from finsentry.timeutil import as_utc
from monitor.buckets import EMPTY, BucketId, Counts, KeyId, merge
from monitor.windows import DEFAULT_WIDTHS_S, WindowSummary, sentiment_index
from store.schema import buckets

_COUNT_COLS = ("n_negative", "n_neutral", "n_positive", "n_duplicates", "score_sum")


def _insert_for(conn: Connection):  # noqa: ANN202 - dialect-specific Insert class
    name = conn.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - only the two supported stores
        raise StoreError(f"bucket upserts need SQLite or PostgreSQL, not {name}")
    return insert


def upsert_buckets(conn: Connection, rows: Mapping[BucketId, Counts]) -> int:
    """Add ``rows`` into the stored buckets; returns the number of bucket rows touched.

    Rows are written in primary-key order so concurrent writers lock in the same order
    (no deadlocks between instances on PostgreSQL).
    """
    if not rows:
        return 0
    insert = _insert_for(conn)
    params = [
        {
            "key_type": kt,
            "key": k[:200],
            "bucket_start": as_utc(start),
            "n_negative": c.n_negative,
            "n_neutral": c.n_neutral,
            "n_positive": c.n_positive,
            "n_duplicates": c.n_duplicates,
            "score_sum": c.score_sum,
        }
        for (kt, k, start), c in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2]))
    ]
    stmt = insert(buckets)
    stmt = stmt.on_conflict_do_update(
        index_elements=[buckets.c.key_type, buckets.c.key, buckets.c.bucket_start],
        set_={col: buckets.c[col] + stmt.excluded[col] for col in _COUNT_COLS},
    )
    try:
        conn.execute(stmt, params)
    except SQLAlchemyError as exc:
        raise StoreUnavailable(f"bucket upsert failed: {exc.__class__.__name__}") from exc
    return len(params)


def _counts(row: object) -> Counts:
    return Counts(
        int(row.n_negative),  # type: ignore[attr-defined]
        int(row.n_neutral),  # type: ignore[attr-defined]
        int(row.n_positive),  # type: ignore[attr-defined]
        int(row.n_duplicates),  # type: ignore[attr-defined]
        float(row.score_sum),  # type: ignore[attr-defined]
    )


def read_series_many(
    conn: Connection, keys: Iterable[KeyId], start: datetime, end: datetime
) -> dict[KeyId, dict[datetime, Counts]]:
    """Stored buckets of several keys with ``start <= bucket_start < end`` (UTC datetimes)."""
    keys = sorted(set(keys))
    out: dict[KeyId, dict[datetime, Counts]] = defaultdict(dict)
    if not keys:
        return out
    cols = [buckets.c.key_type, buckets.c.key, buckets.c.bucket_start, *(buckets.c[c] for c in _COUNT_COLS)]
    # Chunk the key list: one IN clause per few hundred keys keeps statements small.
    for i in range(0, len(keys), 200):
        chunk = keys[i : i + 200]
        q = select(*cols).where(
            tuple_(buckets.c.key_type, buckets.c.key).in_(chunk),
            buckets.c.bucket_start >= as_utc(start),
            buckets.c.bucket_start < as_utc(end),
        )
        try:
            result = conn.execute(q)
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"bucket read failed: {exc.__class__.__name__}") from exc
        for row in result:
            out[(row.key_type, row.key)][as_utc(row.bucket_start)] = _counts(row)
    return out


def read_series(
    conn: Connection, key: KeyId, start: datetime, end: datetime
) -> list[tuple[datetime, Counts]]:
    """One key's stored buckets in ``[start, end)``, oldest first."""
    series = read_series_many(conn, [key], start, end).get(key, {})
    return sorted(series.items())


def read_index(
    conn: Connection,
    key: KeyId,
    end: datetime,
    widths_s: Iterable[int] = DEFAULT_WIDTHS_S,
) -> dict[int, WindowSummary]:
    """Sentiment index of ``key`` over trailing windows ending at ``end`` (dashboard API)."""
    widths = tuple(widths_s)
    start = as_utc(end) - timedelta(seconds=max(widths))
    return sentiment_index(read_series(conn, key, start, end), end, widths)


def latest_bucket_start(conn: Connection) -> datetime | None:
    """Start of the newest stored whole-stream bucket (restores the watermark on restart)."""
    q = select(func.max(buckets.c.bucket_start)).where(buckets.c.key_type == "all", buckets.c.key == "*")
    try:
        value = conn.execute(q).scalar()
    except SQLAlchemyError as exc:
        raise StoreUnavailable(f"bucket read failed: {exc.__class__.__name__}") from exc
    return as_utc(value) if value is not None else None


def top_keys(
    conn: Connection, key_type: str, start: datetime, end: datetime, limit: int
) -> list[tuple[str, int]]:
    """The ``limit`` keys of one type with the most unique items in ``[start, end)``."""
    n = func.sum(buckets.c.n_negative + buckets.c.n_neutral + buckets.c.n_positive)
    q = (
        select(buckets.c.key, n.label("n"))
        .where(
            buckets.c.key_type == key_type,
            buckets.c.bucket_start >= as_utc(start),
            buckets.c.bucket_start < as_utc(end),
        )
        .group_by(buckets.c.key)
        .order_by(n.desc(), buckets.c.key)
        .limit(limit)
    )
    return [(row.key, int(row.n)) for row in conn.execute(q)]


def sum_counts(series: Iterable[tuple[datetime, Counts]]) -> Counts:
    acc = EMPTY
    for _, c in series:
        acc = merge(acc, c)
    return acc


__all__ = [
    "latest_bucket_start",
    "read_index",
    "read_series",
    "read_series_many",
    "sum_counts",
    "top_keys",
    "upsert_buckets",
]
