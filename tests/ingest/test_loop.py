"""The consumer loop in-process with a stand-in classifier: store refusals (real Tansu + SQLite),
store outages and failed publishes (in-memory Kafka twins + real SQLite)."""

from __future__ import annotations

import threading
from functools import partial

from finsentry.errors import StoreError, StoreUnavailable
from finsentry.metrics import Metrics
from ingest.contract import encode
from ingest.kafka_io import ConsumerConfig, Record, Sink, Source
from ingest.service import IngestService, LoopConfig
from model.languages import LanguageDetector, ModelRouter
from store import Store
from tests.ingest.harness import consume_all, count_items, produce, wait_until
from tests.ingest.payloads import valid
from tests.ingest.test_units import FakeModel
from tests.support.twins import MemorySink, MemorySource


class RefusingStore(Store):
    """A real store that refuses (non-transiently) any batch containing the id ``poison``."""

    def write_batch(self, batch, in_txn=None):
        if any(it.id == "poison" for it in batch):
            raise StoreError("value too long for the column (simulated)")
        return super().write_batch(batch, in_txn)


def test_item_the_store_refuses_is_dead_lettered_not_a_poison_pill(tansu, make_topic, unique_name, sqlite_url):
    topic = make_topic()
    dlq = make_topic(f"{topic}.dlq", 1)
    store = RefusingStore(sqlite_url)
    metrics = Metrics()
    svc = IngestService(
        LoopConfig(dlq_topic=dlq, batch_max_records=50),
        source_factory=partial(Source, ConsumerConfig(tansu.bootstrap, (topic,), unique_name("g"))),
        sink_factory=partial(Sink, tansu.bootstrap),
        store=store, router=ModelRouter({"en": "shipped"}, lambda p: FakeModel("fake")), metrics=metrics,
        detector=LanguageDetector(preferred=["en"]),
    )
    msgs = valid(120, "p")
    msgs.insert(37, {"id": "poison", "text": "Shares fall", "lang": "en"})
    produce(tansu.bootstrap, topic, msgs)
    stop = threading.Event()
    t = threading.Thread(target=svc.run, args=(stop,))
    t.start()
    try:
        wait_until(lambda: count_items(sqlite_url) >= 120, 60, "the other items stored")
        got = consume_all(tansu.bootstrap, dlq, 1)
        assert [dict(r.headers)["finsentry-reason"] for r in got] == [b"store_rejected"]
        assert b'"poison"' in got[0].value
        assert metrics.registry.get_sample_value(
            "finsentry_dead_lettered_records_total", {"reason": "store_rejected"}) == 1
    finally:
        stop.set()
        t.join(15)
        store.close()
    assert not t.is_alive()
    assert store.status()["dead_lettered"] == 1


# --- the loop's decisions on in-memory Kafka twins (real SQLite store) -------------------------


