"""`finsentry run` as a real process against a real Tansu broker and real SQLite / PostgreSQL stores."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from tests.ingest.harness import (
    ROOT,
    ServiceProc,
    committed_total,
    consume_all,
    count_items,
    produce,
    rows,
    wait_until,
)
from tests.ingest.payloads import malformed, valid
from tests.ingest.tcpproxy import TcpProxy


@pytest.fixture
def service(tmp_path, tansu, make_topic, unique_name):
    """Request it AFTER the store fixture, so the processes stop before their database is dropped.

    Factory: ``service(store_url, name=..., group=...)`` -> started ServiceProc (stopped after)."""
    topic = make_topic()
    make_topic(f"{topic}.dlq", 1)
    make_topic(f"{topic}.scored", 1)
    group = unique_name("g")
    procs: list[ServiceProc] = []

    def start(
        store_url: str, name: str = "svc", grp: str | None = None, env=None, metrics_port: int = 0
    ) -> ServiceProc:
        p = ServiceProc(tmp_path, name, tansu.bootstrap, topic, grp or group, store_url, env, metrics_port).start()
        procs.append(p)
        return p

    start.topic, start.group, start.bootstrap = topic, group, tansu.bootstrap  # type: ignore[attr-defined]
    yield start
    for p in procs:
        p.stop()


def status_json(store_url: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "finsentry", "status", "--store", store_url, "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_produce_classify_store_end_to_end(store_url, service, free_port):
    msgs = valid(40, "e2e")
    msgs += [
        {
            "id": "neg",
            "text": "Silicon Valley Bank collapses as depositors pull billions; shares plunge 60%",
            "published_at": "2023-03-10T14:00:00Z",
            "source": "CNBC",
            "tickers": ["SIVB"],
            "url": "https://x/neg",
        },
        {
            "id": "pos",
            "text": "Nvidia posts record quarterly profit and raises its full-year outlook",
            "published_at": "2023-03-10T14:01:00Z",
            "source": "CNBC",
        },
        # Polish without a declared language: detected and routed to the multilingual model.
        {
            "id": "pl",
            "text": "Akcje banków gwałtownie spadają po upadku amerykańskiego banku SVB",
            "published_at": "2023-03-10T14:02:00Z",
            "source": "Bankier.pl",
        },
        # German: detected, stored, unscored (no model covers it by default).
        {
            "id": "de",
            "text": "Die Aktien der Banken fallen nach dem Zusammenbruch der amerikanischen Bank SVB stark",
            "published_at": "2023-03-10T14:03:00Z",
            "source": "Handelsblatt",
        },
        {"headline": "Fed raises rates by 25 basis points", "source": "FT"},  # no id, no time
    ]
    produce(service.bootstrap, service.topic, msgs)
    svc = service(store_url, metrics_port=free_port)
    wait_until(lambda: count_items(store_url) >= len(msgs), 90, "all items stored")
    got = {r["id"]: r for r in rows(store_url, "select * from items")}
    assert len(got) == len(msgs)
    for r in got.values():
        if r["id"] in ("pl", "de"):
            continue
        assert r["lang"] == "en" and r["label"] in ("negative", "neutral", "positive")
        assert abs(r["p_negative"] + r["p_neutral"] + r["p_positive"] - 1) < 1e-3
        assert abs(r["score"] - (r["p_positive"] - r["p_negative"])) < 1e-6
        assert r["model_version"] and r["kafka_topic"] == service.topic and r["kafka_offset"] is not None
        topics = r["topics"] if isinstance(r["topics"], list) else json.loads(r["topics"])
        assert all(isinstance(n, str) and 0 <= p <= 1 for n, p in topics)
    assert got["neg"]["label"] == "negative" and got["pos"]["label"] == "positive"
    assert "SIVB" in (
        got["neg"]["tickers"] if isinstance(got["neg"]["tickers"], list) else json.loads(got["neg"]["tickers"])
    )
    assert got["pl"]["lang"] == "pl" and got["pl"]["label"] == "negative"  # "bank shares fall sharply"
    assert got["pl"]["model_version"] and got["pl"]["model_version"] != got["neg"]["model_version"]
    assert got["de"]["lang"] == "de" and got["de"]["label"] is None and got["de"]["score"] is None
    derived = [i for i in got if i.startswith("sha256:")]
    assert len(derived) == 1
    # Scored items are published on the output topic.
    scored = consume_all(service.bootstrap, f"{service.topic}.scored", len(msgs))
    assert {json.loads(r.value)["id"] for r in scored} == set(got)
    assert svc.alive()
    # Pipeline metrics on /metrics.
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    def sample(name: str, **labels: str) -> float | None:
        text = urllib.request.urlopen(f"http://127.0.0.1:{free_port}/metrics", timeout=5).read().decode()
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                    return s.value
        return None

    assert sample("finsentry_consumed_records_total", topic=service.topic) == len(msgs)
    assert sample("finsentry_processed_items_total") == len(msgs)
    assert sample("finsentry_unscored_items_total", lang="de") == 1
    assert sample("finsentry_unscored_items_total", lang="pl") is None
    wait_until(
        lambda: sample("finsentry_consumer_lag_records", topic=service.topic, partition="0") == 0,
        15,
        "lag gauge from the fetch high watermark",
    )
    st = status_json(store_url)
    assert st["items"] == len(msgs) and st["dead_lettered"] == 0 and st["by_label"]["unscored"] == 1


def test_malformed_records_are_dead_lettered_and_the_service_lives(sqlite_url, service):
    bad = malformed(240)
    good = valid(300, "ok")
    mixed: list = []
    for i in range(max(len(bad), len(good))):
        if i < len(good):
            mixed.append(good[i])
        if i < len(bad):
            mixed.append(bad[i][0])
    produce(service.bootstrap, service.topic, mixed)
    svc = service(sqlite_url)
    wait_until(lambda: count_items(sqlite_url) >= len(good), 90, "valid items stored")
    dlq = consume_all(service.bootstrap, f"{service.topic}.dlq", len(bad))
    assert len(dlq) == len(bad)
    expected = sorted(r for _, r in bad)
    got_reasons = sorted(dict(r.headers)["finsentry-reason"].decode() for r in dlq)
    assert got_reasons == expected
    # Each dead letter keeps its original bytes (same multiset) and says where it came from.
    assert sorted(r.value or b"" for r in dlq) == sorted(v or b"" for v, _ in bad)
    where = set()
    for r in dlq:
        h = dict(r.headers)
        assert h["finsentry-source-topic"].decode() == service.topic
        where.add((int(h["finsentry-source-partition"]), int(h["finsentry-source-offset"])))
    assert len(where) == len(bad) and {p for p, _ in where} <= set(range(4))
    # The reason travels with the right record: re-decoding each original gives its header's reason.
    from finsentry.errors import InvalidMessage
    from ingest.contract import decode

    for r in dlq:
        with pytest.raises(InvalidMessage) as e:
            decode(r.value)
        assert e.value.reason == dict(r.headers)["finsentry-reason"].decode()
    assert count_items(sqlite_url) == len(good)
    assert svc.alive()
    wait_until(lambda: status_json(sqlite_url)["dead_lettered"] == len(bad), 30, "dead letters recorded")


def test_kill9_mid_stream_then_restart_stores_every_id_once(sqlite_url, service):
    msgs = valid(3000, "k9")
    produce(service.bootstrap, service.topic, msgs)
    first = service(sqlite_url, "first")
    wait_until(lambda: count_items(sqlite_url) >= 400, 120, "some items stored")
    first.signal(signal.SIGKILL)
    first.wait(10)
    n_at_kill = count_items(sqlite_url)
    assert n_at_kill < len(msgs), "killed too late to test anything"
    second = service(sqlite_url, "second")
    wait_until(lambda: count_items(sqlite_url) >= len(msgs), 180, "all items stored after restart")
    ids = [r["id"] for r in rows(sqlite_url, "select id from items")]
    assert len(ids) == len(set(ids)) == len(msgs)
    assert set(ids) == {m["id"] for m in msgs}
    assert second.alive()


def test_sigterm_mid_stream_exits_cleanly_and_nothing_is_lost(sqlite_url, service):
    msgs = valid(2000, "st")
    produce(service.bootstrap, service.topic, msgs)
    svc = service(sqlite_url, "first")
    wait_until(lambda: count_items(sqlite_url) >= 300, 120, "some items stored")
    t0 = time.monotonic()
    svc.signal(signal.SIGTERM)
    rc = svc.wait(15)
    took = time.monotonic() - t0
    assert rc == 0 and took < 10, (rc, took, svc.tail())
    assert any(e.get("event") == "service.stopped" for e in svc.events())
    stored = count_items(sqlite_url)
    # Offsets never run ahead of the store: everything committed is stored.
    assert committed_total(service.bootstrap, service.group, service.topic) <= stored
    service(sqlite_url, "second")
    wait_until(lambda: count_items(sqlite_url) >= len(msgs), 180, "all items stored after restart")
    assert count_items(sqlite_url) == len(msgs)


def test_two_consumers_share_partitions_and_results(pg_url, service):
    a = service(pg_url, "a")
    b = service(pg_url, "b")
    wait_until(lambda: len(a.assigned()) == 2 and len(b.assigned()) == 2, 60, "a 2/2 partition split")
    assert a.assigned().isdisjoint(b.assigned())
    assert len(a.assigned() | b.assigned()) == 4
    msgs = valid(2000, "two")
    produce(service.bootstrap, service.topic, msgs)
    wait_until(lambda: count_items(pg_url) >= len(msgs), 120, "all items stored")
    assert a.assigned().isdisjoint(b.assigned())  # no rebalance moved things around meanwhile
    assert count_items(pg_url) == len(msgs)
    per_partition = {r["kafka_partition"] for r in rows(pg_url, "select distinct kafka_partition from items")}
    assert per_partition == {0, 1, 2, 3}

    # Both instances did part of the work, and together exactly the input.
    def health():
        return rows(pg_url, "select instance, processed from pipeline_health where processed > 0")

    wait_until(
        lambda: len(health()) == 2 and sum(h["processed"] for h in health()) >= len(msgs),
        30,
        "health snapshots from both instances",
    )
    assert sum(h["processed"] for h in health()) == len(msgs)


def test_store_down_commits_nothing_unstored_then_recovers(pg_url, service, free_port):
    from sqlalchemy.engine import make_url

    u = make_url(pg_url)
    proxy = TcpProxy(u.host or "127.0.0.1", u.port or 5432).start()
    via_proxy = u.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        svc = service(via_proxy, metrics_port=free_port)
        produce(service.bootstrap, service.topic, valid(300, "before"))
        wait_until(lambda: count_items(pg_url) >= 300, 90, "first items stored")
        wait_until(lambda: committed_total(service.bootstrap, service.group, service.topic) == 300, 30, "first commits")
        proxy.stop()  # PostgreSQL now refuses connections through the proxy
        produce(service.bootstrap, service.topic, valid(300, "during"))
        svc.wait_event("store.unavailable", 60)
        # the unstored batch has been read and refused several times: only now is "nothing committed" evidence
        wait_until(lambda: svc.metric("finsentry_store_errors_total", free_port) >= 3, 60, "write retried")
        assert count_items(pg_url) == 300
        assert committed_total(service.bootstrap, service.group, service.topic) == 300, "committed past unstored items"
        assert svc.alive()
        proxy = TcpProxy(u.host or "127.0.0.1", u.port or 5432, port=proxy.port).start()
        svc.wait_event("store.available", 60)
        wait_until(lambda: count_items(pg_url) >= 600, 90, "items stored after recovery")
        wait_until(
            lambda: committed_total(service.bootstrap, service.group, service.topic) == 600,
            30,
            "commits after recovery",
        )
        assert count_items(pg_url) == 600
    finally:
        proxy.stop()


def test_without_bootstrap_starts_the_embedded_broker_and_stops_it(tmp_path, sqlite_url):
    import os

    svc = ServiceProc(tmp_path, "embedded", "", "news", "g", sqlite_url)
    svc.args = [a for a in svc.args if a not in ("--bootstrap", "")]
    svc.env = {k: v for k, v in svc.env.items() if k != "FINSENTRY_KAFKA_BOOTSTRAP"}
    svc.start()
    try:
        ev = svc.wait_event("broker.embedded", 60)
        assert ev["bootstrap"].startswith("127.0.0.1:")
        svc.wait_event("service.consuming", 60)
        broker_pid = svc.wait_event("broker.started", 5)["pid"]
        produce(ev["bootstrap"], "news", valid(5, "emb"))
        wait_until(lambda: count_items(sqlite_url) >= 5, 60, "items stored via the embedded broker")
        svc.signal(signal.SIGTERM)
        assert svc.wait(15) == 0
        with pytest.raises(ProcessLookupError):  # the broker went down with the service
            for _ in range(50):
                os.kill(broker_pid, 0)
                time.sleep(0.1)
    finally:
        svc.stop()


def test_broker_unreachable_at_start_is_retried_and_reported_once(tmp_path, sqlite_url, free_port):
    from ingest.broker import EmbeddedBroker
    from ingest.kafka_io import ensure_topics

    svc = ServiceProc(tmp_path, "late", f"127.0.0.1:{free_port}", "news", "g", sqlite_url).start()
    broker = None
    try:
        svc.wait_event("kafka.unreachable", 60)
        broker = EmbeddedBroker(port=free_port).start()
        svc.wait_event("kafka.reachable", 60)  # fails at once if the service exited during the outage
        svc.wait_event("service.consuming", 60)
        assert [e["event"] for e in svc.events()].count("kafka.unreachable") == 1
        ensure_topics(broker.bootstrap, ["news"])
        produce(broker.bootstrap, "news", valid(5, "late"))
        wait_until(lambda: count_items(sqlite_url) >= 5, 60, "items stored once the broker is up")
    finally:
        svc.stop()
        if broker is not None:
            broker.stop()
