"""The consumer loop in-process with a stand-in classifier: store refusals (real Tansu + SQLite),
store outages and failed publishes (in-memory Kafka twins + real SQLite)."""

from __future__ import annotations

import threading
from functools import partial

from finsentry.errors import StoreError, StoreUnavailable
from ingest.contract import encode
from ingest.kafka_io import ConsumerConfig, Record, Sink, Source
from ingest.languages import LanguageDetector, ModelRouter
from ingest.service import IngestService, LoopConfig
from monitor.metrics import Metrics
from monitor.store import Store
from tests.ingest.harness import consume_all, count_items, produce, wait_until
from tests.ingest.payloads import valid
from tests.ingest.test_units import FakeModel
from tests.ingest.twins import MemorySink, MemorySource


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
