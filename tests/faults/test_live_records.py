"""Issue 12, live: every hostile record of ``tests.faults.hostile`` (38 kinds) is fed into a LIVE
stream among valid items, to a real `finsentry run` process on the real broker (Tansu), once with
SQLite and once with PostgreSQL. For every kind: the service keeps consuming, each valid item is
stored exactly once, each bad record is in the DLQ with its reason and source coordinates, and
the committed offsets cover every record. One service per store for the whole module (the
checks per kind only read what that run left behind).

The SQLite run lowers the producer's request limit (32 KiB) so that a valid item's scored copy
(10,000 emoji, ~40 KB) is refused live by the producer: it must be dropped from the scored topic
with a ``publish_rejected`` dead letter, not retried for ever (the item itself is stored).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ingest.broker import EmbeddedBroker, free_port
from ingest.kafka_io import Record, ensure_topics
from tests.faults.hostile import STORED, Hostile, catalogue, raw_producer, send
from tests.ingest.harness import ServiceProc, committed_total, consume_all, count_items, health, rows, wait_until
from tests.ingest.payloads import valid

CATALOGUE = catalogue()
N_VALID = 120
SMALL_REQUEST = 32_768  # the SQLite run's producer limit (see the module docstring)


@dataclass
class Run:
    store: str
    store_url: str
    svc: ServiceProc
    port: int
    where: dict[str, tuple[int, int]] = field(default_factory=dict)  # kind -> (partition, offset)
    dlq: dict[tuple[int, int], list[Record]] = field(default_factory=dict)
    scored: dict[str, int] = field(default_factory=dict)  # id -> copies on the scored topic
    ids: list[str] = field(default_factory=list)
    total: int = 0
    committed: int = 0


def _pg_database() -> Iterator[str]:
    import psycopg

    from tests.conftest import PG_ADMIN_URL, _pg_reachable

    problem = _pg_reachable()
    if problem:
        pytest.skip(f"PostgreSQL unreachable: {problem}")
    admin = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    db = f"fs_faults_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    try:
        yield f"{PG_ADMIN_URL.rpartition('/')[0]}/{db}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def _feed(bootstrap: str, topic: str) -> tuple[dict[str, tuple[int, int]], int]:
    """Valid items and hostile records interleaved over the 4 partitions; where each hostile landed."""
    producer = raw_producer(bootstrap)
    futures = {}
    good = valid(N_VALID, "live")
    per = N_VALID // len(CATALOGUE) + 1
    n = 0
    for i, h in enumerate(CATALOGUE):
        for m in good[i * per:(i + 1) * per]:
            send(producer, topic, Hostile(m["id"], json.dumps(m).encode(), STORED, key=m["id"].encode()), i % 4)
            n += 1
        futures[h.kind] = send(producer, topic, h, i % 4)
        n += 1
    producer.flush()
    where = {k: (f.get(30).partition, f.get(30).offset) for k, f in futures.items()}
    producer.close()
    return where, n


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def run(request: pytest.FixtureRequest, tansu: EmbeddedBroker,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp: Path = tmp_path_factory.mktemp(f"live-{request.param}")
    pg = _pg_database() if request.param == "postgresql" else None
    store_url = next(pg) if pg is not None else f"sqlite:///{tmp / 'store.db'}"
    topic = f"live-{uuid.uuid4().hex[:8]}"
    ensure_topics(tansu.bootstrap, [topic], 4)
    ensure_topics(tansu.bootstrap, [f"{topic}.dlq", f"{topic}.scored"], 1)
    env = {"FINSENTRY_QUARANTINE_PATH": str(tmp / "quarantine.jsonl")}
    if request.param == "sqlite":
        env["FINSENTRY_PRODUCER_MAX_REQUEST_BYTES"] = str(SMALL_REQUEST)
    port = free_port()
    svc = ServiceProc(tmp, "svc", tansu.bootstrap, topic, f"g-{topic}", store_url, env, port).start()
    try:
        svc.wait_event("service.consuming", 90)  # live: the records arrive while it consumes
        where, total = _feed(tansu.bootstrap, topic)
        n_stored = N_VALID + sum(h.expect == STORED for h in CATALOGUE)
        wait_until(lambda: count_items(store_url) >= n_stored, 120, "every valid item stored")
        wait_until(lambda: committed_total(tansu.bootstrap, f"g-{topic}", topic) >= total, 60, "offsets committed")
        n_bad = sum(h.expect != STORED for h in CATALOGUE)
        r = Run(request.param, store_url, svc, port, where, total=total)
        for rec in consume_all(tansu.bootstrap, f"{topic}.dlq", n_bad + (request.param == "sqlite")):
            h = dict(rec.headers)
            coords = (int(h["finsentry-source-partition"]), int(h["finsentry-source-offset"]))
            r.dlq.setdefault(coords, []).append(rec)
        for rec in consume_all(tansu.bootstrap, f"{topic}.scored", n_stored - (request.param == "sqlite")):
            key = json.loads(rec.value)["id"]
            r.scored[key] = r.scored.get(key, 0) + 1
        r.ids = [x["id"] for x in rows(store_url, "select id from items")]
        r.committed = committed_total(tansu.bootstrap, f"g-{topic}", topic)
        yield r
    finally:
        svc.stop()
        if pg is not None:
            pg.close()


@pytest.mark.parametrize("h", CATALOGUE, ids=[h.kind for h in CATALOGUE])
def test_each_hostile_record(run: Run, h: Hostile) -> None:
    letters = run.dlq.get(run.where[h.kind], [])
    if h.expect == STORED:
        assert run.ids.count(h.item_id) == 1, f"{h.kind} must be stored exactly once"
        if h.kind == "emoji-10k" and run.store == "sqlite":  # its scored copy exceeds the producer limit
            assert run.scored.get(h.item_id, 0) == 0
            assert {dict(r.headers)["finsentry-reason"] for r in letters} == {b"publish_rejected"}
        else:
            assert run.scored.get(h.item_id) == 1 and letters == []
        return
    assert letters, f"{h.kind}: no dead letter from partition/offset {run.where[h.kind]}"
    assert {dict(r.headers)["finsentry-reason"].decode() for r in letters} == {h.expect}
    assert h.item_id not in run.ids
    rec = letters[0]
    if h.value is not None:  # the original bytes, cut only to fit under the producer's request limit
        assert rec.value is not None and h.value.startswith(rec.value) and len(rec.value) >= min(len(h.value), 512)
    if h.expect == "bad_header":
        assert b"not UTF-8" in dict(rec.headers)["finsentry-detail"]


def test_every_valid_item_is_stored_exactly_once(run: Run) -> None:
    stored = {f"live-{i}" for i in range(N_VALID)} | {h.item_id for h in CATALOGUE if h.expect == STORED}
    assert len(run.ids) == len(set(run.ids)) == len(stored)
    assert set(run.ids) == stored


def test_committed_offsets_cover_every_record_and_the_service_lives(run: Run) -> None:
    assert run.committed == run.total
    assert run.svc.alive()
    code, body = health(run.port)
    assert code == 200 and body["status"] in ("ok", "idle"), body
    assert run.svc.metric("finsentry_consumed_records_total", run.port) == run.total


def test_no_loop_retried_one_record_for_ever(run: Run) -> None:
    """Bounded: a refused scored copy is sent publish_max_attempts (3) times, then isolated; nothing
    was quarantined (the cut-down dead letters all fitted) and no batch was rewound for a record."""
    expected = 1 if run.store == "sqlite" else 0
    assert run.svc.metric("finsentry_publish_rejected_records_total", run.port) == expected
    assert run.svc.metric("finsentry_quarantined_records_total", run.port) == 0
    events = {e.get("event") for e in run.svc.events()}
    assert "kafka.publish_failed" not in events and "kafka.unreachable" not in events
