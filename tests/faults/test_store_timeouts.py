"""No database can stall the consumer, and nothing committed is lost: SQLite syncs at every commit
(offsets are committed right after the write), PostgreSQL cancels hung statements and ends
sessions left idle inside a transaction (server-side limits set on every pooled connection)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from finsentry.errors import StoreUnavailable
from finsentry.settings import Settings
from store import Store
from store.dialect import EngineOptions, make_engine, pg_options, translate


def test_sqlite_is_wal_and_synchronous_full(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL (NORMAL is 1)
    finally:
        engine.dispose()


def test_the_timeouts_are_settings_with_safe_defaults() -> None:
    s = Settings()
    assert (s.store_statement_timeout_s, s.store_idle_in_transaction_timeout_s) == (30.0, 60.0)
    assert pg_options(EngineOptions(30, 60)) == (
        "-c statement_timeout=30000 -c idle_in_transaction_session_timeout=60000")
    assert "statement_timeout=0 " in pg_options(EngineOptions(0, 0))  # 0 = no limit, as PostgreSQL reads it


def test_postgresql_sessions_carry_both_timeouts(pg_url: str) -> None:
    engine = make_engine(pg_url, EngineOptions(statement_timeout_s=30, idle_in_transaction_timeout_s=60))
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "30s"
            assert conn.exec_driver_sql("SHOW idle_in_transaction_session_timeout").scalar() == "1min"
    finally:
        engine.dispose()


def test_url_options_still_apply_after_ours(pg_url: str) -> None:
    engine = make_engine(pg_url + "?options=-c%20statement_timeout%3D5000", EngineOptions(30, 60))
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "5s"
            assert conn.exec_driver_sql("SHOW idle_in_transaction_session_timeout").scalar() == "1min"
    finally:
        engine.dispose()


def test_a_hung_statement_is_cancelled_and_reads_as_an_outage(pg_url: str) -> None:
    """The loop treats StoreUnavailable as an outage: rewind, back off, re-read. So a statement
    the server cancels never blocks the partition, and nothing is committed for it."""
    engine = make_engine(pg_url, EngineOptions(statement_timeout_s=0.2, idle_in_transaction_timeout_s=60))
    try:
        with pytest.raises(OperationalError) as err, engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_sleep(30)"))
        assert "statement timeout" in str(err.value)
        assert isinstance(translate(err.value, "write"), StoreUnavailable)
        with engine.connect() as conn:  # the pool still works afterwards
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def test_the_store_opens_over_an_engine_with_timeouts(pg_url: str) -> None:
    engine = make_engine(pg_url, EngineOptions(10, 20))
    store = Store(pg_url, engine=engine)  # what app.root does: schema created over that engine
    try:
        assert store.status()["items"] == 0
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "10s"
    finally:
        store.close()
        engine.dispose()
