"""The consumer loop in-process (real Tansu + real SQLite, a stand-in classifier): store refusals."""

from __future__ import annotations

import threading
from functools import partial

from finsentry.errors import StoreError
from ingest.kafka_io import ConsumerConfig, Sink, Source
from ingest.languages import LanguageDetector, ModelRouter
from ingest.service import IngestService, LoopConfig
from monitor.metrics import Metrics
from monitor.store import Store
from tests.ingest.harness import consume_all, count_items, produce, wait_until
from tests.ingest.payloads import valid
from tests.ingest.test_units import FakeModel


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
