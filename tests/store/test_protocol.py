"""The store protocol, one scenario per concern, on the SQL store (SQLite, PostgreSQL) and on
its in-memory twin: both must give the same answers, so unit tests on the twin mean something."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from finsentry.errors import StoreError
from finsentry.records import ALL, AlertEvent, Counts, Evidence, ScoredItem
from store import Store
from store.protocol import StoreProtocol, Transaction
from tests.support.memory_store import MemoryStore

T0 = datetime(2023, 3, 10, 14, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest) -> Iterator[StoreProtocol]:
    if request.param == "memory":
        yield MemoryStore()
        return
    sql = Store(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))
    yield sql
    sql.close()


def item(i: int, minute: int = 0, label: str = "negative", score: float = -0.8, story: str | None = None,
         tickers: tuple[str, ...] = ("SIVB",)) -> ScoredItem:
    return ScoredItem(
        id=f"i{i}", text=f"headline {i}", published_at=T0 + timedelta(minutes=minute), ingested_at=T0,
        source="cnbc", label=label, score=score, topics=[("Banks", 0.9)], tickers=list(tickers),  # type: ignore[arg-type]
        story_hash=story,
    )


def firing(key: str = "SIVB", severity: str = "warning") -> AlertEvent:
    return AlertEvent(
        alert_id=f"ticker:{key}:{T0.isoformat()}", status="firing", key_type="ticker", key=key,
        severity=severity, started_at=T0, resolved_at=None,  # type: ignore[arg-type]
        figures={"z": 5.0}, evidence=(Evidence("i1", "headline 1", "cnbc", -0.8),),
        entity="SVB Financial", story="headline 1", story_size=3,
    )


def test_writes_are_idempotent_and_the_hook_sees_only_new_items(store: StoreProtocol) -> None:
    seen: list[list[str]] = []

    def hook(txn: Transaction, new: list[ScoredItem]) -> None:
        seen.append([it.id for it in new])

    assert [it.id for it in store.write_batch([item(1), item(2)], hook)] == ["i1", "i2"]
    assert [it.id for it in store.write_batch([item(2), item(3), item(3)], hook)] == ["i3"]
    assert seen == [["i1", "i2"], ["i3"]]

    def boom(txn: Transaction, new: list[ScoredItem]) -> None:
        txn.add_buckets({("all", "*", T0): Counts(n_negative=1)})
        raise RuntimeError("monitor failed")

    with pytest.raises(RuntimeError):
        store.write_batch([item(4)], boom)
    assert store.read_series(ALL, T0, T0 + timedelta(hours=1)) == []  # the bucket went with it
    assert [it.id for it in store.write_batch([item(4)])] == ["i4"]  # ... and the item too
    assert store.status()["items"] == 4


def test_buckets_add_up_and_read_back(store: StoreProtocol) -> None:
    def add(txn: Transaction, new: list[ScoredItem]) -> None:
        txn.add_buckets({
            ("all", "*", T0): Counts(n_negative=1, score_sum=-0.8),
            ("ticker", "SIVB", T0): Counts(n_negative=1, score_sum=-0.8),
            ("ticker", "JPM", T0 + timedelta(minutes=1)): Counts(n_positive=2, score_sum=1.4),
        })

    store.write_batch([item(1)], add)
    store.write_batch([item(2)], add)
    assert store.read_series(ALL, T0, T0 + timedelta(minutes=5)) == [(T0, Counts(n_negative=2, score_sum=-1.6))]
    keys = [("ticker", "SIVB"), ("ticker", "JPM"), ("topic", "none")]
    many = store.read_series_many(keys, T0, T0 + timedelta(minutes=1))
    assert dict(many) == {("ticker", "SIVB"): {T0: Counts(n_negative=2, score_sum=-1.6)}}
    assert store.top_keys("ticker", T0, T0 + timedelta(minutes=5), 5) == [("JPM", 4), ("SIVB", 2)]
    assert store.top_keys("ticker", T0, T0 + timedelta(minutes=5), 1) == [("JPM", 4)]
    assert store.latest_bucket_start() == T0


def test_syndication_reads_and_links_and_evidence(store: StoreProtocol) -> None:
    store.write_batch([item(1, 0, story="h"), item(2, 5, story="h", score=-0.9), item(3, 9, "neutral", 0.0)])
    with store.transaction() as txn:
        both = {"h": [(T0, "i1"), (T0 + timedelta(minutes=5), "i2")]}
        assert txn.first_copies(["h", "x"], T0, T0 + timedelta(minutes=5)) == both
        assert [e.id for e in txn.evidence(("ticker", "SIVB"), T0, T0 + timedelta(hours=1), 5)] == ["i2", "i1"]
        txn.link_syndicated({"i2": "i1"})
    with store.transaction() as txn:
        assert txn.first_copies(["h"], T0, T0 + timedelta(hours=1)) == {"h": [(T0, "i1")]}
        ev = txn.evidence(ALL, T0, T0 + timedelta(hours=1), 5)
        assert ev == [Evidence("i1", "headline 1", "cnbc", -0.8)]
        assert txn.evidence(("topic", "Banks"), T0 + timedelta(minutes=1), T0 + timedelta(hours=1), 5) == []
        assert txn.evidence(("source", "cnbc"), T0, T0 + timedelta(hours=1), 1) == ev


def test_alert_episodes_are_recorded_once_escalate_and_resolve(store: StoreProtocol) -> None:
    now = T0 + timedelta(minutes=3)
    with store.transaction() as txn:
        assert txn.insert_alert(firing(), "fp1", now)
        assert not txn.insert_alert(firing(severity="critical"), "fp2", now)  # same episode id
        assert txn.resolve_alert("missing", now, now) is None
    (episode,) = store.firing_episodes()
    assert (episode.key, episode.started_at, episode.severity) == (("ticker", "SIVB"), T0, "warning")
    with store.transaction() as txn:
        up = txn.escalate_alert(replace(firing(severity="critical"), figures={"z": 8.0}), "fp2", now)
        assert up is not None and (up.severity, up.figures, up.evidence) == ("critical", {"z": 8.0}, firing().evidence)
        assert txn.escalate_alert(firing(severity="critical"), "fp2", now) is None  # already critical
    with store.transaction() as txn:
        done = txn.resolve_alert(firing().alert_id, T0 + timedelta(minutes=30), now)
        assert done is not None and (done.status, done.severity) == ("resolved", "critical")
        # the resolve notification names the entity and story as the firing one did
        assert (done.entity, done.story, done.story_size) == ("SVB Financial", "headline 1", 3)
        assert done.resolved_at == T0 + timedelta(minutes=30)
        assert txn.resolve_alert(firing().alert_id, now, now) is None
    assert store.firing_episodes() == []
    assert [e.alert_id for e in store.not_firing([firing().alert_id, "other"])] == [firing().alert_id]
    st = store.status()
    assert (st["alerts"], st["alerts_firing"]) == (1, 0)


def test_outbox_leases_orders_and_counts_attempts(store: StoreProtocol) -> None:
    a, b = firing("A"), firing("B")
    with store.transaction() as txn:
        for ev in (a, b):
            txn.insert_alert(ev, "fp", T0)
        txn.enqueue(a.alert_id, "firing", "webhook", "http://x", {"n": 1}, T0)
        txn.enqueue(a.alert_id, "resolved", "webhook", "http://x", {"n": 2}, T0)
        txn.enqueue(b.alert_id, "firing", "webhook", "http://x", {"n": 3}, T0 + timedelta(minutes=1))
        txn.enqueue(a.alert_id, "firing", "alertmanager", "http://am", [{"n": 4}], T0)
    assert store.pending_count() == 4
    first = store.claim_due(T0)  # a's resolve waits for a's firing; b is not due yet
    assert [(r.alert_id, r.status, r.target, r.payload, r.attempts) for r in first] == [
        (a.alert_id, "firing", "http://x", {"n": 1}, 1), (a.alert_id, "firing", "http://am", [{"n": 4}], 1)]
    store.mark_failed(first[0].id, T0 + timedelta(minutes=2), "HTTP 503")
    store.release(first[1].id, T0)  # not attempted: the attempt is not counted
    again = store.claim_due(T0 + timedelta(minutes=1))  # a's firing to x now waits for its retry
    assert [(r.alert_id, r.target, r.attempts) for r in again] == [
        (b.alert_id, "http://x", 1), (a.alert_id, "http://am", 1)]
    assert store.claim_due(T0 + timedelta(minutes=1)) == []  # leased rows are not claimed twice
    for row in again:
        store.mark_delivered(row.id, T0 + timedelta(minutes=1))
    assert [e.alert_id for e in store.delivered_firing("http://am")] == [a.alert_id]
    assert [e.alert_id for e in store.delivered_firing("http://x")] == [b.alert_id]
    late = store.claim_due(T0 + timedelta(minutes=2))
    assert [(r.alert_id, r.status, r.attempts) for r in late] == [(a.alert_id, "firing", 2)]
    store.mark_delivered(late[0].id, T0 + timedelta(minutes=2))
    assert [(r.status, r.payload) for r in store.claim_due(T0 + timedelta(minutes=2))] == [("resolved", {"n": 2})]
    assert store.pending_count() == 1
    assert [r.attempts for r in store.claim_due(T0 + timedelta(hours=1), limit=1)] == [2]


def test_a_transaction_that_raises_keeps_nothing(store: StoreProtocol) -> None:
    with pytest.raises(RuntimeError), store.transaction() as txn:
        txn.insert_alert(firing(), "fp", T0)
        txn.enqueue(firing().alert_id, "firing", "webhook", "http://x", {}, T0)
        raise RuntimeError("after the writes")
    assert store.firing_episodes() == [] and store.pending_count() == 0


def test_an_unreachable_sql_store_raises_store_errors(free_port: int) -> None:
    store = Store(f"postgresql+psycopg://postgres@127.0.0.1:{free_port}/none", create=False)
    for call in (store.latest_bucket_start, store.firing_episodes, store.pending_count,
                 lambda: store.claim_due(T0), lambda: store.read_series(ALL, T0, T0)):
        with pytest.raises(StoreError):
            call()
    with pytest.raises(StoreError), store.transaction():
        pass
    store.close()
