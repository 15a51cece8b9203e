"""Bounded outbox attempts (SQLite file and real PostgreSQL): after max_attempts, max_age or when its
target left the configuration a notification is *failed* for good, counted, and shown by the read."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, select

from finsentry.errors import DeliveryError
from finsentry.metrics import Metrics
from monitor.alerting import Backoff, Notifier
from store import Store
from store.reads.alerts import failed_deliveries
from store.schema import alert_outbox
from tests.alerting.conftest import firing, make_settings, resolved
from tests.alerting.receiver import Receiver
from tests.alerting.test_outbox import Clock
from tests.support.memory_store import MemoryStore

FAILED = "finsentry_alert_notifications_failed_total"


def _notifier(engine: Engine, urls: list[str], clock: Clock, metrics: Metrics, **kw: object) -> Notifier:
    return Notifier.from_settings(make_settings(alert_webhook_urls=urls, **kw), Store.from_engine(engine), metrics,
                                  clock, backoff=Backoff(base_s=1.0, cap_s=8.0), rng=random.Random(3))


def _rows(engine: Engine) -> list[tuple[str, int, str | None, str | None]]:
    o = alert_outbox
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(  # type: ignore[misc]
            select(o.c.status, o.c.attempts, o.c.failed_reason, o.c.delivered_at).order_by(o.c.id))]


def test_max_attempts_fails_for_good_and_the_resolve_is_not_held_back(engine: Engine) -> None:
    rx = Receiver()  # not started: connection refused
    clock, metrics = Clock(), Metrics(CollectorRegistry())
    n = _notifier(engine, [rx.url], clock, metrics, alert_max_attempts=3)
    ev = firing()
    with Store.from_engine(engine).transaction() as txn:
        n.record(txn, [ev])
    for _ in range(5):
        assert n.deliver_due(clock()) == 0
        clock.advance(60)
    assert _rows(engine) == [("firing", 3, "max_attempts", None)]  # three POSTs, then never again
    assert metrics.registry.get_sample_value(FAILED, {"channel": "webhook", "reason": "max_attempts"}) == 1
    assert metrics.registry.get_sample_value("finsentry_alert_outbox_pending") == 0
    # The receiver comes back: the failed firing is not re-sent, the later resolve is delivered.
    rx.start()
    try:
        with Store.from_engine(engine).transaction() as txn:
            n.record(txn, [resolved(ev)])
        assert n.deliver_due(clock()) == 1
        assert [r.json()["status"] for r in rx.wait_for(1)] == ["resolved"]
    finally:
        rx.stop()
        n.close()
    shown = failed_deliveries(engine)
    assert list(shown["failed_reason"]) == ["max_attempts"]
    assert "ConnectionRefusedError" in shown["last_error"].iloc[0]


def test_max_age_fails_a_notification_queued_too_long_ago(engine: Engine) -> None:
    rx = Receiver()
    clock, metrics = Clock(), Metrics(CollectorRegistry())
    n = _notifier(engine, [rx.url], clock, metrics, alert_max_age_s=3600)
    with Store.from_engine(engine).transaction() as txn:
        n.record(txn, [firing()])
    assert n.deliver_due(clock()) == 0  # refused: retried later
    clock.advance(3599)
    n.deliver_due(clock())
    assert _rows(engine)[0][2] is None  # not yet: still within the hour
    clock.advance(31)  # expiry is checked at most every 30 s (EXPIRE_EVERY)
    rx.start()  # even with the receiver back, an hour-old notification is not sent any more
    try:
        assert n.deliver_due(clock()) == 0
        assert rx.received == []
    finally:
        rx.stop()
        n.close()
    assert _rows(engine)[0][2] == "max_age"
    assert metrics.registry.get_sample_value(FAILED, {"channel": "webhook", "reason": "max_age"}) == 1


def test_rows_of_a_removed_target_are_failed_not_retried_forever(engine: Engine, receiver: Receiver) -> None:
    gone = "http://127.0.0.1:9/hook?token=abc123"  # a target with a credential in its URL
    clock, metrics = Clock(), Metrics(CollectorRegistry())
    before = _notifier(engine, [gone, receiver.url], clock, metrics)
    with Store.from_engine(engine).transaction() as txn:
        before.record(txn, [firing()])
    before.close()
    # Restarted with the first target removed from the configuration.
    after = _notifier(engine, [receiver.url], clock, metrics)
    assert after.deliver_due(clock()) == 1
    after.close()
    assert sorted(r[2] or "delivered" for r in _rows(engine)) == ["delivered", "target_removed"]
    assert metrics.registry.get_sample_value(FAILED, {"channel": "webhook", "reason": "target_removed"}) == 1
    shown = failed_deliveries(engine)
    assert list(shown["failed_reason"]) == ["target_removed"] and "abc123" not in shown["target"].iloc[0]


class _Refusing:
    """A sender whose every webhook POST fails (no sockets: the in-memory twin's test)."""

    def __init__(self) -> None:
        self.posts = 0

    def post_webhook(self, url: str, body: object, secrets: Sequence[str], msg_id: str | None = None) -> int:
        self.posts += 1
        raise DeliveryError(f"POST {url}: ConnectionRefusedError")

    def post_alertmanager(self, base_url: str, alerts: list[dict[str, Any]]) -> int:
        raise AssertionError("no Alertmanager configured")

    def close(self) -> None:
        pass


def test_the_memory_twin_bounds_attempts_and_drops_removed_targets_like_the_sql_store() -> None:
    store, clock, metrics, sender = MemoryStore(), Clock(), Metrics(CollectorRegistry()), _Refusing()
    n = Notifier.from_settings(make_settings(alert_webhook_urls=["http://a/h", "http://b/h"], alert_max_attempts=2),
                               store, metrics, clock, sender=sender, backoff=Backoff(base_s=1.0, cap_s=8.0),
                               rng=random.Random(3))
    with store.transaction() as txn:
        n.record(txn, [firing()])
    for _ in range(4):
        n.deliver_due(clock())
        clock.advance(60)
    assert sender.posts == 4 and store.pending_count() == 0  # two targets x two attempts, then failed
    assert metrics.registry.get_sample_value(FAILED, {"channel": "webhook", "reason": "max_attempts"}) == 2
    with store.transaction() as txn:
        n.record(txn, [resolved(firing())])
    n.close()
    only_a = Notifier.from_settings(make_settings(alert_webhook_urls=["http://a/h"]), store, metrics, clock,
                                    sender=sender)
    only_a.deliver_due(clock())
    only_a.close()
    assert metrics.registry.get_sample_value(FAILED, {"channel": "webhook", "reason": "target_removed"}) == 1
    assert store.pending_count() == 1  # the resolve to a: still pending (retried later)
