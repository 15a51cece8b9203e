"""The store: one SQLAlchemy code path for SQLite (default, WAL) and PostgreSQL (psycopg).

    >>> store = Store("sqlite:///var/finsentry.db")      # creates / migrates the schema
    >>> new = store.write_batch(items, in_txn=monitor.in_transaction)

Writes are idempotent: a redelivered record never makes a second row and never counts twice
in the rollups (``in_txn`` runs in the same transaction, gets a :class:`SqlTransaction` and
sees only the new items). Every read and write the service, the monitor and the notifier
need is a named method here; the SQL lives in ``store.items``, ``store.buckets`` and
``store.alerts`` (the dashboard's reads in ``store.reads``). Connection-level failures become
:class:`StoreUnavailable` (the caller retries and does not commit offsets).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from finsentry.errors import SchemaVersionError, StoreError, StoreUnavailable
from finsentry.logs import get_logger
from finsentry.records import AlertEvent, Counts, KeyId, ScoredItem
from finsentry.timeutil import as_utc
from store import alerts as stored_alerts
from store import buckets as stored_buckets
from store import items as stored_items
from store import watermarks as stored_watermarks
from store.dialect import make_engine, translate, upsert_insert
from store.protocol import LEASE, DeadLetter, FiringEpisode, HealthValue, InTxn, OutboxRow
from store.schema import SCHEMA_VERSION, alerts, dead_letters, items, meta, metadata, pipeline_health
from store.txn import SqlTransaction

log = get_logger(__name__)


def _iso(dt: datetime | None) -> str | None:
    return as_utc(dt).isoformat() if dt is not None else None


class Store:
    """Items, buckets, alerts + outbox, dead letters, health and status over one engine."""

    def __init__(self, url: str, create: bool = True, *, engine: Engine | None = None) -> None:
        self.url = url
        self._engine = engine if engine is not None else make_engine(url)
        self._owns_engine = engine is None
        if create:
            try:
                self.migrate()
            except BaseException:
                self.close()  # a store that failed to open keeps no pooled connection
                raise

    @classmethod
    def open_existing(cls, url: str) -> Store:
        """A store that must already exist (read-only commands): never creates a file or a schema.

        Opening a relative SQLite path from another directory used to create an empty store there
        and report 0 items; now that is a clear error naming the absolute path it looked at.
        """
        parsed = sa.engine.make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            path = Path(str(parsed.database)).resolve()
            if not path.is_file():
                raise StoreError(f"no store at {path}: start `finsentry run` (or `make run`) first, "
                                 "or pass --store / FINSENTRY_STORE_URL")
        from store import reads  # pandas: only read-only commands pay for it, never the service

        store = cls(url, create=False)
        try:
            try:
                found = reads.has_schema(store.engine)  # the check the dashboard makes, too
            except SQLAlchemyError as exc:
                raise translate(exc, "open") from exc
            if not found:
                raise StoreError(f"{store.safe_url()} holds no finsentry tables: start `finsentry run` first")
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def from_engine(cls, engine: Engine) -> Store:
        """A store over an engine someone else made (and disposes); the schema is not touched."""
        return cls(engine.url.render_as_string(hide_password=False), create=False, engine=engine)

    @property
    def engine(self) -> Engine:
        """The engine (for the store's own tests and tools; callers use the named methods)."""
        return self._engine

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def safe_url(self) -> str:
        return self._engine.url.render_as_string(hide_password=True)

    # --- connections ---------------------------------------------------------------------
    @contextmanager
    def _reading(self, what: str) -> Iterator[Connection]:
        try:
            with self._engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise translate(exc, what) from exc

    @contextmanager
    def _writing(self, what: str) -> Iterator[Connection]:
        try:
            with self._engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise translate(exc, what) from exc

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        """One write transaction with named operations; rolled back if the block raises."""
        with self._writing("transaction") as conn:
            yield SqlTransaction(conn)

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
            except SchemaVersionError:
                raise
            except StoreError as exc:
                # Concurrent first starts race on CREATE TABLE: "already exists" (PostgreSQL, SQLite) or
                # "database is locked" past the busy timeout (SQLite on a loaded machine) are retried.
                racing = "already exists" in str(exc) or "database is locked" in str(exc)
                if isinstance(exc, StoreUnavailable) and not racing or attempt == attempts - 1:
                    raise
                log.info("store.migration_retry", attempt=attempt + 1, error=str(exc)[:200])
                time.sleep(0.2 * (attempt + 1))
        log.info("store.ready", url=self.safe_url(), dialect=self.dialect, schema_version=SCHEMA_VERSION)

    def _migrate_once(self) -> None:
        with self._writing("schema migration failed") as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(7243911)"))  # finsentry schema lock
            metadata.create_all(conn, checkfirst=True)
            found = conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
            if found is not None and found.isdigit() and int(found) > SCHEMA_VERSION:
                # Migrations are additive only: an older binary would silently ignore newer columns.
                raise SchemaVersionError(
                    f"the store {self.safe_url()} has schema version {found}, newer than this finsentry "
                    f"understands ({SCHEMA_VERSION}): upgrade finsentry, or point it at another store")
            insp = sa.inspect(conn)
            for table in metadata.sorted_tables:
                have = {c["name"] for c in insp.get_columns(table.name)}
                for col in table.columns:
                    if col.name in have:
                        continue
                    ddl = col.type.compile(dialect=conn.dialect)
                    conn.execute(sa.text(f'ALTER TABLE {table.name} ADD COLUMN "{col.name}" {ddl}'))
                    log.info("store.column_added", table=table.name, column=col.name)
                for index in table.indexes:  # an index on a column a newer version added
                    if index.name not in {i["name"] for i in insp.get_indexes(table.name)}:
                        index.create(conn, checkfirst=True)
                        log.info("store.index_added", table=table.name, index=index.name)
            upsert = upsert_insert(conn, meta).values(key="schema_version", value=str(SCHEMA_VERSION))
            conn.execute(upsert.on_conflict_do_update(index_elements=["key"], set_={"value": str(SCHEMA_VERSION)}))

    # --- ingest writes -------------------------------------------------------------------
    def write_batch(self, batch: Sequence[ScoredItem], in_txn: InTxn | None = None) -> list[ScoredItem]:
        """Insert ``batch`` idempotently; return the items that were new (in input order).

        Ticker rows are written for the new items, then ``in_txn(txn, new_items)`` runs inside
        the same transaction; if it raises, nothing of the batch is kept.
        """
        unique: dict[str, ScoredItem] = {}
        for it in batch:
            unique.setdefault(it.id, it)
        if not unique:
            return []
        with self._writing("write_batch") as conn:
            new_items = stored_items.insert_new(conn, unique.values())
            if in_txn is not None:
                in_txn(SqlTransaction(conn), new_items)
        return new_items

    def record_dead_letters(self, rows: Sequence[DeadLetter], seen_at: datetime | None = None) -> None:
        """Remember dead-lettered records (idempotent per topic/partition/offset)."""
        if not rows:
            return
        now = as_utc(seen_at) if seen_at is not None else datetime.now(UTC)
        values = [{"topic": r.topic, "partition": r.partition, "offset": r.offset, "reason": r.reason,
                   "seen_at": now} for r in rows]
        with self._writing("record_dead_letters") as conn:
            conn.execute(upsert_insert(conn, dead_letters).on_conflict_do_nothing(), values)

    def upsert_health(self, instance: str, **fields: HealthValue) -> None:
        """Write this consumer's health snapshot (consumed, processed, dead_lettered, lag, ...)."""
        row = {"instance": instance, "updated_at": datetime.now(UTC), **fields}
        with self._writing("upsert_health") as conn:
            stmt = upsert_insert(conn, pipeline_health).values(**row)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["instance"], set_={k: v for k, v in row.items() if k != "instance"}))

    # --- monitor reads -------------------------------------------------------------------
    def latest_bucket_start(self, at_most: datetime | None = None) -> datetime | None:
        """Start of the newest whole-stream bucket (not after ``at_most`` when given)."""
        with self._reading("latest_bucket_start") as conn:
            return stored_buckets.latest_bucket_start(conn, at_most)

    def load_watermarks(self, updated_since: datetime | None = None) -> dict[tuple[str, int], datetime]:
        """Persisted watermarks per (topic, partition), ``("*", -1)`` the stream's; with
        ``updated_since``, only rows written since then."""
        with self._reading("load_watermarks") as conn:
            return stored_watermarks.load(conn, updated_since)

    def next_held(self) -> datetime | None:
        """Event time of the earliest held (future-dated) item."""
        with self._reading("next_held") as conn:
            return stored_watermarks.next_held(conn)

    def firing_episodes(self) -> list[FiringEpisode]:
        with self._reading("firing_episodes") as conn:
            return stored_alerts.firing_episodes(conn)

    def read_series_many(
        self, keys: Iterable[KeyId], start: datetime, end: datetime
    ) -> dict[KeyId, dict[datetime, Counts]]:
        """Stored buckets of several keys with ``start <= bucket_start < end``."""
        with self._reading("read_series") as conn:
            return stored_buckets.read_series_many(conn, keys, start, end)

    def read_series(self, key: KeyId, start: datetime, end: datetime) -> list[tuple[datetime, Counts]]:
        """One key's stored buckets in ``[start, end)``, oldest first."""
        return sorted(self.read_series_many([key], start, end).get(key, {}).items())

    def top_keys(self, key_type: str, start: datetime, end: datetime, limit: int) -> list[tuple[str, int]]:
        """The ``limit`` keys of one type with the most unique items in ``[start, end)``."""
        with self._reading("top_keys") as conn:
            return stored_buckets.top_keys(conn, key_type, start, end, limit)

    def negatives_by_type(self, key_type: str, start: datetime, end: datetime) -> tuple[int, int]:
        """Negatives of all keys of ``key_type`` in ``[start, end)`` and the number of keys with any."""
        with self._reading("negatives_by_type") as conn:
            return stored_buckets.negatives_by_type(conn, key_type, start, end)

    # --- alert outbox (each call its own transaction) ------------------------------------
    def claim_due(self, now: datetime, limit: int = 100, lease: timedelta = LEASE) -> list[OutboxRow]:
        """Lease up to ``limit`` due outbox rows to this caller; returns them oldest first."""
        with self._writing("claim_due") as conn:
            return stored_alerts.claim_due(conn, now, limit, lease)

    def mark_delivered(self, row_id: int, now: datetime) -> None:
        with self._writing("mark_delivered") as conn:
            stored_alerts.mark_delivered(conn, row_id, now)

    def mark_failed(self, row_id: int, next_attempt_at: datetime, error: str) -> None:
        with self._writing("mark_failed") as conn:
            stored_alerts.mark_failed(conn, row_id, next_attempt_at, error)

    def release(self, row_id: int, at: datetime) -> None:
        """Give back a claimed row that was not attempted (the attempt is not counted)."""
        with self._writing("release") as conn:
            stored_alerts.release(conn, row_id, at)

    def fail_final(self, row_id: int, now: datetime, reason: str, error: str | None = None) -> None:
        """Final state *failed*: the row is never claimed again."""
        with self._writing("fail_final") as conn:
            stored_alerts.fail_final(conn, row_id, now, reason, error)

    def expire_outbox(self, now: datetime, max_attempts: int, max_age: timedelta,
                      targets: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """Mark open rows failed (target removed, too old, out of attempts): ``(channel, reason)`` each."""
        with self._writing("expire_outbox") as conn:
            return stored_alerts.expire(conn, now, max_attempts, max_age, targets)

    def pending_count(self) -> int:
        with self._reading("pending_count") as conn:
            return stored_alerts.pending_count(conn)

    def delivered_firing(self, target: str, limit: int = 1000) -> list[AlertEvent]:
        """Firing episodes whose firing notification reached ``target``, newest onset first."""
        with self._reading("delivered_firing") as conn:
            return stored_alerts.delivered_firing(conn, target, limit)

    def not_firing(self, alert_ids: Sequence[str]) -> list[AlertEvent]:
        with self._reading("not_firing") as conn:
            return stored_alerts.not_firing(conn, alert_ids)

    # --- status --------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Counts for ``finsentry status``: items, by label, dead letters, alerts, last item time."""
        with self._reading("status") as conn:
            n_items = conn.execute(sa.select(sa.func.count()).select_from(items)).scalar_one()
            by_label = {
                (label or "unscored"): n
                for label, n in conn.execute(sa.select(items.c.label, sa.func.count()).group_by(items.c.label))
            }
            by_reason: dict[str, int] = {
                reason: n for reason, n in conn.execute(
                    sa.select(dead_letters.c.reason, sa.func.count()).group_by(dead_letters.c.reason))
            }
            alert_rows: dict[str, int] = {
                status: n for status, n in conn.execute(
                    sa.select(alerts.c.status, sa.func.count()).group_by(alerts.c.status))
            }
            last_pub, last_ing = conn.execute(
                sa.select(sa.func.max(items.c.published_at), sa.func.max(items.c.ingested_at))).one()
            consumers = conn.execute(sa.select(sa.func.count()).select_from(pipeline_health)).scalar_one()
        return {
            "items": int(n_items),
            "by_label": {k: int(v) for k, v in sorted(by_label.items())},
            "dead_lettered": int(sum(by_reason.values())),
            "dead_lettered_by_reason": {k: int(v) for k, v in sorted(by_reason.items())},
            "alerts": int(sum(alert_rows.values())),
            "alerts_firing": int(alert_rows.get("firing", 0)),
            "last_published_at": _iso(last_pub),
            "last_ingested_at": _iso(last_ing),
            "consumers": int(consumers),
        }

    def close(self) -> None:
        if self._owns_engine:
            self._engine.dispose()
