"""The composition root: refuses unsigned webhooks and a too-short retention before starting anything,
and runs the retention job on its own thread (stopped with the service)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from app.root import build
from finsentry.errors import ConfigError
from finsentry.settings import Settings
from ingest.broker import EmbeddedBroker


def _retention_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "finsentry-retention" and t.is_alive()]


def test_build_starts_the_retention_thread_and_close_stops_it(
        tansu: EmbeddedBroker, sqlite_url: str, unique_name: Callable[[str], str]) -> None:
    s = Settings(kafka_bootstrap=tansu.bootstrap, store_url=sqlite_url, metrics_port=0, topic=[unique_name("news")],
                 alert_webhook_urls=["http://127.0.0.1:9/hook"], alert_webhook_secret="k")
    before = len(_retention_threads())
    running = build(s, threading.Event(), classifier_loader=lambda path: object())  # type: ignore[arg-type,return-value]
    try:
        assert len(_retention_threads()) == before + 1
    finally:
        running.close()
    assert len(_retention_threads()) == before


@pytest.mark.parametrize(("settings", "message"), [
    ({"alert_webhook_urls": ["http://127.0.0.1:9/hook"]}, "FINSENTRY_ALERT_WEBHOOK_UNSIGNED"),
    ({"retention_minute_buckets_days": 3}, "detector's horizon"),
])
def test_build_refuses_bad_settings_before_starting_anything(settings: dict[str, object], message: str) -> None:
    threads = {t.name for t in threading.enumerate()}
    with pytest.raises(ConfigError, match=message):
        build(Settings(kafka_bootstrap="127.0.0.1:9", **settings), threading.Event())  # type: ignore[arg-type]
    assert {t.name for t in threading.enumerate()} <= threads  # no broker, store or thread was started

