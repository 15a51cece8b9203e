"""Issue 12, live faults: a real `finsentry run` process, the real broker, SQLite / PostgreSQL,
and faults injected while valid items and hostile records stream in:

- PostgreSQL connections killed with ``pg_terminate_backend`` again and again mid-batch;
- the store refusing writes for lack of permission (a PostgreSQL role without INSERT): an outage
  (/healthz 503 "faulted", ``store.permission_denied``), never dead letters; GRANT -> resumes;
- ``kill -9`` of the service during a batch, then a restart;
- a broker restart on the same port (Tansu is memory-only: topics, offsets and groups are gone).

For every case: the service keeps consuming, every valid item is stored exactly once, every bad
record is in the DLQ with its reason, and the committed offsets cover every record.
"""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.broker import EmbeddedBroker, free_port
from ingest.kafka_io import ensure_topics
from tests.faults.hostile import STORED, Hostile, catalogue, raw_producer, send
from tests.ingest.harness import ServiceProc, committed_total, consume_all, count_items, health, rows, wait_until
from tests.ingest.payloads import valid

BAD = [h for h in catalogue() if h.expect != STORED and h.kind not in ("over-1mib", "url-1.2mb")]  # small ones


def _topics(bootstrap: str) -> str:
    topic = f"fault-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, [topic], 4)
    ensure_topics(bootstrap, [f"{topic}.dlq", f"{topic}.scored"], 1)
    return topic


