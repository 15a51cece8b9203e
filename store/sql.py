"""The store: one SQLAlchemy code path for SQLite (default, WAL) and PostgreSQL (psycopg).

    >>> store = Store("sqlite:///var/finsentry.db")      # creates / migrates the schema
    >>> new = store.write_batch(items, in_txn=monitor.in_transaction)

Writes are idempotent: ``INSERT .. ON CONFLICT DO NOTHING RETURNING id`` tells which items were
new, so a redelivered record never makes a second row and never counts twice in the rollups
(``in_txn`` runs in the same transaction and sees only the new items). Connection-level
failures become :class:`StoreUnavailable` (the caller retries and does not commit offsets).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from finsentry.errors import ConfigError, StoreError, StoreUnavailable
from finsentry.logs import get_logger
from finsentry.records import ScoredItem
from finsentry.timeutil import as_utc
from store.schema import (
    SCHEMA_VERSION,
    alerts,
    dead_letters,
    item_tickers,
    items,
    meta,
    metadata,
    pipeline_health,
)

log = get_logger(__name__)

InTxn = Callable[[Connection, list[ScoredItem]], None]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Where an invalid record came from and why it was rejected."""

    topic: str
    partition: int
    offset: int
    reason: str


def _utc(dt: datetime | None) -> datetime | None:
    return None if dt is None else as_utc(dt)


def item_row(it: ScoredItem) -> dict[str, Any]:
    return {
        "id": it.id, "text": it.text, "source": it.source, "url": it.url,
        "published_at": _utc(it.published_at), "ingested_at": _utc(it.ingested_at), "lang": it.lang,
        "label": it.label, "p_negative": it.p_negative, "p_neutral": it.p_neutral,
        "p_positive": it.p_positive, "score": it.score, "topic": it.topic,
        "topics": [[name, float(p)] for name, p in it.topics], "tickers": list(it.tickers),
        "model_version": it.model_version, "story_hash": it.story_hash, "duplicate_of": it.duplicate_of,
        "kafka_topic": it.kafka_topic, "kafka_partition": it.kafka_partition, "kafka_offset": it.kafka_offset,
    }


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 - DBAPI hook
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers (dashboard) never block the writer
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine with the right settings per dialect (SQLite WAL + busy timeout; PG pre-ping)."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"not an SQLAlchemy URL: {url!r}") from exc
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5,
                                connect_args={"connect_timeout": 5})
    return sa.create_engine(url, pool_pre_ping=True)


def _translate(exc: SQLAlchemyError, what: str) -> StoreError:
    if isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
        return StoreUnavailable(f"{what}: store unreachable: {str(exc.orig if hasattr(exc, 'orig') else exc).strip()[:300]}")
    return StoreError(f"{what}: {type(exc).__name__}: {str(exc).strip()[:300]}")


def _insert(conn: Connection, table: sa.Table):  # noqa: ANN202 - dialect-specific Insert
    """``INSERT`` supporting ``on_conflict_do_nothing`` for the connection's dialect."""
    name = conn.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise ConfigError(f"unsupported store dialect {name!r} (use sqlite or postgresql)")
    return insert(table)


