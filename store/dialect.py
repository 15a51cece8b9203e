"""Engines and the two dialects: SQLite (WAL, ``synchronous=FULL``, busy timeout) and PostgreSQL
(psycopg, pre-ping, server-side statement and idle-in-transaction timeouts).

SQLite runs ``synchronous=FULL``: the loop commits Kafka offsets right after a store write, so
the write must be on disk when it returns; with NORMAL a power loss can drop the last committed
transactions of the WAL while their offsets are already committed (lost, never re-read).

Also the adapter edge for errors: :func:`translate` turns SQLAlchemy errors into
``finsentry.errors`` (no permission -> :class:`StorePermissionDenied`, unreachable ->
:class:`StoreUnavailable`, anything else -> :class:`StoreError`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry

from finsentry.errors import ConfigError, StoreError, StorePermissionDenied, StoreUnavailable

# The INSERT classes that support ON CONFLICT (both dialects spell the API the same way).
UpsertInsert = postgresql.Insert | sqlite.Insert


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers (dashboard) never block the writer
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=FULL")  # durable at commit (see the module docstring)
    cur.close()


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """PostgreSQL server-side limits (seconds, 0 = none); from ``FINSENTRY_STORE_*`` in app.root."""

    statement_timeout_s: float = 30.0
    idle_in_transaction_timeout_s: float = 60.0


def pg_options(opts: EngineOptions) -> str:
    """libpq ``options`` setting both timeouts for every session of the pool (milliseconds)."""
    return (f"-c statement_timeout={round(opts.statement_timeout_s * 1000)} "
            f"-c idle_in_transaction_session_timeout={round(opts.idle_in_transaction_timeout_s * 1000)}")


def _merged_options(parsed: sa.engine.URL, opts: EngineOptions) -> str:
    """Ours first, then any ``?options=`` of the URL (the later ``-c`` wins: the URL can override)."""
    given = parsed.query.get("options")
    extra = " ".join(given) if isinstance(given, tuple) else (given or "")
    return f"{pg_options(opts)} {extra}".strip()


def make_engine(url: str, options: EngineOptions | None = None) -> Engine:
    """An engine with the right settings per dialect (SQLite WAL + FULL sync + busy timeout;
    PostgreSQL pre-ping + statement/idle-in-transaction timeouts, defaults when ``options`` is None)."""
    opts = options or EngineOptions()
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
                                connect_args={"connect_timeout": 5, "options": _merged_options(parsed, opts)})
    return sa.create_engine(url, pool_pre_ping=True)


# PostgreSQL insufficient_privilege; SQLite's words for a read-only file or directory.
_PG_NO_PERMISSION = "42501"
_SQLITE_NO_PERMISSION = ("readonly database", "unable to open database file", "permission denied")


def _permission_denied(exc: SQLAlchemyError) -> bool:
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) == _PG_NO_PERMISSION:
        return True
    text = str(orig if orig is not None else exc).lower()
    return any(w in text for w in _SQLITE_NO_PERMISSION)


def translate(exc: SQLAlchemyError, what: str) -> StoreError:
    """The finsentry error for a library error: no permission (an outage, never a bad record),
    unreachable store, or anything else."""
    if isinstance(exc, DBAPIError) and _permission_denied(exc):
        detail = str(exc.orig if hasattr(exc, "orig") else exc).strip()[:300]
        return StorePermissionDenied(f"{what}: store refuses writes (permission): {detail}")
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
