"""Engines and the two dialects: SQLite (WAL, busy timeout) and PostgreSQL (psycopg, pre-ping).

Also the adapter edge for errors: :func:`translate` turns SQLAlchemy errors into
``finsentry.errors`` (unreachable -> :class:`StoreUnavailable`, anything else -> :class:`StoreError`).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry

from finsentry.errors import ConfigError, StoreError, StoreUnavailable

# The INSERT classes that support ON CONFLICT (both dialects spell the API the same way).
UpsertInsert = postgresql.Insert | sqlite.Insert


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
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


def translate(exc: SQLAlchemyError, what: str) -> StoreError:
    """The finsentry error for a library error: unreachable store vs anything else."""
    if isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
        detail = str(exc.orig if hasattr(exc, "orig") else exc).strip()[:300]
        return StoreUnavailable(f"{what}: store unreachable: {detail}")
    return StoreError(f"{what}: {type(exc).__name__}: {str(exc).strip()[:300]}")


def upsert_insert(conn: Connection, table: sa.Table) -> UpsertInsert:
    """``INSERT`` supporting ``on_conflict_do_nothing/update`` for the connection's dialect."""
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise ConfigError(f"unsupported store dialect {name!r} (use sqlite or postgresql)")