class Store:
    """Items, dead letters, health and status over one engine; schema created/migrated on start."""

    def __init__(self, url: str, create: bool = True) -> None:
        self.url = url
        self._engine = make_engine(url)
        if create:
            self.migrate()

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def safe_url(self) -> str:
        return self._engine.url.render_as_string(hide_password=True)

    # --- schema ------------------------------------------------------------------------
    def migrate(self, attempts: int = 5) -> None:
        """Create missing tables and add missing (nullable) columns: additive migrations only.

        Several instances may start at once: on PostgreSQL an advisory lock serialises them; on
        SQLite a concurrent creator's "already exists" is retried.
        """
        for attempt in range(attempts):
            try:
                self._migrate_once()
                break
            except StoreError as exc:
                if isinstance(exc, StoreUnavailable) and "already exists" not in str(exc) or attempt == attempts - 1:
                    raise
                log.info("store.migration_retry", attempt=attempt + 1, error=str(exc)[:200])
                time.sleep(0.2 * (attempt + 1))
        log.info("store.ready", url=self.safe_url(), dialect=self.dialect, schema_version=SCHEMA_VERSION)

    def _migrate_once(self) -> None:
        try:
            with self._engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(7243911)"))  # finsentry schema lock
                metadata.create_all(conn, checkfirst=True)
                insp = sa.inspect(conn)
                for table in metadata.sorted_tables:
                    have = {c["name"] for c in insp.get_columns(table.name)}
                    for col in table.columns:
                        if col.name in have:
                            continue
                        ddl = col.type.compile(dialect=conn.dialect)
                        conn.execute(sa.text(f'ALTER TABLE {table.name} ADD COLUMN "{col.name}" {ddl}'))
                        log.info("store.column_added", table=table.name, column=col.name)
                upsert = _insert(conn, meta).values(key="schema_version", value=str(SCHEMA_VERSION))
                conn.execute(upsert.on_conflict_do_update(index_elements=["key"], set_={"value": str(SCHEMA_VERSION)}))
        except SQLAlchemyError as exc:
            raise _translate(exc, "schema migration failed") from exc

    # --- writes ------------------------------------------------------------------------
    def write_batch(self, batch: Sequence[ScoredItem], in_txn: InTxn | None = None) -> list[ScoredItem]:
        """Insert ``batch`` idempotently; return the items that were new (in input order).

        Ticker rows are written for the new items, then ``in_txn(conn, new_items)`` runs inside
        the same transaction; if it raises, nothing of the batch is kept.
        """
        unique: dict[str, ScoredItem] = {}
        for it in batch:
            unique.setdefault(it.id, it)
        if not unique:
            return []
        try:
            with self._engine.begin() as conn:
                stmt = _insert(conn, items).on_conflict_do_nothing(index_elements=["id"]).returning(items.c.id)
                inserted = set(conn.execute(stmt, [item_row(it) for it in unique.values()]).scalars().all())
                new_items = [it for it in unique.values() if it.id in inserted]
                ticker_rows = [
                    {"item_id": it.id, "ticker": t, "published_at": _utc(it.published_at)}
                    for it in new_items for t in dict.fromkeys(it.tickers)
                ]
                if ticker_rows:
                    conn.execute(_insert(conn, item_tickers).on_conflict_do_nothing(), ticker_rows)
                if in_txn is not None:
                    in_txn(conn, new_items)
        except SQLAlchemyError as exc:
            raise _translate(exc, "write_batch") from exc
        return new_items

    def record_dead_letters(self, rows: Sequence[DeadLetter], seen_at: datetime | None = None) -> None:
        """Remember dead-lettered records (idempotent per topic/partition/offset)."""
        if not rows:
            return
        now = _utc(seen_at) or datetime.now(UTC)
        values = [{"topic": r.topic, "partition": r.partition, "offset": r.offset, "reason": r.reason,
                   "seen_at": now} for r in rows]
        try:
            with self._engine.begin() as conn:
                conn.execute(_insert(conn, dead_letters).on_conflict_do_nothing(), values)
        except SQLAlchemyError as exc:
            raise _translate(exc, "record_dead_letters") from exc

    def upsert_health(self, instance: str, **fields: Any) -> None:
        """Write this consumer's health snapshot (consumed, processed, dead_lettered, lag, ...)."""
        row = {"instance": instance, "updated_at": datetime.now(UTC), **fields}
        try:
            with self._engine.begin() as conn:
                stmt = _insert(conn, pipeline_health).values(**row)
                conn.execute(stmt.on_conflict_do_update(
                    index_elements=["instance"], set_={k: v for k, v in row.items() if k != "instance"}))
        except SQLAlchemyError as exc:
            raise _translate(exc, "upsert_health") from exc

    # --- reads -------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Counts for ``finsentry status``: items, by label, dead letters, alerts, last item time."""
        try:
            with self._engine.connect() as conn:
                n_items = conn.execute(sa.select(sa.func.count()).select_from(items)).scalar_one()
                by_label = {
                    (label or "unscored"): n
                    for label, n in conn.execute(sa.select(items.c.label, sa.func.count()).group_by(items.c.label))
                }
                by_reason = dict(conn.execute(
                    sa.select(dead_letters.c.reason, sa.func.count()).group_by(dead_letters.c.reason)).all())
                alert_rows = dict(conn.execute(
                    sa.select(alerts.c.status, sa.func.count()).group_by(alerts.c.status)).all())
                last_pub, last_ing = conn.execute(
                    sa.select(sa.func.max(items.c.published_at), sa.func.max(items.c.ingested_at))).one()
                consumers = conn.execute(sa.select(sa.func.count()).select_from(pipeline_health)).scalar_one()
        except SQLAlchemyError as exc:
            raise _translate(exc, "status") from exc
        iso = lambda d: _utc(d).isoformat() if d is not None else None  # noqa: E731
        return {
            "items": int(n_items),
            "by_label": {k: int(v) for k, v in sorted(by_label.items())},
            "dead_lettered": int(sum(by_reason.values())),
            "dead_lettered_by_reason": {k: int(v) for k, v in sorted(by_reason.items())},
            "alerts": int(sum(alert_rows.values())),
            "alerts_firing": int(alert_rows.get("firing", 0)),
            "last_published_at": iso(last_pub),
            "last_ingested_at": iso(last_ing),
            "consumers": int(consumers),
        }

    def close(self) -> None:
        self._engine.dispose()
