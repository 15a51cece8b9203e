"""Event-time state in the store: per-partition watermarks and held (future-dated) items.

Both are written inside the monitor's write transaction (the one that adds the buckets), so a
restart or a rebalance resumes exactly where the committed buckets are:

* ``watermarks`` rows are monotone: an upsert keeps the newer of the stored and the new value,
  so two instances that briefly both write one partition during a rebalance cannot move it back.
  The row :data:`STREAM` holds the stream's watermark (what the dashboard calls "now").
* An item dated beyond ``ingested_at + max_future_s`` is stored with ``held`` set and kept out
  of the buckets; :func:`release_due` hands it back (and clears the flag, so it is added once)
  when the watermark reaches its ``published_at``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Row, case, func, select, update

from finsentry.records import Label, ScoredItem
from finsentry.timeutil import as_utc
from store.dialect import upsert_insert
from store.schema import items, watermarks

PartitionId = tuple[str, int]
STREAM: PartitionId = ("*", -1)  # the stream's watermark row
_CHUNK = 500


def save(conn: Connection, marks: Mapping[PartitionId, datetime], now: datetime) -> None:
    """Upsert watermarks, keeping the newer of the stored and the given value per row."""
    if not marks:
        return
    rows = [{"topic": t[:200], "partition": int(p), "watermark": as_utc(ts), "updated_at": as_utc(now)}
            for (t, p), ts in sorted(marks.items())]
    stmt = upsert_insert(conn, watermarks)
    newer = stmt.excluded.watermark > watermarks.c.watermark
    stmt = stmt.on_conflict_do_update(
        index_elements=[watermarks.c.topic, watermarks.c.partition],
        set_={"watermark": case((newer, stmt.excluded.watermark), else_=watermarks.c.watermark),
              "updated_at": stmt.excluded.updated_at},
    )
    conn.execute(stmt, rows)


def load(conn: Connection, updated_since: datetime | None = None) -> dict[PartitionId, datetime]:
    """Every stored row (the :data:`STREAM` row included), or those written since ``updated_since``."""
    q = select(watermarks.c.topic, watermarks.c.partition, watermarks.c.watermark)
    if updated_since is not None:
        q = q.where(watermarks.c.updated_at >= as_utc(updated_since))
    return {(r.topic, int(r.partition)): as_utc(r.watermark) for r in conn.execute(q)}


def hold(conn: Connection, ids: Sequence[str]) -> None:
    """Flag stored items as held (future-dated: out of the buckets until their time)."""
    for i in range(0, len(ids), _CHUNK):
        conn.execute(update(items).where(items.c.id.in_(list(ids[i : i + _CHUNK]))).values(held=True))


def next_held(conn: Connection) -> datetime | None:
    """Event time of the earliest held item (None: nothing held)."""
    value = conn.execute(select(func.min(items.c.published_at)).where(items.c.held.is_(True))).scalar()
    return as_utc(value) if value is not None else None


def release_due(conn: Connection, upto: datetime) -> list[ScoredItem]:
    """Held items published at or before ``upto``, oldest first; their flag is cleared."""
    q = (select(items).where(items.c.held.is_(True), items.c.published_at <= as_utc(upto))
         .order_by(items.c.published_at, items.c.id))
    due = [_item(r) for r in conn.execute(q)]
    ids = [it.id for it in due]
    for i in range(0, len(ids), _CHUNK):
        conn.execute(update(items).where(items.c.id.in_(ids[i : i + _CHUNK])).values(held=None))
    return due


def _item(r: Row[Any]) -> ScoredItem:
    return ScoredItem(
        id=r.id, text=r.text, published_at=as_utc(r.published_at), ingested_at=as_utc(r.ingested_at),
        source=r.source, url=r.url, lang=r.lang, label=cast(Label | None, r.label),
        p_negative=r.p_negative, p_neutral=r.p_neutral, p_positive=r.p_positive, score=r.score,
        topics=[(str(t), float(p)) for t, p in (r.topics or [])], tickers=[str(t) for t in (r.tickers or [])],
        model_version=r.model_version, story_hash=r.story_hash, duplicate_of=r.duplicate_of,
        kafka_topic=r.kafka_topic, kafka_partition=r.kafka_partition, kafka_offset=r.kafka_offset,
    )