def _records(n: int, bad_every: int = 0) -> list[Record]:
    out = []
    for i, m in enumerate(valid(n, "tw")):
        value = b"not json" if bad_every and i % bad_every == 0 else encode(m)
        out.append(Record("news", i % 2, i // 2, None, value, [], 1_678_450_000_000))
    return out


def _service(store, source, sink_factory, metrics=None):
    svc = IngestService(
        LoopConfig(dlq_topic="dlq", output_topic="out", batch_max_records=1000, backoff_initial_s=0.01),
        source_factory=lambda **kw: source, sink_factory=sink_factory, store=store,
        router=ModelRouter({"en": "shipped"}, lambda p: FakeModel("fake")), metrics=metrics or Metrics(),
        detector=LanguageDetector(preferred=["en"]),
    )
    svc.source, svc.sink = source, sink_factory()
    return svc


class FlakyStore(Store):
    def __init__(self, url, outages):
        super().__init__(url)
        self.outages = outages

    def write_batch(self, batch, in_txn=None):
        if self.outages:
            self.outages -= 1
            raise StoreUnavailable("connection refused (simulated)")
        return super().write_batch(batch, in_txn)


def test_store_outage_rewinds_and_commits_nothing_until_stored(sqlite_url):
    store = FlakyStore(sqlite_url, outages=2)
    src = MemorySource(_records(40, bad_every=10))
    metrics = Metrics()
    svc = _service(store, src, MemorySink, metrics)
    stop = threading.Event()
    for _ in range(2):
        assert svc.process(src.poll(0, 1000), stop) is False
        assert src.commits == [] and src.position == {("news", 0): 0, ("news", 1): 0}  # re-read from the start
        assert svc.sink.sent == []  # nothing published for an unstored batch
    assert svc.process(src.poll(0, 1000), stop) is True
    assert src.committed() == {("news", 0): 20, ("news", 1): 20}
    assert store.status()["items"] == 36 and store.status()["dead_lettered"] == 4
    assert metrics.registry.get_sample_value("finsentry_store_errors_total") == 2
    assert sorted(t for t, _ in svc.sink.sent) == ["dlq"] * 4 + ["out"] * 36


def test_failed_publish_rewinds_renews_the_producer_then_commits(sqlite_url):
    store = Store(sqlite_url)
    src = MemorySource(_records(20))
    svc = _service(store, src, MemorySink)
    first = svc.sink = MemorySink(fail_flushes=1)
    stop = threading.Event()
    assert svc.process(src.poll(0, 1000), stop) is False
    assert src.commits == [] and first.closed and svc.sink is not first  # a fresh producer
    assert store.status()["items"] == 20  # stored already: the re-read is idempotent
    assert svc.process(src.poll(0, 1000), stop) is True
    assert src.committed() == {("news", 0): 10, ("news", 1): 10}
    assert store.status()["items"] == 20 and len(svc.sink.sent) == 20


# --- overlap: batch N+1 is classified while batch N is written ---------------------------------


class GatedStore(Store):
    """Blocks the first write until the classifier has been called for the next batch."""

    def __init__(self, url, next_classified: threading.Event, timeout: float = 10):
        super().__init__(url)
        self.next_classified, self.timeout = next_classified, timeout
        self.overlapped: list[bool] = []

    def write_batch(self, batch, in_txn=None):
        if not self.overlapped:
            self.overlapped.append(self.next_classified.wait(self.timeout))
        return super().write_batch(batch, in_txn)


class CountingModel(FakeModel):
    def __init__(self, name, on_call):
        super().__init__(name)
        self.on_call = on_call

    def classify(self, texts):
        out = super().classify(texts)
        self.on_call(len(self.calls))
        return out


class RecordingSource(MemorySource):
    """Checks that commits only ever move forward, partition by partition."""

    def commit(self, offsets):
        for tp, o in offsets.items():
            assert o >= self.committed().get(tp, 0), f"commit moved back on {tp}"
        super().commit(offsets)


def _overlap_service(store, source, model, overlap=True, sink=None):
    svc = IngestService(
        LoopConfig(dlq_topic="dlq", output_topic="out", batch_max_records=10, backoff_initial_s=0.01, overlap=overlap),
        source_factory=lambda **kw: source, sink_factory=sink or MemorySink, store=store,
        router=ModelRouter({"en": "shipped"}, lambda p: model), metrics=Metrics(),
        detector=LanguageDetector(preferred=["en"]),
    )
    return svc


def _run_until(svc, cond, what):
    stop = threading.Event()
    t = threading.Thread(target=svc.run, args=(stop,))
    t.start()
    try:
        wait_until(cond, 30, what, every=0.02)
    finally:
        stop.set()
        t.join(15)
    assert not t.is_alive()


def test_next_batch_is_classified_while_the_previous_one_is_written(sqlite_url):
    second = threading.Event()
    store = GatedStore(sqlite_url, second)
    model = CountingModel("fake", lambda n: n >= 2 and second.set())
    src = RecordingSource(_records(40))
    svc = _overlap_service(store, src, model)
    _run_until(svc, lambda: src.committed() == {("news", 0): 20, ("news", 1): 20}, "all committed")
    assert store.overlapped == [True]
    assert store.status()["items"] == 40 and len(model.calls) == 4


def test_without_overlap_the_next_batch_waits_for_the_write(sqlite_url):
    second = threading.Event()
    store = GatedStore(sqlite_url, second, timeout=0.5)  # the gate times out: nothing runs beside the write
    model = CountingModel("fake", lambda n: n >= 2 and second.set())
    src = RecordingSource(_records(40))
    svc = _overlap_service(store, src, model, overlap=False)
    _run_until(svc, lambda: src.committed() == {("news", 0): 20, ("news", 1): 20}, "all committed")
    assert store.overlapped == [False]
    assert store.status()["items"] == 40


def test_failed_write_rewinds_the_batch_in_flight_too(sqlite_url):
    """Batch 2 fails once while batch 3 is already classified: both are re-read, nothing is lost,
    commits never move back and every item is stored exactly once."""

    class FailSecond(Store):
        writes = 0

        def write_batch(self, batch, in_txn=None):
            FailSecond.writes += 1
            if FailSecond.writes == 2:
                raise StoreUnavailable("connection refused (simulated)")
            return super().write_batch(batch, in_txn)

    store = FailSecond(sqlite_url)
    src = RecordingSource(_records(60))
    model = FakeModel("fake")
    svc = _overlap_service(store, src, model)
    _run_until(svc, lambda: src.committed() == {("news", 0): 30, ("news", 1): 30}, "all committed")
    assert store.status()["items"] == 60
    classified = [t for call in model.calls for t in call]
    assert len(classified) > 60  # the rewound batches were classified again


def test_rebalance_finishes_the_batch_in_flight_before_giving_partitions_up(sqlite_url):
    store = Store(sqlite_url)

    class RevokingSource(RecordingSource):
        listener = None
        polls = 0
        revoked_with: dict = {}

        def poll(self, timeout_ms, max_records):
            RevokingSource.polls += 1
            if RevokingSource.polls == 2:  # batch 1 is in flight
                self.listener({("news", 0), ("news", 1)})
                RevokingSource.revoked_with = self.committed()
            return super().poll(timeout_ms, max_records)

    src = RevokingSource(_records(20))

    def factory(on_revoked, on_assigned):
        src.listener = on_revoked
        return src

    svc = _overlap_service(store, src, FakeModel("fake"))
    svc._source_factory = factory
    _run_until(svc, lambda: src.committed() == {("news", 0): 10, ("news", 1): 10}, "all committed")
    assert RevokingSource.revoked_with == {("news", 0): 10}  # batch 1 (partition 0) committed on revoke
    assert store.status()["items"] == 20


def test_overlap_auto_is_on_only_with_a_cuda_model():
    from app.root import _overlap

    class M:
        def __init__(self, provider):
            self.provider = provider

    class R:
        def __init__(self, *providers):
            self.models = [M(p) for p in providers]

    assert _overlap("auto", R("cpu")) is False
    assert _overlap("auto", R("cpu", "cuda")) is True
    assert _overlap("on", R("cpu")) is True and _overlap("off", R("cuda")) is False
