"""Roll minute buckets up into hourly and daily ones before they age out (retention's first step).

Minute buckets older than the minute cutoff are *moved*, one (hour, key type) at a time in its own
short transaction: ``DELETE FROM buckets ... RETURNING`` the rows, then their sums are added into
``buckets_hourly`` and ``buckets_daily`` (additive upserts, like the minute buckets). Only rows the
DELETE returned are added, so nothing is counted twice or lost:

- a consumer adding into a minute row while it is being moved either commits first (its addition
  is in the returned row) or re-inserts the row afterwards (a new minute row, moved next run);
- a late item for a long-gone minute re-creates that row; the next run moves it and adds it into the
  same hourly/daily rows (additive), so the rollups stay exact;
- two instances moving the same hour: PostgreSQL serialises the job on an advisory lock, SQLite has
  one writer; whoever comes second finds nothing to move.

Each table then holds a disjoint share of the history: minute rows from the minute cutoff on (plus
fresh late ones), hourly rows before it back to the hourly cutoff (a day boundary), daily rows for all
moved time. ``store.reads.rollups.series_all_resolutions`` reads them together without overlap.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import Connection, Table, delete, func, select, text

from finsentry.timeutil import as_utc
from store.dialect import upsert_insert
from store.schema import buckets, buckets_daily, buckets_hourly

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
COUNT_COLS = ("n_negative", "n_neutral", "n_positive", "n_duplicates", "score_sum")
KEY_TYPES = ("all", "topic", "ticker", "source")
_LOCK = "SELECT pg_advisory_xact_lock(7243912)"  # finsentry retention (schema lock is 7243911)

Sums = dict[tuple[str, str, datetime], list[float]]


def floor_hour(ts: datetime) -> datetime:
    return as_utc(ts).replace(minute=0, second=0, microsecond=0)


def floor_day(ts: datetime) -> datetime:
    return as_utc(ts).replace(hour=0, minute=0, second=0, microsecond=0)


def lock(conn: Connection) -> None:
    """Serialise retention transactions across instances (PostgreSQL; SQLite has one writer)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(_LOCK))


def oldest_minute_bucket(conn: Connection, before: datetime) -> datetime | None:
    """Start of the oldest minute bucket before ``before`` (``ix_buckets_start``)."""
    value = conn.execute(select(func.min(buckets.c.bucket_start)).where(buckets.c.bucket_start < as_utc(before))
                         ).scalar()
    return as_utc(value) if value is not None else None


def watermark(conn: Connection, now: datetime) -> datetime | None:
    """Retention's event-time reference: the newest whole-stream bucket not after ``now`` (a
    future-dated bucket left by an older version cannot make the present look old)."""
    value = conn.execute(select(func.max(buckets.c.bucket_start)).where(
        buckets.c.key_type == "all", buckets.c.key == "*", buckets.c.bucket_start <= as_utc(now))).scalar()
    return as_utc(value) if value is not None else None


def _add(conn: Connection, table: Table, sums: Sums) -> None:
    if not sums:
        return
    params = [{"key_type": kt, "key": k, "bucket_start": start, **dict(zip(COUNT_COLS, v, strict=True))}
              for (kt, k, start), v in sorted(sums.items())]  # primary-key order: no deadlocks
    stmt = upsert_insert(conn, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.key_type, table.c.key, table.c.bucket_start],
        set_={c: table.c[c] + stmt.excluded[c] for c in COUNT_COLS},
    )
    conn.execute(stmt, params)


def move_hour(conn: Connection, hour: datetime, key_type: str, hourly_from: datetime) -> int:
    """Move one hour of one key type's minute buckets into the rollups (inside the caller's
    transaction); hours before ``hourly_from`` go into the daily rollup only. Returns rows moved."""
    lo = floor_hour(hour)
    moved = conn.execute(
        delete(buckets)
        .where(buckets.c.key_type == key_type, buckets.c.bucket_start >= lo, buckets.c.bucket_start < lo + HOUR)
        .returning(buckets.c.key, *(buckets.c[c] for c in COUNT_COLS))
    ).all()
    hourly: Sums = defaultdict(lambda: [0, 0, 0, 0, 0.0])
    daily: Sums = defaultdict(lambda: [0, 0, 0, 0, 0.0])
    for row in moved:
        for sums, start in ((hourly, lo), (daily, floor_day(lo))):
            acc = sums[(key_type, row.key, start)]
            for i, c in enumerate(COUNT_COLS):
                acc[i] += getattr(row, c)
    if lo >= hourly_from:
        _add(conn, buckets_hourly, hourly)
    _add(conn, buckets_daily, daily)
    return len(moved)


def delete_hourly_day(conn: Connection, before: datetime) -> int:
    """Delete the oldest day of hourly rows before ``before`` (a day boundary); rows deleted."""
    oldest = conn.execute(select(func.min(buckets_hourly.c.bucket_start))
                          .where(buckets_hourly.c.bucket_start < as_utc(before))).scalar()
    if oldest is None:
        return 0
    day = floor_day(oldest)
    end = min(day + DAY, as_utc(before))
    result = conn.execute(delete(buckets_hourly).where(buckets_hourly.c.bucket_start >= day,
                                                       buckets_hourly.c.bucket_start < end))
    return int(result.rowcount or 0)
