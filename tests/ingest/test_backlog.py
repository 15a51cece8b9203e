"""A backlog on a 4-partition topic, produced before `finsentry run` starts (a consumer catching up
after downtime), against the real broker, the shipped model and SQLite (issues 14 and 15).

The consumer reads the partitions in uneven chunks; with per-partition watermarks no item is
late, the whole-stream buckets hold every unique scored item, and the alerts (keys and onsets)
equal those of the in-process replay (``monitor evaluate``'s path) of the same scored items.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from finsentry.records import ScoredItem
from finsentry.settings import Settings
from finsentry.timeutil import as_utc
from monitor.evaluate import StreamRecord, read_stream, replay_scored
from monitor.syndication import story_hash
from tests.ingest.harness import count_items, produce, rows, wait_until
from tests.ingest.test_service import service  # noqa: F401 - the `finsentry run` process fixture

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
STREAM = ROOT / "data" / "streams" / "svb_2023.jsonl.gz"
# Two calm days, then SVB's collapse (9-11 March 2023): about 700 items, alerts fire in the slice.
SLICE = (datetime(2023, 3, 8, tzinfo=UTC), datetime(2023, 3, 12, tzinfo=UTC))


def bundled_slice() -> list[StreamRecord]:
    """The slice, one copy per story (a syndicated copy read before its first on another
    partition would count twice in any order-sensitive replay: not what this test is about)."""
    seen: set[str | None] = set()
    out = []
    for r in read_stream(STREAM):
        if SLICE[0] <= r.published_at < SLICE[1]:
            h = story_hash(r.text) or hashlib.sha1(r.text.encode()).hexdigest()
            if h not in seen:
                seen.add(h)
                out.append(r)
    return out


def stored_items(store_url: str) -> list[ScoredItem]:
    """The service's scored items, as `monitor evaluate` would have classified them (event order)."""
    out = []
    for r in rows(store_url, "select * from items order by published_at, id"):
        topics = r["topics"] if isinstance(r["topics"], list) else json.loads(r["topics"] or "[]")
        tickers = r["tickers"] if isinstance(r["tickers"], list) else json.loads(r["tickers"] or "[]")
        ts = r["published_at"]
        ts = as_utc(datetime.fromisoformat(ts) if isinstance(ts, str) else ts)
        out.append(ScoredItem(
            id=r["id"], text=r["text"], published_at=ts, ingested_at=ts, source=r["source"], lang=r["lang"],
            label=r["label"], p_negative=r["p_negative"], p_neutral=r["p_neutral"], p_positive=r["p_positive"],
            score=r["score"], topics=[(str(t), float(p)) for t, p in topics], tickers=list(tickers),
            model_version=r["model_version"],
        ))
    return out


def produce_backlog(svc, records: list[StreamRecord]) -> None:  # noqa: ANN001 - the fixture's factory
    produce(svc.bootstrap, svc.topic, [
        {"id": r.id, "text": r.text, "published_at": r.published_at.isoformat(), "source": r.source, "lang": r.lang}
        for r in records
    ])  # keyed by id: spread over the 4 partitions


def stream_watermark(store_url: str) -> datetime | None:
    got = rows(store_url, "select watermark from watermarks where topic = '*' and partition = -1")
    return as_utc(datetime.fromisoformat(str(got[0]["watermark"]))) if got else None


def assert_complete(store_url: str, records: list[StreamRecord], procs: list) -> None:
    last = max(r.published_at for r in records)
    wait_until(lambda: count_items(store_url) >= len(records), 150, "every item stored")
    # Caught up and idle everywhere: the stream's watermark is the newest event; its buckets are tested.
    wait_until(lambda: (stream_watermark(store_url) or SLICE[0]) >= last, 30, "the stream watermark at the newest item")
    for p in procs:
        assert not [e for e in p.events() if e.get("event") == "monitor.late_items"], p.tail()
    unique = rows(store_url, "select count(*) as n from items "
                             "where label is not null and duplicate_of is null")[0]["n"]
    bucketed = rows(store_url, "select sum(n_negative + n_neutral + n_positive) as n from buckets "
                               "where key_type = 'all'")[0]["n"]
    assert count_items(store_url) == len(records)
    assert bucketed == unique > len(records) // 2  # every unique scored item (the rest: languages no model covers)
    wm = stream_watermark(store_url)
    assert wm is not None and wm <= last + timedelta(seconds=1)


def assert_alerts_as_in_order(store_url: str) -> None:
    kafka_alerts = sorted((r["key_type"], r["key"], as_utc(datetime.fromisoformat(str(r["started_at"]))))
                          for r in rows(store_url, "select key_type, key, started_at from alerts"))
    report = replay_scored(stored_items(store_url), "slice", Settings(store_url=store_url))
    replayed = sorted((a.key_type, a.key, a.started_at) for a in report.alerts)
    assert replayed, "the slice must alert, or the comparison proves nothing"
    assert kafka_alerts == replayed


def test_a_backlog_across_partitions_is_complete_and_alerts_as_the_in_order_replay(sqlite_url, service):  # noqa: F811
    records = bundled_slice()
    produce_backlog(service, records)  # all of it before the service starts
    svc = service(sqlite_url, env={"FINSENTRY_PARTITION_IDLE_S": "2"})
    assert_complete(sqlite_url, records, [svc])
    assert_alerts_as_in_order(sqlite_url)


def test_restart_and_rebalance_resume_from_the_persisted_watermarks(sqlite_url, service):  # noqa: F811
    """One instance reads part of the backlog and stops; two start in its group and split the
    partitions: each partition resumes from its saved watermark, nothing is late, the buckets are
    complete. (Alerts are compared in the single-instance restart test below: two instances
    that split the partitions each test the keys they touch at their own pace, so a share-test
    alert on a busy topic can start a few minutes apart — docs/monitor.md, "Event time".)"""
    records = bundled_slice()
    produce_backlog(service, records)
    env = {"FINSENTRY_PARTITION_IDLE_S": "2"}
    first = service(sqlite_url, name="first", env=env)
    wait_until(lambda: count_items(sqlite_url) >= len(records) // 3, 120, "a third of the backlog stored")
    first.stop()
    saved = rows(sqlite_url, "select topic, partition from watermarks where partition >= 0")
    assert saved, "no per-partition watermark persisted"
    second = service(sqlite_url, name="second", env=env)
    third = service(sqlite_url, name="third", env=env)
    assert_complete(sqlite_url, records, [first, second, third])
    assigned = [p.assigned() for p in (second, third)]
    assert all(assigned), f"both instances own partitions after the rebalance: {assigned}"


def test_a_restart_mid_backlog_alerts_as_the_in_order_replay(sqlite_url, service):  # noqa: F811
    """One instance stops a third of the way through the backlog; its successor resumes from the
    persisted watermarks and the stored buckets: the same alerts as reading it all in order."""
    records = bundled_slice()
    produce_backlog(service, records)
    env = {"FINSENTRY_PARTITION_IDLE_S": "2"}
    first = service(sqlite_url, name="first", env=env)
    wait_until(lambda: count_items(sqlite_url) >= len(records) // 3, 120, "a third of the backlog stored")
    first.stop()
    second = service(sqlite_url, name="second", env=env)
    assert_complete(sqlite_url, records, [first, second])
    assert_alerts_as_in_order(sqlite_url)
