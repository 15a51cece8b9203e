"""The loop against a hostile alert receiver and a stalled loop: alert delivery never holds the
consumer (progress is counted while a POST is in flight), and /healthz turns 503 when the loop
stops moving (an injected clock, no sleeps)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from typing import Any

from prometheus_client import CollectorRegistry

from finsentry.metrics import Metrics
from finsentry.progress import LoopProgress
from finsentry.settings import Settings
from ingest.service import IngestService, LoopConfig
from model.languages import LanguageDetector, ModelRouter
from monitor.alerting import HttpSender, Notifier, NotifierConfig
from monitor.exposition import HealthCheck, MetricsServer
from monitor.service import MonitorConfig, MonitorService
from store import Store
from tests.alerting.conftest import firing
from tests.alerting.slow import TrickleReceiver, trickle
from tests.ingest.harness import wait_until
from tests.ingest.test_loop import FlakyStore, _records, _service
from tests.ingest.test_units import FakeModel
from tests.support.twins import MemorySink, MemorySource


def test_a_trickling_alert_receiver_does_not_hold_the_consumer(sqlite_url: str) -> None:
    """While the delivery thread is inside a POST to a receiver that answers one byte a second
    (for up to a minute), the loop polls, stores and commits every batch."""
    rx = TrickleReceiver(trickle(b"HTTP/1.1 200 OK\r\nX-Slow: "), every_s=1.0)
    store = Store(sqlite_url)
    metrics = Metrics(CollectorRegistry())
    notifier = Notifier(NotifierConfig(webhook_urls=(rx.url,)), store, metrics,
                        sender=HttpSender(total_timeout_s=120))  # only the test's release ends the POST
    monitor = MonitorService(MonitorConfig.from_settings(Settings()), store, metrics, notifier)
    with store.transaction() as txn:
        notifier.record(txn, [firing()])
    notifier.start(interval_s=0.02)
    src = MemorySource(_records(60))
    svc = IngestService(
        LoopConfig(dlq_topic="dlq", output_topic="out", batch_max_records=10, overlap=False, tick_every_s=0.0),
        source_factory=lambda **kw: src, sink_factory=MemorySink, store=store,
        router=ModelRouter({"en": "shipped"}, lambda p: FakeModel("fake")), metrics=metrics, monitor=monitor,
        detector=LanguageDetector(preferred=["en"]),
    )
    stop = threading.Event()
    loop = threading.Thread(target=svc.run, args=(stop,))
    try:
        assert rx.in_flight.wait(15), "the delivery thread should be inside the POST"
        loop.start()  # ticks on every iteration (tick_every_s=0): the old tick() delivered here
        wait_until(lambda: src.committed() == {("news", 0): 30, ("news", 1): 30}, 60, "all batches committed")
        assert svc.counts["batches"] >= 6
        assert not rx.hung_up.is_set() and not rx.done.is_set()  # ... all while the POST was still in flight
        assert store.pending_count() == 1  # not delivered: the receiver has not answered
    finally:
        rx.release.set()  # the receiver closes: the POST fails, the round ends
        stop.set()
        if loop.is_alive() or loop.ident is not None:
            loop.join(30)
        rx.stop()
    assert not loop.is_alive()
    assert not notifier.running  # the loop's shutdown (monitor.close) stopped the delivery thread
    store.close()


def _get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def test_healthz_flips_to_503_when_the_loop_stalls_and_back_when_it_moves() -> None:
    now = [1000.0]
    progress = LoopProgress(clock=lambda: now[0])
    server = MetricsServer.start(CollectorRegistry(), "127.0.0.1", 0, health=HealthCheck(progress, 120))
    try:
        code, body = _get(server.health_url)
        assert (code, body["status"], body["progress_age_s"]) == (503, "starting", None)

        progress.beat(assigned=4)
        progress.set_lag(17)
        now[0] += 120
        code, body = _get(server.health_url)
        assert (code, body["status"], body["lag"], body["assigned_partitions"]) == (200, "ok", 17, 4)
        assert body["progress_age_s"] == 120

        now[0] += 1  # past the threshold while holding partitions
        progress.error("store.unavailable", "connection to postgresql://app:pw-planted@db/x refused")
        code, body = _get(server.health_url)
        assert (code, body["status"], body["progress_age_s"]) == (503, "stalled", 121)
        assert body["last_error"].startswith("store.unavailable") and "pw-planted" not in body["last_error"]

        progress.beat(assigned=4)
        assert _get(server.health_url)[0] == 200

        progress.beat(assigned=0)  # a standby member without partitions is not stalled by being quiet
        now[0] += 10_000
        code, body = _get(server.health_url)
        assert (code, body["status"]) == (200, "idle")

        with urllib.request.urlopen(server.url, timeout=5) as resp:  # /metrics is still served
            assert resp.status == 200
    finally:
        server.close()


def test_the_loop_publishes_its_progress_lag_and_last_error(sqlite_url: str) -> None:
    progress = LoopProgress()
    store = FlakyStore(sqlite_url, outages=1)
    src = MemorySource(_records(20))
    svc = _service(store, src, MemorySink)
    svc.progress = progress
    svc._health.progress = progress
    stop = threading.Event()
    t = threading.Thread(target=svc.run, args=(stop,))
    t.start()
    try:
        wait_until(lambda: src.committed() == {("news", 0): 10, ("news", 1): 10}, 30, "all committed")
        wait_until(lambda: progress.snapshot().iterations >= 3, 30, "more iterations")
    finally:
        stop.set()
        t.join(15)
    snap = progress.snapshot()
    assert snap.assigned == 2 and snap.lag is not None
    assert snap.last_error is not None and snap.last_error.startswith("store.unavailable")
    assert progress.health(120)[0] == 200
