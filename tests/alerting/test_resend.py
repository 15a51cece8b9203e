"""Alertmanager re-sends: interval, fresh endsAt, and the resolve-during-resend race.

Uses an in-memory sender (the HTTP edge is covered by the real-Alertmanager test)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from finsentry.metrics import Metrics
from monitor.alerting import Notifier
from store import Store
from tests.alerting.conftest import T0, firing, make_settings, resolved

AM = "http://am.test:9093"


class MemorySender:
    def __init__(self) -> None:
        self.posts: list[list[dict[str, Any]]] = []
        self.on_post: Callable[[list[dict[str, Any]]], None] | None = None

    def post_webhook(self, url: str, body: Any, secrets: Sequence[str], msg_id: str | None = None) -> int:
        raise AssertionError("no webhooks configured")

    def post_alertmanager(self, base_url: str, alerts: list[dict[str, Any]]) -> int:
        assert base_url == AM
        self.posts.append(alerts)
        if self.on_post is not None:
            hook, self.on_post = self.on_post, None
            hook(alerts)
        return 200

    def close(self) -> None:
        pass


def _notifier(engine: Engine, sender: MemorySender, now: list) -> Notifier:
    return Notifier.from_settings(
        make_settings(alertmanager_url=AM + "/", alert_resend_s=60),
        Store.from_engine(engine),
        Metrics(CollectorRegistry()),
        lambda: now[0],
        sender=sender,
    )


def test_active_alerts_are_resent_every_interval_with_a_fresh_ends_at(sqlite_engine: Engine) -> None:
    now = [T0 + timedelta(minutes=5)]
    sender = MemorySender()
    n = _notifier(sqlite_engine, sender, now)
    with Store.from_engine(sqlite_engine).transaction() as txn:
        n.record(txn, [firing()])
    n.deliver_due(now[0])  # the firing notification, then the first re-send round
    assert [a["endsAt"] for p in sender.posts for a in p] == ["2023-03-10T14:09:00.000Z"] * 2
    n.deliver_due(now[0] + timedelta(seconds=30))  # within alert_resend_s: nothing
    assert len(sender.posts) == 2
    now[0] += timedelta(seconds=61)
    n.deliver_due(now[0])
    assert len(sender.posts) == 3
    assert sender.posts[-1][0]["endsAt"] == "2023-03-10T14:10:01.000Z"  # now + 4 x resend
    assert sender.posts[-1][0]["labels"]["key"] == "SIVB"


def test_an_alert_resolved_during_a_resend_is_resolved_again(sqlite_engine: Engine) -> None:
    now = [T0 + timedelta(minutes=5)]
    sender = MemorySender()
    n = _notifier(sqlite_engine, sender, now)
    other = _notifier(sqlite_engine, MemorySender(), now)
    ev = firing()
    with Store.from_engine(sqlite_engine).transaction() as txn:
        n.record(txn, [ev])
    n.deliver_due(now[0])
    now[0] += timedelta(seconds=61)

    def resolve_meanwhile(_alerts: list[dict[str, Any]]) -> None:
        with Store.from_engine(sqlite_engine).transaction() as txn:  # another instance resolves it while we re-send
            other.record(txn, [resolved(ev)])

    sender.on_post = resolve_meanwhile
    n.deliver_due(now[0])
    resend, fix = sender.posts[-2:]
    assert resend[0]["endsAt"] > now[0].isoformat()  # the re-send still said "firing"
    assert fix[0]["labels"] == resend[0]["labels"]
    assert fix[0]["endsAt"] == "2023-03-10T14:06:01.000Z"  # ... so it is resolved again, now
