"""Fixtures of the alerting tests: stores (SQLite file, real PostgreSQL), receivers, events."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, create_engine, text

from finsentry.records import AlertEvent, Evidence
from finsentry.settings import Settings
from store.schema import metadata
from tests.alerting.receiver import Receiver

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
T0 = datetime(2023, 3, 10, 14, 0, tzinfo=UTC)


@pytest.fixture
def sqlite_engine(tmp_path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path}/store.db")
    metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    """A private database on the real PostgreSQL (other tests share the ``test`` database)."""
    name = f"finsentry_alerting_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        admin.dispose()
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is required: {exc}")
    engine = create_engine(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    metadata.create_all(engine)
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "pg"])
def engine(request) -> Engine:
    return request.getfixturevalue(f"{request.param}_engine")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def make_settings(**kw: object) -> Settings:
    base: dict[str, object] = {"alert_webhook_secret": "s3cret", "external_url": "http://dash.local:8501"}
    base.update(kw)
    return Settings(**base)


def firing(key: str = "SIVB", key_type: str = "ticker", onset: datetime = T0, severity: str = "critical") -> AlertEvent:
    return AlertEvent(
        alert_id=f"{key_type}:{key}:{onset.isoformat()}",
        status="firing",
        key_type=key_type,  # type: ignore[arg-type]
        key=key,
        severity=severity,  # type: ignore[arg-type]
        started_at=onset,
        resolved_at=None,
        figures={"negative_share": 0.72, "baseline_negative_share": 0.18, "z": 6.3, "window_items": 41.0},
        evidence=(Evidence("n1", "SVB shares plunge after capital raise", "CNBC", -0.93),),
    )


def resolved(event: AlertEvent, after: timedelta = timedelta(minutes=30)) -> AlertEvent:
    return AlertEvent(
        alert_id=event.alert_id,
        status="resolved",
        key_type=event.key_type,
        key=event.key,
        severity="warning",  # deliberately different: the stored episode's labels must win
        started_at=event.started_at,
        resolved_at=event.started_at + after,
        figures={"negative_share": 0.2, "baseline_negative_share": 0.18, "z": 0.4},
    )
