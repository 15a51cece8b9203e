"""The composition root of ``finsentry run``: settings -> broker -> classifiers -> store -> metrics
(+ /healthz) -> retention job (its thread) -> monitor + notifier (its delivery thread) -> Kafka
source/sink -> the consumer loop. Nothing else builds these objects.

Stop order (``Running.close``, reverse of start, after the loop has finished, committed and left the
group): notifier thread (last delivery round) -> retention thread -> metrics server -> store ->
embedded broker.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from finsentry.errors import BrokerError, StoreUnavailable
from finsentry.logs import configure, get_logger
from finsentry.metrics import Metrics
from finsentry.progress import LoopProgress
from finsentry.retry import retry_until
from finsentry.settings import Settings
from ingest.broker import EmbeddedBroker
from ingest.kafka_io import (
    FETCH_MAX_WAIT_MS,
    ConsumerConfig,
    Sink,
    Source,
    ensure_topics,
)
from ingest.publish import dlq_budget
from ingest.service import IngestService, LoopConfig, Monitor
from model.languages import Classifier, LanguageDetector, Loader, ModelRouter
from store import Store
from store.dialect import EngineOptions, make_engine
from store.retention import RetentionJob, RetentionPolicy

log = get_logger(__name__)


@dataclass
class Running:
    """What :func:`build` started; :meth:`close` stops it in reverse order."""

    service: IngestService
    bootstrap: str
    broker: EmbeddedBroker | None = None
    metrics_server: Any = None
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for fn in reversed(self.closers):
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - best effort at shutdown
                log.warning("shutdown.step_failed", error=str(exc))
        self.closers.clear()


def load_monitor(settings: Settings, store: Store, metrics: Metrics,
                 closers: list[Callable[[], None]] | None = None) -> Monitor:
    """The monitor's service (tickers, rollups, spikes, alerts); part of the same distribution, so a
    failing import is a bug to surface, not a mode to run in. Starts the notifier's delivery thread
    (alerts are never sent on the consume loop's thread) and registers its stop in ``closers``."""
    from monitor.alerting import Notifier, NotifierConfig
    from monitor.service import MonitorConfig, MonitorService

    notifier = Notifier(NotifierConfig.from_settings(settings), store, metrics)
    monitor = MonitorService(MonitorConfig.from_settings(settings), store, metrics, notifier)
    notifier.start()
    if closers is not None:
        closers.append(notifier.close)  # idempotent: the loop's shutdown (monitor.close) may stop it first
    return monitor


def build(settings: Settings, stop: threading.Event, *, classifier_loader: Loader | None = None,
          with_monitor: bool = True) -> Running:
    """Start everything ``finsentry run`` needs (but not the loop itself)."""
    retention = _retention_policy(settings, with_monitor)  # ConfigError before anything starts
    closers: list[Callable[[], None]] = []
    broker = None
    bootstrap = settings.kafka_bootstrap
    try:
        if not bootstrap:
            broker = EmbeddedBroker(port=settings.embedded_broker_port).start()
            closers.append(broker.stop)
            bootstrap = broker.bootstrap
            log.info("broker.embedded", bootstrap=bootstrap,
                     note="no FINSENTRY_KAFKA_BOOTSTRAP given: started an in-memory Tansu broker")
        topics = [*settings.topic, settings.dlq_topic, settings.output_topic]
        retry_until("kafka", partial(ensure_topics, bootstrap, topics, settings.topic_partitions), stop, (BrokerError,))

        if classifier_loader is None:
            from model import load_classifier

            classifier_loader = partial(_load_model, load_classifier, settings)
        router = ModelRouter(settings.language_models, classifier_loader, settings.model_path)

        engine = make_engine(settings.store_url, EngineOptions(
            statement_timeout_s=settings.store_statement_timeout_s,
            idle_in_transaction_timeout_s=settings.store_idle_in_transaction_timeout_s))
        closers.append(engine.dispose)
        store = retry_until("store", partial(Store, settings.store_url, engine=engine), stop, (StoreUnavailable,))
        closers.append(store.close)

        metrics = Metrics()
        progress = LoopProgress()  # the loop writes it, /healthz reads it
        server = None
        if settings.metrics_port:
            from monitor.exposition import HealthCheck, MetricsServer

            server = MetricsServer.start(metrics.registry, settings.metrics_host, settings.metrics_port,
                                         health=HealthCheck(progress, settings.health_stall_s))
            closers.append(server.close)
            log.info("metrics.serving", url=server.url, health=server.health_url)

        job = RetentionJob(engine, retention, metrics)  # its own thread: never on the consume loop's
        job.start()
        closers.append(job.close)  # before the store closes (closers run in reverse)
        monitor = load_monitor(settings, store, metrics, closers) if with_monitor else None
        cfg = LoopConfig(
            dlq_topic=settings.dlq_topic, output_topic=settings.output_topic,
            batch_max_records=settings.batch_max_records, batch_max_wait_ms=settings.batch_max_wait_ms,
            max_text_chars=settings.max_text_chars, overlap=_overlap(settings.classify_overlap, router),
            publish_max_attempts=settings.publish_max_attempts, quarantine_path=settings.quarantine_path,
            dlq_max_bytes=dlq_budget(settings.producer_max_request_bytes),
        )
        ccfg = ConsumerConfig(
            bootstrap=bootstrap, topics=tuple(settings.topic), group=settings.group,
            auto_offset_reset=settings.auto_offset_reset, session_timeout_ms=settings.session_timeout_ms,
            max_poll_records=settings.batch_max_records,
            fetch_max_wait_ms=min(FETCH_MAX_WAIT_MS, settings.batch_max_wait_ms),
        )
        service = IngestService(
            cfg, source_factory=partial(Source, ccfg),
            sink_factory=partial(Sink, bootstrap, max_request_bytes=settings.producer_max_request_bytes),
            store=store, router=router, metrics=metrics, monitor=monitor,
            detector=LanguageDetector(preferred=router.languages), progress=progress,
        )
    except BaseException:
        for fn in reversed(closers):
            fn()
        raise
    return Running(service=service, bootstrap=bootstrap, broker=broker, metrics_server=server, closers=closers)


def _retention_policy(settings: Settings, with_monitor: bool) -> RetentionPolicy:
    """Retention (minute buckets kept at least the detector's horizon) and, with the monitor, the
    alerting settings (signing secrets or an explicit unsigned mode) checked up front."""
    from monitor.alerting import NotifierConfig
    from monitor.detector_config import DetectorConfig

    if with_monitor:
        NotifierConfig.from_settings(settings)
    return RetentionPolicy.from_settings(settings, DetectorConfig.from_settings(settings).horizon_s)


def _overlap(setting: str, router: ModelRouter) -> bool:
    """``auto``: overlap only when a model runs on CUDA (the device works while the CPU writes).
    On 2 CPU cores it gave no throughput (ORT already uses both) and raised latency at half load."""
    if setting == "auto":
        return any(getattr(m, "provider", "cpu") == "cuda" for m in router.models)
    return setting == "on"


def _load_model(load_classifier: Callable[..., Classifier], settings: Settings, path: str | None) -> Classifier:
    return load_classifier(path, provider=settings.provider, topic_threshold=settings.topic_threshold)


def install_signal_handlers(stop: threading.Event) -> None:
    """SIGTERM/SIGINT -> finish the batch, commit, leave the group, exit 0."""

    def handler(signum: int, _frame: object) -> None:
        if not stop.is_set():
            log.info("service.stop_requested", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run(settings: Settings, stop: threading.Event | None = None) -> int:
    """``finsentry run``: blocks until SIGTERM/SIGINT; returns the exit code."""
    configure(settings.log_level, settings.log_format)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        install_signal_handlers(stop)
    t0 = time.monotonic()
    try:
        running = build(settings, stop)
    except (BrokerError, StoreUnavailable):
        if stop.is_set():  # asked to stop while still waiting for a dependency
            return 0
        raise
    log.info("service.ready", bootstrap=running.bootstrap, topics=settings.topic, group=settings.group,
             startup_s=round(time.monotonic() - t0, 2))
    try:
        running.service.run(stop)
    finally:
        running.close()
    return 0
