"""Shared fixtures: free loopback ports, a real Tansu broker, SQLite and PostgreSQL stores.

    def test_x(tansu, kafka_topic, store_url): ...

- ``free_port`` -> int, ``free_port_factory`` -> callable returning a fresh port each call.
- ``tansu`` (session): a running embedded broker (``.bootstrap`` = "127.0.0.1:PORT"). Its storage
  is in memory and shared by the session: use unique topic/group names (``kafka_topic``,
  ``unique_name``).
- ``kafka_topic``: a fresh 4-partition topic on ``tansu``; ``make_topic(name=None, partitions=4)``
  for more.
- ``sqlite_url``: a fresh SQLite file; ``pg_url``: a fresh PostgreSQL database (dropped after);
  ``store_url``: parametrized over both.

PostgreSQL: ``FINSENTRY_TEST_PG`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``)
is the admin database used to create throw-away databases. When it is unreachable the PostgreSQL
variants are skipped, unless ``FINSENTRY_REQUIRE_PG=1`` (then they fail).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

from ingest.broker import EmbeddedBroker
from ingest.broker import free_port as _free_port

PG_ADMIN_URL = os.environ.get("FINSENTRY_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def free_port() -> int:
    return _free_port()


@pytest.fixture
def free_port_factory() -> Callable[[], int]:
    return _free_port


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """``unique_name("grp")`` -> "grp-1a2b3c4d" (topics and groups on the shared broker)."""
    return lambda prefix="t": f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def tansu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    log_file = tmp_path_factory.mktemp("tansu") / "broker.log"
    broker = EmbeddedBroker(log_file=log_file).start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def make_topic(tansu: EmbeddedBroker) -> Callable[..., str]:
    from ingest.kafka_io import ensure_topics

    def make(name: str | None = None, partitions: int = 4) -> str:
        name = name or f"t-{uuid.uuid4().hex[:8]}"
        ensure_topics(tansu.bootstrap, [name], partitions=partitions)
        return name

    return make


@pytest.fixture
def kafka_topic(make_topic: Callable[..., str]) -> str:
    return make_topic()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


def _pg_reachable() -> str | None:
    import psycopg

    dsn = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(dsn, connect_timeout=3):
            return None
    except Exception as exc:  # noqa: BLE001 - any reason means "no PostgreSQL here"
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database (dropped after the test)."""
    import psycopg

    problem = _pg_reachable()
    if problem:
        if os.environ.get("FINSENTRY_REQUIRE_PG") == "1":
            pytest.fail(f"PostgreSQL required but unreachable at {PG_ADMIN_URL}: {problem}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_URL}: {problem}")
    admin = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    db = f"fs_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    try:
        yield f"{base}/{db}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str:
    """The same test on SQLite and on PostgreSQL."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
