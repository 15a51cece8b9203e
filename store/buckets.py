"""Stored buckets: additive upserts and the reads of bucket series.

``upsert_buckets`` runs inside the store's write transaction, with the contributions of the
items that transaction newly inserted, so a redelivered item (already stored) never adds
twice; ``INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n`` lets several consumer
instances add into the same rows (one global view). SQLite and PostgreSQL both support it.
Any SQLAlchemy failure here is :class:`StoreUnavailable`: the caller retries the step.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, select, tuple_
from sqlalchemy.exc import SQLAlchemyError

from finsentry.errors import StoreUnavailable
from finsentry.records import BucketId, Counts, KeyId
from finsentry.timeutil import as_utc
from store.dialect import upsert_insert
from store.schema import buckets

_COUNT_COLS = ("n_negative", "n_neutral", "n_positive", "n_duplicates", "score_sum")


def upsert_buckets(conn: Connection, rows: Mapping[BucketId, Counts]) -> int:
    """Add ``rows`` into the stored buckets; returns the number of bucket rows touched.

    Rows are written in primary-key order so concurrent writers lock in the same order
    (no deadlocks between instances on PostgreSQL).
    """
    if not rows:
        return 0
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
    stmt = upsert_insert(conn, buckets)
    stmt = stmt.on_conflict_do_update(
        index_elements=[buckets.c.key_type, buckets.c.key, buckets.c.bucket_start],
        set_={col: buckets.c[col] + stmt.excluded[col] for col in _COUNT_COLS},
    )
    try:
        conn.execute(stmt, params)
    except SQLAlchemyError as exc:
        raise StoreUnavailable(f"bucket upsert failed: {exc.__class__.__name__}") from exc
    return len(params)


def _counts(row: Row[Any]) -> Counts:
    return Counts(
        int(row.n_negative), int(row.n_neutral), int(row.n_positive), int(row.n_duplicates), float(row.score_sum)
    )


def read_series_many(
    conn: Connection, keys: Iterable[KeyId], start: datetime, end: datetime
) -> dict[KeyId, dict[datetime, Counts]]:
    """Stored buckets of several keys with ``start <= bucket_start < end`` (UTC datetimes)."""
    wanted = sorted(set(keys))
    out: dict[KeyId, dict[datetime, Counts]] = defaultdict(dict)
    if not wanted:
        return out
    cols = [buckets.c.key_type, buckets.c.key, buckets.c.bucket_start, *(buckets.c[c] for c in _COUNT_COLS)]
    # Chunk the key list: one IN clause per few hundred keys keeps statements small.
    for i in range(0, len(wanted), 200):
        chunk = wanted[i : i + 200]
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


def latest_bucket_start(conn: Connection, at_most: datetime | None = None) -> datetime | None:
    """Start of the newest stored whole-stream bucket, not after ``at_most`` when given (restores the
    watermark of a store written before per-partition watermarks; the cap skips future-dated buckets)."""
    q = select(func.max(buckets.c.bucket_start)).where(buckets.c.key_type == "all", buckets.c.key == "*")
    if at_most is not None:
        q = q.where(buckets.c.bucket_start <= as_utc(at_most))
    try:
        value = conn.execute(q).scalar()
    except SQLAlchemyError as exc:
        raise StoreUnavailable(f"bucket read failed: {exc.__class__.__name__}") from exc
    return as_utc(value) if value is not None else None


def top_keys(conn: Connection, key_type: str, start: datetime, end: datetime, limit: int) -> list[tuple[str, int]]:
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
    try:
        return [(str(row.key), int(row.n)) for row in conn.execute(q)]
    except SQLAlchemyError as exc:
        raise StoreUnavailable(f"bucket read failed: {exc.__class__.__name__}") from exc


def negatives_by_type(conn: Connection, key_type: str, start: datetime, end: datetime) -> tuple[int, int]:
    """Negatives of every key of one type in ``[start, end)``, and how many keys had any.

    The volume test's prior (a typical key's negatives per hour) comes from this read, not from the
    keys one instance has loaded, so a restarted or rebalanced instance tests like an in-order one.
    """
    per_key = (
        select(buckets.c.key, func.sum(buckets.c.n_negative).label("k"))
        .where(
            buckets.c.key_type == key_type,
            buckets.c.bucket_start >= as_utc(start),
            buckets.c.bucket_start < as_utc(end),
            buckets.c.n_negative > 0,
        )
        .group_by(buckets.c.key)
        .subquery()
    )
    q = select(func.coalesce(func.sum(per_key.c.k), 0), func.count())
    try:
        negatives, keys = conn.execute(q).one()
    except SQLAlchemyError as exc:
        raise StoreUnavailable(f"bucket read failed: {exc.__class__.__name__}") from exc
    return int(negatives), int(keys)
