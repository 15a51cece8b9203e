"""Hostile receivers cannot hold delivery: a total deadline per POST, no redirects, targets in
parallel, and a delivery thread that stops cleanly. Outcomes are read from events and the outbox,
never from elapsed time."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, select

from finsentry.errors import DeliveryError
from finsentry.metrics import Metrics
from monitor.alerting import Backoff, HttpSender, Notifier
from monitor.alerting.notifier import NotifierConfig
from store import Store
from store.schema import alert_outbox
from tests.alerting.conftest import firing, make_settings
from tests.alerting.receiver import Receiver
from tests.alerting.slow import TrickleReceiver, trickle
from tests.alerting.test_outbox import Clock

SLOW_HEADERS = trickle(b"HTTP/1.1 200 OK\r\nX-Slow: ")  # the headers never end


@pytest.fixture
def trickler() -> Iterator[TrickleReceiver]:
    rx = TrickleReceiver(SLOW_HEADERS, every_s=1.0)  # one byte a second: no read timeout ever trips
    yield rx
    rx.stop()


def test_a_receiver_trickling_its_headers_hits_the_total_deadline(trickler: TrickleReceiver) -> None:
    sender = HttpSender(connect_timeout_s=2, read_timeout_s=5, total_timeout_s=1.5)
    with pytest.raises(DeliveryError, match=r"deadline of 1\.5 s exceeded"):
        sender.post_webhook(trickler.url, {"a": 1}, ["s3cret"])
    assert trickler.hung_up.wait(15), "the client should have hung up on the trickling receiver"
    assert trickler.sent < len(b"HTTP/1.1 200 OK\r\nX-Slow: ") + 60  # it did not wait for the whole answer


def test_a_trickling_error_body_is_cut_by_the_deadline() -> None:
    rx = TrickleReceiver(trickle(b"HTTP/1.1 500 Oops\r\nContent-Length: 1000\r\n\r\n", head_at_once=True), every_s=1.0)
    try:
        with pytest.raises(DeliveryError, match="HTTP 500"):
            HttpSender(total_timeout_s=1.5).post_webhook(rx.url, {"a": 1}, [])
        assert rx.hung_up.wait(15)
    finally:
        rx.stop()


def test_a_2xx_answer_is_success_without_waiting_for_its_body() -> None:
    rx = TrickleReceiver(trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", head_at_once=True), every_s=0.01)
    try:
        assert HttpSender(total_timeout_s=30).post_webhook(rx.url, {"a": 1}, []) == 200
        assert rx.hung_up.wait(15)
    finally:
        rx.stop()


def test_a_redirect_is_a_failed_delivery_and_never_followed(sqlite_engine: Engine) -> None:
    token = "qt-planted-987"
    rx = Receiver(status=302, headers={"Location": f"/elsewhere?token={token}"}).start()
    try:
        with pytest.raises(DeliveryError, match=r"HTTP 302 redirect to .* not followed") as err:
            HttpSender().post_webhook(rx.url, {"a": 1}, ["s3cret"])
        assert token not in str(err.value)
        assert [(r.method, r.path) for r in rx.received] == [("POST", "/hook")]

        clock = Clock()
        n = Notifier.from_settings(make_settings(alert_webhook_urls=[rx.url]), Store.from_engine(sqlite_engine),
                                   Metrics(CollectorRegistry()), clock, backoff=Backoff(base_s=1.0, cap_s=8.0),
                                   rng=random.Random(1))
        with Store.from_engine(sqlite_engine).transaction() as txn:
            n.record(txn, [firing()])
        assert n.deliver_due(clock()) == 0
        with sqlite_engine.connect() as conn:
            attempts, error = conn.execute(select(alert_outbox.c.attempts, alert_outbox.c.last_error)).one()
        assert attempts == 1 and "HTTP 302 redirect" in error
        assert [(r.method, r.path) for r in rx.received] == [("POST", "/hook")] * 2  # no second hop
        n.close()
    finally:
        rx.stop()


def test_targets_are_posted_in_parallel(sqlite_engine: Engine, receiver: Receiver) -> None:
    """The first target answers only once the second one has received its notification: in
    sequence that could not happen before the first target gave up."""
    seen_other: list[bool] = []

    def answer_after_the_other(_rx: TrickleReceiver) -> Iterator[bytes]:
        seen_other.append(len(receiver.wait_for(1, timeout=20)) >= 1)
        yield b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"

    slow = TrickleReceiver(answer_after_the_other, every_s=0)
    try:
        clock = Clock()
        n = Notifier.from_settings(make_settings(alert_webhook_urls=[slow.url, receiver.url],
                                                 alert_timeout_s=30),
                                   Store.from_engine(sqlite_engine), Metrics(CollectorRegistry()), clock)
        with Store.from_engine(sqlite_engine).transaction() as txn:
            n.record(txn, [firing()])
        assert n.deliver_due(clock()) == 2
        assert seen_other == [True]
        n.close()
    finally:
        slow.stop()


def test_a_hanging_target_fails_on_its_deadline_while_the_other_is_delivered(
    sqlite_engine: Engine, receiver: Receiver, trickler: TrickleReceiver
) -> None:
    clock = Clock()
    n = Notifier(NotifierConfig(webhook_urls=(trickler.url, receiver.url), timeout_s=1.5),
                 Store.from_engine(sqlite_engine), Metrics(CollectorRegistry()), clock)
    with Store.from_engine(sqlite_engine).transaction() as txn:
        n.record(txn, [firing(key="A"), firing(key="B")])
    assert n.deliver_due(clock()) == 2  # both for the live receiver
    with sqlite_engine.connect() as conn:
        rows = conn.execute(select(alert_outbox.c.attempts, alert_outbox.c.last_error)
                            .where(alert_outbox.c.target == trickler.url).order_by(alert_outbox.c.id)).all()
    assert rows[0][0] == 1 and "deadline of 1.5 s exceeded" in rows[0][1]
    assert rows[1] == (0, None)  # not tried again in the round (released uncounted)
    n.close()


def test_the_delivery_thread_stops_cleanly_even_mid_post(sqlite_engine: Engine, trickler: TrickleReceiver) -> None:
    n = Notifier(NotifierConfig(webhook_urls=(trickler.url,), timeout_s=2),
                 Store.from_engine(sqlite_engine), Metrics(CollectorRegistry()))
    with Store.from_engine(sqlite_engine).transaction() as txn:
        n.record(txn, [firing()])
    n.start(interval_s=0.02)
    assert n.running
    assert trickler.in_flight.wait(15)  # the thread is inside a POST to the trickling receiver
    n.close()  # returns once that POST hits its deadline
    assert not n.running and n._thread is None
    n.close()  # idempotent (the loop's shutdown and the composition root both call it)
    with sqlite_engine.connect() as conn:
        assert "deadline" in conn.execute(select(alert_outbox.c.last_error)).scalar_one()


def test_the_composition_root_starts_the_delivery_thread_and_registers_its_stop(tmp_path: Path) -> None:
    from app.root import load_monitor

    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    closers: list = []
    monitor = load_monitor(make_settings(), store, Metrics(CollectorRegistry()), closers)
    notifier = monitor.notifier  # type: ignore[attr-defined]  # the Monitor protocol does not name it
    assert notifier.running
    assert closers == [notifier.close]
    closers[0]()
    assert not notifier.running
    monitor.close()  # the loop's shutdown closes it again: a no-op
    store.close()
