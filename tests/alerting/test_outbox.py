"""Notifier + outbox against real stores (SQLite file, PostgreSQL) and a real HTTP receiver."""

from __future__ import annotations

import random
import threading
from datetime import timedelta

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, func, select

from finsentry.metrics import Metrics
from monitor.alerting import Backoff, Notifier, verify
from store import Store
from store.schema import alert_outbox, alerts
from tests.alerting.conftest import T0, firing, make_settings, resolved
from tests.alerting.receiver import Receiver

NOW = T0 + timedelta(minutes=2)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def notifier(engine: Engine, url: str, clock: Clock, **kw) -> Notifier:
    return Notifier.from_settings(
        make_settings(alert_webhook_urls=[url], **kw),
        Store.from_engine(engine),
        Metrics(CollectorRegistry()),
        clock,
        backoff=Backoff(base_s=1.0, cap_s=8.0),
        rng=random.Random(7),
    )


def test_firing_then_resolved_delivered_signed_and_in_order(engine: Engine, receiver: Receiver) -> None:
    clock = Clock()
    n = notifier(engine, receiver.url, clock)
    ev = firing()
    with Store.from_engine(engine).transaction() as txn:
        n.record(txn, [ev])
        n.record(txn, [resolved(ev)])  # both enqueued before any delivery
    assert n.deliver_due(clock()) == 1  # resolved waits for firing to be delivered
    assert n.deliver_due(clock()) == 1
    got = receiver.wait_for(2)
    assert [r.json()["status"] for r in got] == ["firing", "resolved"]
    for r in got:
        assert r.path == "/hook"
        assert verify(r.body, r.headers, "s3cret")
    # The resolve keeps the episode's labels (severity) although the event said "warning".
    assert got[1].json()["alerts"][0]["labels"] == got[0].json()["alerts"][0]["labels"]
    assert got[1].json()["alerts"][0]["fingerprint"] == got[0].json()["alerts"][0]["fingerprint"]
    assert n.deliver_due(clock()) == 0
    with engine.connect() as conn:
        assert conn.execute(select(alerts.c.status, alerts.c.severity)).one() == ("resolved", "critical")
    n.close()


def test_receiver_down_then_up_delivers_exactly_once(engine: Engine) -> None:
    rx = Receiver()  # not started: connection refused
    clock = Clock()
    n = notifier(engine, rx.url, clock)
    ev = firing()
    with Store.from_engine(engine).transaction() as txn:
        n.record(txn, [ev])
    for _ in range(4):  # down: every attempt fails, retry pushed out by the backoff
        assert n.deliver_due(clock()) == 0
        clock.advance(10)
    with engine.connect() as conn:
        attempts, err = conn.execute(select(alert_outbox.c.attempts, alert_outbox.c.last_error)).one()
    assert attempts == 4 and "ConnectionRefusedError" in err
    assert n._metrics.registry.get_sample_value("finsentry_alert_delivery_failures_total", {"channel": "webhook"}) == 4
    # A second instance (a restart) takes over the durable outbox once the receiver is back.
    rx.start()
    try:
        other = notifier(engine, rx.url, clock)
        with Store.from_engine(engine).transaction() as txn:
            other.record(txn, [resolved(ev)])
        assert other.deliver_due(clock()) == 1
        assert other.deliver_due(clock()) == 1
        for _ in range(3):
            clock.advance(120)
            assert other.deliver_due(clock()) == 0
        assert [r.json()["status"] for r in rx.wait_for(2)] == ["firing", "resolved"]
        assert len(rx.received) == 2
        assert other._metrics.registry.get_sample_value("finsentry_alert_outbox_pending") == 0
    finally:
        rx.stop()


def test_backoff_schedule_grows_and_is_capped() -> None:
    b, rng = Backoff(base_s=1, cap_s=60, jitter=0.5), random.Random(1)
    delays = [b.delay(a, rng).total_seconds() for a in range(1, 12)]
    for attempt, d in enumerate(delays, start=1):
        raw = min(60, 2 ** (attempt - 1))
        assert raw * 0.5 <= d <= raw
    assert max(delays) <= 60


def test_two_instances_recording_the_same_episode_notify_once(engine: Engine, receiver: Receiver) -> None:
    clock = Clock()
    a, b = notifier(engine, receiver.url, clock), notifier(engine, receiver.url, clock)
    ev = firing()
    with Store.from_engine(engine).transaction() as txn:
        a.record(txn, [ev])
    with Store.from_engine(engine).transaction() as txn:
        b.record(txn, [ev])  # a replay/another consumer detected the same episode
    with Store.from_engine(engine).transaction() as txn:
        b.record(txn, [resolved(ev)])
    with Store.from_engine(engine).transaction() as txn:
        a.record(txn, [resolved(ev)])
    for _ in range(3):
        a.deliver_due(clock())
        b.deliver_due(clock())
    assert [r.json()["status"] for r in receiver.wait_for(2)] == ["firing", "resolved"]
    assert len(receiver.received) == 2
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(alerts)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(alert_outbox)).scalar_one() == 2


