"""A planted secret never leaves the process: not in `finsentry config`, the logs, the stored
delivery errors, nor what the dashboard reads (store.reads)."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from finsentry.metrics import Metrics
from finsentry.redact import redact_text, redact_url
from finsentry.retry import Backoff
from ingest.broker import free_port
from monitor.alerting import Notifier
from store import Store
from store.reads import delivery
from store.schema import alert_outbox
from tests.alerting.conftest import T0, firing, make_settings

PASSWORD = "pl4nted-Passw0rd"
PATH_TOKEN = "Tk9pLaNtEd0123456789abcd"
QUERY_TOKEN = "qt-planted-987"
SECRETS = (PASSWORD, PATH_TOKEN, QUERY_TOKEN)


def hook_url() -> str:
    # nothing listens on this port: every delivery fails and its error is stored and logged
    return f"http://127.0.0.1:{free_port()}/services/T01/{PATH_TOKEN}?token={QUERY_TOKEN}&team=risk"


def assert_clean(text: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"secret(s) {leaked} in: {text[:500]}"


@pytest.mark.parametrize("url", [
    f"postgresql+psycopg://app:{PASSWORD}@db:5432/finsentry",
    f"https://hooks.example.com/services/T01/{PATH_TOKEN}?token={QUERY_TOKEN}",
    f"https://{PATH_TOKEN}@alerts.example.com/api",
])
def test_redact_url_masks_every_place_a_url_carries_a_secret(url: str) -> None:
    from urllib.parse import urlsplit

    assert_clean(redact_url(url))
    parts = urlsplit(url)
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    assert_clean(redact_text(f"POST {url}: refused (Max retries exceeded with url: {tail})", [url]))
    assert_clean(redact_url(json.dumps([url, url])))  # not one URL: still nothing secret shown
    assert redact_url(url).split("://")[0] == url.split("://")[0]  # still says what kind of target


def test_config_output_masks_urls_and_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.cli import app

    monkeypatch.setenv("FINSENTRY_STORE_URL", f"postgresql+psycopg://app:{PASSWORD}@db:5432/finsentry")
    monkeypatch.setenv("FINSENTRY_ALERT_WEBHOOK_URLS", f"{hook_url()},{hook_url()}")
    monkeypatch.setenv("FINSENTRY_ALERTMANAGER_URL", f"http://am:{PASSWORD}@am.example:9093")
    monkeypatch.setenv("FINSENTRY_ALERT_WEBHOOK_SECRET", PASSWORD)
    for args in (["config"], ["config", "--json"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "FINSENTRY_STORE_URL" in result.output or "store_url" in result.output
        assert_clean(result.output)


def test_delivery_errors_in_logs_store_and_dashboard_reads_are_masked(
    tmp_path: Path,
) -> None:
    from structlog.testing import capture_logs

    url = hook_url()
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    sqlite_engine: Engine = store.engine
    n = Notifier.from_settings(make_settings(alert_webhook_urls=[url]), Store.from_engine(sqlite_engine),
                               Metrics(CollectorRegistry()), lambda: T0 + timedelta(minutes=2),
                               backoff=Backoff(base_s=1.0, cap_s=8.0), rng=random.Random(7))
    event = firing()
    with Store.from_engine(sqlite_engine).transaction() as txn:
        n.record(txn, [event])
    with capture_logs() as logs:
        assert n.deliver_due(T0 + timedelta(minutes=2)) == 0  # refused: nothing listens
    with sqlite_engine.connect() as conn:
        errors = [r.last_error for r in conn.execute(select(alert_outbox.c.last_error))]
    assert errors and all(errors)
    for e in errors:
        assert_clean(e)
    shown = delivery(sqlite_engine, [event.alert_id])
    assert_clean(shown.to_csv())
    assert any(e["event"] == "alert.delivery_failed" for e in logs)
    assert_clean(repr(logs))
    store.close()