def _stream(bootstrap: str, topic: str, prefix: str, n: int, bad: list[Hostile] = ()) -> int:
    """``n`` valid items with the ``bad`` records spread among them; returns the record count."""
    producer = raw_producer(bootstrap)
    step = max(1, n // (len(bad) + 1))
    bad_left = list(bad)
    for i, m in enumerate(valid(n, prefix)):
        send(producer, topic, Hostile(m["id"], json.dumps(m).encode(), STORED, key=m["id"].encode()))
        if bad_left and i % step == step - 1:
            send(producer, topic, bad_left.pop())
    for h in bad_left:
        send(producer, topic, h)
    producer.flush()
    producer.close()
    return n + len(bad)


def _dlq_reasons(bootstrap: str, topic: str, expect: int) -> dict[tuple[int, int], set[str]]:
    out: dict[tuple[int, int], set[str]] = {}
    for rec in consume_all(bootstrap, f"{topic}.dlq", expect):
        h = dict(rec.headers)
        out.setdefault((int(h["finsentry-source-partition"]), int(h["finsentry-source-offset"])), set()).add(
            h["finsentry-reason"].decode())
    return out


def _assert_exactly_once(store_url: str, expected_ids: set[str]) -> None:
    ids = [r["id"] for r in rows(store_url, "select id from items")]
    assert len(ids) == len(set(ids)), "an item was stored twice"
    assert set(ids) == expected_ids


def _assert_bad_in_dlq(letters: dict[tuple[int, int], set[str]], bad: list[Hostile]) -> None:
    """Every bad record is in the DLQ (by its source coordinates) with its one reason (a record
    re-read after a fault may be dead-lettered twice: at least once, never with another reason)."""
    assert len(letters) == len(bad)
    assert all(len(reasons) == 1 for reasons in letters.values())
    assert sorted(r for reasons in letters.values() for r in reasons) == sorted(h.expect for h in bad)


# --- PostgreSQL: killed connections, then no permission -----------------------------------------


@pytest.fixture
def pg_role(pg_url: str) -> Iterator[tuple[str, str, str]]:
    """(admin url, role url, role): the schema made by the admin; the role may read and write it."""
    import psycopg

    from store import Store

    Store(pg_url).close()  # tables made by the owner, as a DBA would
    role = f"fs_writer_{uuid.uuid4().hex[:6]}"
    dsn = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{role}"')
        conn.execute(f'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
    user_part, _, host_part = pg_url.partition("@")
    yield pg_url, f"{user_part.rpartition('//')[0]}//{role}@{host_part}", role
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP OWNED BY "{role}"')
        conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def _pg(admin_url: str, sql: str) -> list:
    import psycopg

    with psycopg.connect(admin_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description else []


def test_postgresql_backends_killed_mid_batch_then_permission_revoked(pg_role, tansu, tmp_path) -> None:
    admin_url, role_url, role = pg_role
    db = admin_url.rpartition("/")[2]
    topic = _topics(tansu.bootstrap)
    port = free_port()
    svc = ServiceProc(tmp_path, "pg", tansu.bootstrap, topic, f"g-{topic}", role_url,
                      {"FINSENTRY_QUARANTINE_PATH": str(tmp_path / "q.jsonl")}, port).start()
    try:
        svc.wait_event("service.consuming", 90)
        # Phase 1: every backend of the service is terminated every 0.3 s while 600 items stream in.
        kills = []
        done = threading.Event()

        def killer() -> None:
            while not done.wait(0.3):
                kills.extend(_pg(admin_url, "select pg_terminate_backend(pid) from pg_stat_activity "
                                            f"where datname = '{db}' and usename = '{role}'"))

        t = threading.Thread(target=killer, daemon=True)
        t.start()
        total = _stream(tansu.bootstrap, topic, "kill", 600, BAD)
        try:
            wait_until(lambda: count_items(admin_url) >= 600, 120, "items stored despite killed backends")
        finally:
            done.set()
            t.join(10)
        assert len(kills) >= 5, "the killer should have hit live backends"
        failed_writes = svc.metric("finsentry_store_errors_total", port)
        wait_until(lambda: committed_total(tansu.bootstrap, f"g-{topic}", topic) >= total, 60, "offsets committed")
        _assert_exactly_once(admin_url, {f"kill-{i}" for i in range(600)})
        assert svc.alive()

        # Phase 2: INSERT revoked on items: an outage, not 150 dead letters.
        _pg(admin_url, f'REVOKE INSERT, UPDATE ON items FROM "{role}"')
        dead_before = _pg(admin_url, "select count(*) from dead_letters")[0][0]
        total += _stream(tansu.bootstrap, topic, "perm", 150)
        svc.wait_event("store.permission_denied", 60)
        code, body = health(port)
        assert code == 503 and body["status"] == "faulted" and "permission" in body["fault"], body
        assert committed_total(tansu.bootstrap, f"g-{topic}", topic) == total - 150, "committed unstored items"
        assert _pg(admin_url, "select count(*) from dead_letters")[0][0] == dead_before  # nothing dead-lettered
        _pg(admin_url, f'GRANT INSERT, UPDATE ON items TO "{role}"')
        t0 = time.monotonic()
        wait_until(lambda: count_items(admin_url) >= 750, 90, "items stored after the GRANT")
        recovered_s = time.monotonic() - t0
        wait_until(lambda: health(port)[0] == 200, 30, "healthy again")
        wait_until(lambda: committed_total(tansu.bootstrap, f"g-{topic}", topic) >= total, 60, "offsets committed")
        _assert_exactly_once(admin_url, {f"kill-{i}" for i in range(600)} | {f"perm-{i}" for i in range(150)})
        _assert_bad_in_dlq(_dlq_reasons(tansu.bootstrap, topic, len(BAD)), BAD)
        assert svc.alive()
        print(f"pg: {len(kills)} backends killed, {failed_writes:.0f} batch writes failed and were re-read; "
              f"GRANT to all stored {recovered_s:.1f}s")
    finally:
        svc.stop()


# --- kill -9 during a batch ---------------------------------------------------------------------


def test_kill9_during_a_batch_with_hostile_records_then_restart(sqlite_url, tansu, tmp_path) -> None:
    topic = _topics(tansu.bootstrap)
    env = {"FINSENTRY_QUARANTINE_PATH": str(tmp_path / "q.jsonl")}
    first = ServiceProc(tmp_path, "first", tansu.bootstrap, topic, f"g-{topic}", sqlite_url, env).start()
    second = None
    try:
        first.wait_event("service.consuming", 90)
        total = _stream(tansu.bootstrap, topic, "k9", 600, BAD)
        wait_until(lambda: count_items(sqlite_url) >= 120, 120, "some items stored")
        first.signal(signal.SIGKILL)
        first.wait(10)
        at_kill = count_items(sqlite_url)
        assert at_kill < 600, "killed too late to test anything"
        t0 = time.monotonic()
        second = ServiceProc(tmp_path, "second", tansu.bootstrap, topic, f"g-{topic}", sqlite_url, env).start()
        wait_until(lambda: count_items(sqlite_url) >= 600, 180, "all items stored after the restart")
        wait_until(lambda: committed_total(tansu.bootstrap, f"g-{topic}", topic) >= total, 60, "offsets committed")
        took = time.monotonic() - t0
        _assert_exactly_once(sqlite_url, {f"k9-{i}" for i in range(600)})
        _assert_bad_in_dlq(_dlq_reasons(tansu.bootstrap, topic, len(BAD)), BAD)
        assert second.alive()
        print(f"kill -9 at {at_kill}/600 stored; restart to all stored {took:.1f}s")
    finally:
        first.stop()
        if second is not None:
            second.stop()


# --- broker restart -----------------------------------------------------------------------------


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    b = EmbeddedBroker(log_file=tmp_path / "broker.log").start()
    try:
        yield b
    finally:
        b.stop()


def test_broker_restart_on_the_same_port(sqlite_url, own_broker, tmp_path) -> None:
    """Tansu forgets topics, offsets and groups on restart. The service rides it out (reconnects,
    rejoins); once the topics exist again (the operator, or `finsentry run` at its next start,
    creates them) it consumes the new records from the start of the new log."""
    topic = _topics(own_broker.bootstrap)
    port = free_port()
    svc = ServiceProc(tmp_path, "svc", own_broker.bootstrap, topic, f"g-{topic}", sqlite_url,
                      {"FINSENTRY_QUARANTINE_PATH": str(tmp_path / "q.jsonl")}, port).start()
    try:
        svc.wait_event("service.consuming", 90)
        _stream(own_broker.bootstrap, topic, "before", 150, BAD[:5])
        wait_until(lambda: count_items(sqlite_url) >= 150, 90, "first wave stored")
        own_broker.stop()
        time.sleep(2)  # the service notices: its polls and commits fail
        own_broker.start()
        t0 = time.monotonic()
        ensure_topics(own_broker.bootstrap, [topic], 4)
        ensure_topics(own_broker.bootstrap, [f"{topic}.dlq", f"{topic}.scored"], 1)
        total = _stream(own_broker.bootstrap, topic, "after", 150, BAD[5:10])
        wait_until(lambda: count_items(sqlite_url) >= 300, 120, "second wave stored after the restart")
        took = time.monotonic() - t0
        wait_until(lambda: committed_total(own_broker.bootstrap, f"g-{topic}", topic) >= total, 60, "commits")
        _assert_exactly_once(sqlite_url, {f"before-{i}" for i in range(150)} | {f"after-{i}" for i in range(150)})
        _assert_bad_in_dlq(_dlq_reasons(own_broker.bootstrap, topic, 5), BAD[5:10])  # the new broker's DLQ
        assert svc.alive() and health(port)[0] == 200
        said = sorted({e["event"] for e in svc.events() if e.get("level") in ("warning", "error")})
        print(f"broker restart: second wave stored {took:.1f}s after the broker came back; logged {said}")
    finally:
        svc.stop()


# --- alert receivers: down, trickling, redirecting ------------------------------------------------


def test_hostile_alert_receivers_never_hold_ingestion_and_the_alert_is_delivered_once(sqlite_url, tansu,
                                                                                       tmp_path) -> None:
    """Four webhook targets for one firing alert (seeded in the outbox before the start): a closed
    port, a receiver that trickles one byte a second, one that redirects (307) to a fourth, and a
    healthy one. Items and hostile records stream in meanwhile: all are stored and committed while
    the trickling POST is still in flight; the healthy target gets the alert exactly once; the
    redirect is never followed."""
    from finsentry.metrics import Metrics
    from monitor.alerting import Notifier, NotifierConfig
    from store import Store
    from tests.alerting.conftest import firing
    from tests.alerting.receiver import Receiver
    from tests.alerting.slow import TrickleReceiver, trickle

    healthy, target = Receiver().start(), Receiver().start()
    redirect = Receiver(status=307, headers={"Location": target.url}).start()
    slow = TrickleReceiver(trickle(b"HTTP/1.1 200 OK\r\nX-Slow: "), every_s=1.0)
    down = f"http://127.0.0.1:{free_port()}/hook"
    urls = (down, slow.url, redirect.url, healthy.url)
    store = Store(sqlite_url)
    notifier = Notifier(NotifierConfig(webhook_urls=urls, unsigned=True), store, Metrics())
    with store.transaction() as txn:
        notifier.record(txn, [firing()])
    store.close()
    topic = _topics(tansu.bootstrap)
    svc = ServiceProc(tmp_path, "svc", tansu.bootstrap, topic, f"g-{topic}", sqlite_url,
                      {"FINSENTRY_ALERT_WEBHOOK_URLS": ",".join(urls), "FINSENTRY_ALERT_WEBHOOK_UNSIGNED": "true",
                       "FINSENTRY_ALERT_TIMEOUT_S": "60", "FINSENTRY_QUARANTINE_PATH": str(tmp_path / "q.jsonl")})
    try:
        svc.start().wait_event("service.consuming", 90)
        assert slow.in_flight.wait(60), "the delivery thread should be inside the trickling POST"
        total = _stream(tansu.bootstrap, topic, "rx", 200, BAD[:8])
        wait_until(lambda: count_items(sqlite_url) >= 200, 90, "items stored while a POST trickles")
        wait_until(lambda: committed_total(tansu.bootstrap, f"g-{topic}", topic) >= total, 60, "offsets committed")
        assert not slow.done.is_set(), "the trickling POST should still be in flight"
        _assert_exactly_once(sqlite_url, {f"rx-{i}" for i in range(200)})
        _assert_bad_in_dlq(_dlq_reasons(tansu.bootstrap, topic, 8), BAD[:8])
        got = healthy.wait_for(1, 30)
        assert len(got) == 1 and got[0].json()["alerts"][0]["labels"]["key"] == "SIVB"
        assert len(redirect.received) >= 1 and target.received == []  # 307 answered, never followed
        time.sleep(2)  # no second copy turns up (the re-send interval is 60 s)
        assert len(healthy.received) == 1
        assert svc.alive()
        print(f"receivers: {len(healthy.received)} copy at the healthy target, {len(redirect.received)} redirect "
              f"answer(s) not followed, {len(slow.requests)} POST(s) trickling while 208 records were committed")
    finally:
        for r in (slow, healthy, target, redirect):  # the trickling POST ends first: a clean, quick stop
            r.stop()
        svc.stop()
