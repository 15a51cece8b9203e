"""Stored news items: idempotent inserts, ticker rows, syndication links and evidence reads.

``insert_new`` is ``INSERT .. ON CONFLICT DO NOTHING RETURNING id``: it tells which items were
new, so a redelivered record never makes a second row and never counts twice downstream.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from finsentry.records import Evidence, KeyId, ScoredItem
from finsentry.timeutil import as_utc
from store.dialect import upsert_insert
from store.schema import item_tickers, items

_CHUNK = 500  # story hashes per IN clause


def item_row(it: ScoredItem) -> dict[str, Any]:
    """The ``items`` row of an item (times as UTC, topics and tickers as JSON lists)."""
    return {
        "id": it.id, "text": it.text, "source": it.source, "url": it.url,
        "published_at": as_utc(it.published_at), "ingested_at": as_utc(it.ingested_at), "lang": it.lang,
        "label": it.label, "p_negative": it.p_negative, "p_neutral": it.p_neutral,
        "p_positive": it.p_positive, "score": it.score, "topic": it.topic,
        "topics": [[name, float(p)] for name, p in it.topics], "tickers": list(it.tickers),
        "model_version": it.model_version, "story_hash": it.story_hash, "duplicate_of": it.duplicate_of,
        "kafka_topic": it.kafka_topic, "kafka_partition": it.kafka_partition, "kafka_offset": it.kafka_offset,
    }


def insert_new(conn: Connection, unique: Iterable[ScoredItem]) -> list[ScoredItem]:
    """Insert items (ids unique) and their ticker rows; return the new ones, in input order."""
    batch = list(unique)
    stmt = upsert_insert(conn, items).on_conflict_do_nothing(index_elements=["id"]).returning(items.c.id)
    inserted = set(conn.execute(stmt, [item_row(it) for it in batch]).scalars().all())
    new_items = [it for it in batch if it.id in inserted]
    ticker_rows = [
        {"item_id": it.id, "ticker": t, "published_at": as_utc(it.published_at)}
        for it in new_items for t in dict.fromkeys(it.tickers)
    ]
    if ticker_rows:
        conn.execute(upsert_insert(conn, item_tickers).on_conflict_do_nothing(), ticker_rows)
    return new_items


def first_copies(
    conn: Connection, hashes: Sequence[str], lo: datetime, hi: datetime
) -> dict[str, list[tuple[datetime, str]]]:
    """(published_at, id) of unlinked items per story hash, published in ``[lo, hi]``."""
    out: dict[str, list[tuple[datetime, str]]] = {}
    wanted = list(hashes)
    for i in range(0, len(wanted), _CHUNK):
        q = select(items.c.id, items.c.story_hash, items.c.published_at).where(
            items.c.story_hash.in_(wanted[i : i + _CHUNK]),
            items.c.published_at >= lo,
            items.c.published_at <= hi,
            items.c.duplicate_of.is_(None),
        )
        for row in conn.execute(q):
            out.setdefault(row.story_hash, []).append((as_utc(row.published_at), row.id))
    return out


def link_syndicated(conn: Connection, links: Mapping[str, str]) -> None:
    """``duplicate_of`` of each copy (key) := its first item (value)."""
    if not links:
        return
    stmt = update(items).where(items.c.id == bindparam("b_id")).values(duplicate_of=bindparam("b_first"))
    conn.execute(stmt, [{"b_id": copy, "b_first": first} for copy, first in links.items()])


def evidence(conn: Connection, key: KeyId, start: datetime, end: datetime, limit: int) -> list[Evidence]:
    """The most negative unique items of ``key`` in ``[start, end)``, most negative first."""
    kt, k = key
    q = select(items.c.id, items.c.text, items.c.source, items.c.score).where(
        items.c.label == "negative",
        items.c.duplicate_of.is_(None),
        items.c.published_at >= start,
        items.c.published_at < end,
    )
    if kt == "topic":
        q = q.where(items.c.topic == k)
    elif kt == "source":
        q = q.where(items.c.source == k)
    elif kt == "ticker":
        q = q.join(item_tickers, item_tickers.c.item_id == items.c.id).where(item_tickers.c.ticker == k)
    q = q.order_by(items.c.score.asc(), items.c.id).limit(limit)
    return [Evidence(id=r.id, text=r.text, source=r.source, score=float(r.score or 0.0)) for r in conn.execute(q)]