def test_concurrent_instances_race_on_record_and_delivery(pg_engine: Engine, receiver: Receiver) -> None:
    """Real concurrency on PostgreSQL: 4 threads record the same 5 episodes and deliver."""
    clock = Clock()
    events = [firing(key=f"K{i}") for i in range(5)]
    instances = [notifier(pg_engine, receiver.url, clock) for _ in range(4)]
    barrier = threading.Barrier(len(instances))
    errors: list[BaseException] = []

    def work(n: Notifier) -> None:
        try:
            barrier.wait()
            with Store.from_engine(pg_engine).transaction() as txn:
                n.record(txn, events)
            for _ in range(3):
                n.deliver_due(clock())
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in instances]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    got = receiver.wait_for(5)
    assert sorted(r.json()["alerts"][0]["labels"]["key"] for r in got) == [f"K{i}" for i in range(5)]
    assert len(receiver.received) == 5


def test_no_targets_still_records_the_alert(sqlite_engine: Engine) -> None:
    n = Notifier.from_settings(make_settings(), Store.from_engine(sqlite_engine), Metrics(CollectorRegistry()), Clock())
    with Store.from_engine(sqlite_engine).transaction() as txn:
        n.record(txn, [firing()])
    assert n.deliver_due() == 0
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(alerts)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(alert_outbox)).scalar_one() == 0


def test_background_thread_delivers_and_close_stops_it(sqlite_engine: Engine, receiver: Receiver) -> None:
    n = Notifier.from_settings(
        make_settings(alert_webhook_urls=[receiver.url]), Store.from_engine(sqlite_engine), Metrics(CollectorRegistry())
    )
    n.start(interval_s=0.05)
    with Store.from_engine(sqlite_engine).transaction() as txn:
        n.record(txn, [firing()])
    assert len(receiver.wait_for(1, timeout=5)) == 1
    n.close()
    assert n._thread is None


def test_escalation_is_notified_once_and_supersedes_the_warning(engine: Engine, receiver: Receiver) -> None:
    clock = Clock()
    a, b = notifier(engine, receiver.url, clock), notifier(engine, receiver.url, clock)
    warn = firing(severity="warning")
    crit = firing(severity="critical")
    for n, ev in ((a, warn), (b, warn), (a, crit), (b, crit), (a, resolved(crit))):
        with Store.from_engine(engine).transaction() as txn:
            n.record(txn, [ev])
    for _ in range(4):
        a.deliver_due(clock())
    bodies = [r.json() for r in receiver.wait_for(3)]
    assert len(receiver.received) == 3
    assert [b_["status"] for b_ in bodies] == ["firing", "firing", "resolved"]
    escalation = {a_["labels"]["severity"]: a_["status"] for a_ in bodies[1]["alerts"]}
    assert escalation == {"critical": "firing", "warning": "resolved"}
    assert bodies[1]["groupKey"] == bodies[0]["groupKey"]  # one group per key
    assert bodies[2]["alerts"][0]["labels"]["severity"] == "critical"


def test_a_dead_target_costs_one_attempt_per_round_and_does_not_block_others(
    sqlite_engine: Engine, receiver: Receiver
) -> None:
    dead = Receiver()  # never started
    clock = Clock()
    n = Notifier.from_settings(
        make_settings(alert_webhook_urls=[dead.url, receiver.url]),
        Store.from_engine(sqlite_engine),
        Metrics(CollectorRegistry()),
        clock,
        rng=random.Random(3),
    )
    with Store.from_engine(sqlite_engine).transaction() as txn:
        n.record(txn, [firing(key="A"), firing(key="B"), firing(key="C")])
    assert n.deliver_due(clock()) == 3  # the live receiver gets all three
    assert len(receiver.wait_for(3)) == 3
    with sqlite_engine.connect() as conn:
        rows = conn.execute(
            select(alert_outbox.c.attempts, alert_outbox.c.next_attempt_at)
            .where(alert_outbox.c.target == dead.url)
            .order_by(alert_outbox.c.id)
        ).all()
    assert [a for a, _ in rows] == [1, 0, 0]  # one real attempt; the others released uncounted
    assert len({t for _, t in rows}) == 1  # ... and wait for the same retry time
    assert n._metrics.registry.get_sample_value("finsentry_alert_delivery_failures_total", {"channel": "webhook"}) == 1


def test_the_memory_store_twin_delivers_like_the_real_stores(receiver: Receiver) -> None:
    """The notifier's unit-test store: same ordering, dedup and escalation as above."""
    from tests.support.memory_store import MemoryStore

    store, clock = MemoryStore(), Clock()
    a, b = (
        Notifier.from_settings(
            make_settings(alert_webhook_urls=[receiver.url]), store, Metrics(CollectorRegistry()), clock
        )
        for _ in range(2)
    )
    warn, crit = firing(severity="warning"), firing(severity="critical")
    for n, ev in ((a, warn), (b, warn), (a, crit), (b, crit), (a, resolved(crit))):
        with store.transaction() as txn:
            n.record(txn, [ev])
    for _ in range(4):
        a.deliver_due(clock())
    bodies = [r.json() for r in receiver.wait_for(3)]
    assert [body["status"] for body in bodies] == ["firing", "firing", "resolved"]
    assert {x["labels"]["severity"]: x["status"] for x in bodies[1]["alerts"]} == {
        "critical": "firing",
        "warning": "resolved",
    }
    assert store.pending_count() == 0 and store.firing_episodes() == []
