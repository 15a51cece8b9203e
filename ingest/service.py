"""The consumer loop: poll a batch -> validate -> classify -> store -> monitor -> publish -> commit.

At-least-once: offsets are committed only after the store write (and the DLQ / output sends)
succeeded; the store is idempotent by id, so a redelivered record never makes a second row.
When the store or the broker fails, the loop seeks back to the first uncommitted offset of the
batch, backs off and re-reads: nothing is lost and the consumer stays in its group.

Overlap (``LoopConfig.overlap``; ``FINSENTRY_CLASSIFY_OVERLAP=auto`` turns it on for a CUDA model
only, see ``app.root``): while batch N is stored, published and committed
on the loop's thread, batch N+1 is already being classified on a worker thread (ONNX Runtime and
the tokenizer release the GIL; on a GPU the device works while the CPU writes). Commits still
happen strictly in batch order, and a failure of batch N rewinds N and N+1 together, so the
at-least-once contract above is unchanged. At most two batches are held in memory.

About 400 lines, one class: the lifecycle, rebalance callbacks, overlap and shutdown share the loop's
state (batch in flight, uncommitted offsets); the stages around it live in ``ingest.batch``,
``ingest.isolation`` and ``ingest.health``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from finsentry.errors import BrokerError, QuarantineError, StorePermissionDenied, StoreUnavailable
from finsentry.logs import get_logger
from finsentry.metrics import Metrics
from finsentry.progress import LoopProgress
from finsentry.records import ScoredItem
from finsentry.retry import Backoff, Outage
from ingest.batch import Batch, count_durable
from ingest.health import HealthReporter
from ingest.isolation import record_dead_letters_isolating, write_isolating
from ingest.kafka_io import Record, Sink, Source
from ingest.publish import PublishConfig, Publisher
from ingest.quarantine import Quarantine
from ingest.records import (
    DLQ_MAX_BYTES,
    Rejected,
    first_offsets,
    next_offsets,
    scored_item,
    triage,
)
from model.languages import LanguageDetector, ModelRouter
from store import Store
from store.protocol import Transaction

log = get_logger(__name__)


class Monitor(Protocol):
    """What the loop needs from ``monitor.service.MonitorService``."""

    def enrich(self, items: list[ScoredItem]) -> None: ...
    def in_transaction(self, txn: Transaction, new_items: list[ScoredItem]) -> None: ...
    def after_write(self, new_items: list[ScoredItem]) -> None: ...
    def tick(self, now: datetime) -> None: ...
    def close(self) -> None: ...
    # Event time per input partition (which partitions this member owns, and which are caught up).
    def assign(self, partitions: Iterable[tuple[str, int]]) -> None: ...
    def revoke(self, partitions: Iterable[tuple[str, int]]) -> None: ...
    def caught_up(self, partitions: Iterable[tuple[str, int]]) -> None: ...


@dataclass(frozen=True, slots=True)
class LoopConfig:
    dlq_topic: str = "news.dlq"
    output_topic: str = ""  # '' = do not publish scored items
    batch_max_records: int = 256
    batch_max_wait_ms: int = 200
    max_text_chars: int = 10_000
    health_every_s: float = 5.0
    tick_every_s: float = 1.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 10.0
    overlap: bool = True  # classify batch N+1 while batch N is written (see the module docstring)
    publish_max_attempts: int = 3  # sends of a record refused for its own sake (see ingest.publish)
    dlq_max_bytes: int = DLQ_MAX_BYTES  # dead letters cut to this (below the producer's max request)
    quarantine_path: str = "var/quarantine.jsonl"  # records even a cut-down dead letter could not carry
    instance: str = f"{socket.gethostname()}:{os.getpid()}"


class IngestService:
    """One consumer-group member. Build with collaborators; call :meth:`run` with a stop event."""

    def __init__(
        self,
        cfg: LoopConfig,
        source_factory: Callable[..., Source],
        sink_factory: Callable[[], Sink],
        store: Store,
        router: ModelRouter,
        metrics: Metrics,
        monitor: Monitor | None = None,
        detector: LanguageDetector | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        progress: LoopProgress | None = None,
    ) -> None:
        self.cfg = cfg
        self._source_factory, self._sink_factory = source_factory, sink_factory
        self.store, self.router, self.metrics, self.monitor = store, router, metrics, monitor
        self.detector = detector or LanguageDetector()
        self.clock = clock
        self.source: Source | None = None
        self.sink: Sink | None = None
        self._uncommitted: dict[tuple[str, int], int] = {}
        self._store_backoff = Outage(Backoff(cfg.backoff_initial_s, cfg.backoff_max_s))
        self._broker_backoff = Outage(Backoff(cfg.backoff_initial_s, cfg.backoff_max_s))
        self._publish_backoff = Outage(Backoff(cfg.backoff_initial_s, cfg.backoff_max_s))
        self.counts = {"consumed": 0, "processed": 0, "dead_lettered": 0, "batches": 0}
        self._last_health = 0.0
        self._last_tick = 0.0
        # Liveness for /healthz (app.root hands the same object to the metrics server).
        self.progress = progress or LoopProgress()
        self._health = HealthReporter(store, router, metrics, cfg.instance, self.progress)
        self._lost_polls = 0
        self._joined = False
        self._inflight: Batch | None = None  # polled and being classified, not yet written
        self._pool: ThreadPoolExecutor | None = None
        self._stop = threading.Event()
        self._publisher = Publisher(
            PublishConfig(cfg.dlq_topic, cfg.output_topic, cfg.publish_max_attempts,
                          min(cfg.backoff_initial_s, 0.2), cfg.dlq_max_bytes),
            metrics, Quarantine(cfg.quarantine_path), lambda s: self._stop.wait(s))

    # --- lifecycle ---------------------------------------------------------------------
    def _connect(self, stop: threading.Event) -> bool:
        while not stop.is_set():
            try:
                self.sink = self.sink or self._sink_factory()
                self.source = self._source_factory(on_revoked=self._on_revoked, on_assigned=self._on_assigned)
                if self._broker_backoff.ok():
                    log.info("kafka.reachable")
                return True
            except BrokerError as exc:
                delay = self._broker_backoff.fail()
                self.progress.error("kafka.unreachable", str(exc))
                if delay == self.cfg.backoff_initial_s:
                    log.warning("kafka.unreachable", error=str(exc), retry="with backoff")
                stop.wait(delay)
        return False

    def _on_revoked(self, partitions: set[tuple[str, int]]) -> None:
        """Rebalance: finish the batch in flight, then commit what is done for the partitions we lose."""
        batch, self._inflight = self._inflight, None
        if batch is not None:
            try:
                self._finish(batch, self._stop)
            except Exception as exc:  # noqa: BLE001 - not committed: the new owner re-reads it
                log.warning("rebalance.finish_failed", error=str(exc))
        done = {tp: o for tp, o in self._uncommitted.items() if tp in partitions}
        if done and self.source is not None:
            try:
                self.source.commit(done)
            except BrokerError as exc:
                log.warning("kafka.commit_on_revoke_failed", error=str(exc))
        for tp in partitions:
            self._uncommitted.pop(tp, None)
        if self.monitor is not None:
            self.monitor.revoke(partitions)
        if partitions:
            log.info("kafka.partitions_revoked", partitions=sorted(f"{t}-{p}" for t, p in partitions))

    def _on_assigned(self, partitions: set[tuple[str, int]]) -> None:
        self._joined = True
        if self.monitor is not None:
            self.monitor.assign(partitions)  # each resumes from its persisted event-time watermark
        log.info("kafka.partitions_assigned", partitions=sorted(f"{t}-{p}" for t, p in partitions))

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set; then finish the batch(es), commit, leave the group."""
        log.info("service.starting", instance=self.cfg.instance, languages=self.router.languages)
        self._stop = stop
        if not self._connect(stop):
            return
        assert self.source is not None
        if self.cfg.overlap:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="classify")
        announced = False
        try:
            while not stop.is_set():
                self._beat()  # the previous iteration completed (or this is the first)
                try:
                    records = self._poll()
                    if self._broker_backoff.ok():
                        log.info("kafka.reachable")
                except BrokerError as exc:
                    delay = self._broker_backoff.fail()
                    self.progress.error("kafka.unreachable", str(exc))
                    if delay == self.cfg.backoff_initial_s:
                        log.warning("kafka.unreachable", error=str(exc), retry="with backoff")
                    stop.wait(delay)
                    continue
                if not announced and self.source.assignment():
                    announced = True
                    log.info("service.consuming", instance=self.cfg.instance)
                nxt = self._start(records) if records else None
                batch, self._inflight = self._inflight, None
                if batch is not None and not self._finish(batch, stop) and nxt is not None:
                    # Batch N was rewound; N+1 was read after it and must be re-read too.
                    self._rewind(batch.records + nxt.records)
                    nxt.preds.cancel()
                    nxt = None
                if self.cfg.overlap:
                    self._inflight = nxt
                elif nxt is not None:
                    self._finish(nxt, stop)
                if batch is None and nxt is None:
                    self._watch_broker()
                self._periodic()
        finally:
            self._shutdown()

    def _beat(self) -> None:
        assert self.source is not None
        try:
            assigned = len(self.source.assignment())
        except Exception:  # noqa: BLE001 - liveness is best effort: it must not fail the loop
            assigned = 0
        self.progress.beat(assigned)

    def _poll(self) -> list[Record]:
        """Next batch. With a batch in flight, poll in short slices until records arrive or its
        classification is done, so a lone batch is written as soon as it is scored."""
        assert self.source is not None
        batch = self._inflight
        if batch is None:
            return self.source.poll(self.cfg.batch_max_wait_ms, self.cfg.batch_max_records)
        while True:
            records = self.source.poll(10, self.cfg.batch_max_records)
            if records or batch.preds.done() or self._stop.is_set() or self._inflight is not batch:
                return records

    def _watch_broker(self) -> None:
        """An idle poll on a lost coordinator means the broker is gone: say so once, and when back."""
        assert self.source is not None
        if not self._joined:
            return  # before the first join the coordinator is unknown by design
        if not self.source.connected():
            self._lost_polls += 1
            if self._lost_polls == 10:
                log.warning("kafka.unreachable", retry="kafka client reconnects with backoff")
        elif self._lost_polls:
            if self._lost_polls >= 10:
                log.info("kafka.reachable")
            self._lost_polls = 0

    def _shutdown(self) -> None:
        batch, self._inflight = self._inflight, None
        if batch is not None and self.source is not None:
            try:
                self._finish(batch, self._stop)
            except Exception as exc:  # noqa: BLE001 - not committed: re-read after the restart
                log.warning("service.final_batch_failed", error=str(exc))
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._health.write(self.source, self.counts["consumed"], self.counts["processed"], self.counts["dead_lettered"])
        if self.source is not None:
            if self._uncommitted:
                try:
                    self.source.commit(self._uncommitted)
                    self._uncommitted = {}
                except BrokerError as exc:
                    log.warning("kafka.final_commit_failed", error=str(exc))
            self.source.close()
        if self.sink is not None:
            self.sink.close()
        if self.monitor is not None:
            self.monitor.close()
        log.info("service.stopped", **self.counts)

    # --- one batch ---------------------------------------------------------------------
    def process(self, records: list[Record], stop: threading.Event) -> bool:
        """Handle one polled batch synchronously; True if committed, False if it will be re-read."""
        return self._finish(self._start(records, inline=True), stop)

    def _start(self, records: list[Record], inline: bool = False) -> Batch:
        """Validate on the loop's thread; detect languages and classify on the worker (or inline)."""
        t0 = time.perf_counter()
        valid, rejected = triage(records, self.cfg.max_text_chars)
        batch = Batch(records, valid, rejected, self.clock(), t0)
        if inline or self._pool is None:
            try:
                batch.preds.set_result(self._classify(batch))
            except Exception as exc:  # noqa: BLE001 - re-raised by _finish, as from the worker
                batch.preds.set_exception(exc)
        else:
            batch.preds = self._pool.submit(self._classify, batch)
        return batch

    def _classify(self, batch: Batch) -> list[tuple[Any, str | None]]:
        batch.langs = [self.detector.language_of(msg.text, msg.lang) for _, msg in batch.valid]
        t_inf = time.perf_counter()
        preds = self.router.classify([msg.text for _, msg in batch.valid], batch.langs)
        if batch.valid:
            self.metrics.inference_latency.observe(time.perf_counter() - t_inf)
        return preds

    def _finish(self, batch: Batch, stop: threading.Event) -> bool:
        """Store, publish and commit a classified batch; False if it was rewound to be re-read."""
        records, valid, rejected, now = batch.records, batch.valid, batch.rejected, batch.now
        preds = batch.preds.result()  # a classifier exception surfaces here, on the loop's thread
        m = self.metrics
        items = [
            scored_item(rec, msg, lang, p, ver, now)
            for (rec, msg), lang, (p, ver) in zip(valid, batch.langs, preds, strict=True)
        ]
        if self.monitor is not None and items:
            self.monitor.enrich(items)

        # Store first: a failure here means nothing is committed and the batch is re-read.
        t_store = time.perf_counter()
        try:
            in_txn = self.monitor.in_transaction if self.monitor else None
            new_items, refused = write_isolating(self.store, items, valid, rejected, in_txn)
            record_dead_letters_isolating(self.store, rejected)
        except StoreUnavailable as exc:  # incl. StorePermissionDenied: an outage, never a bad record
            m.store_errors.inc()
            event = "store.permission_denied" if isinstance(exc, StorePermissionDenied) else "store.unavailable"
            self.progress.error(event, str(exc))
            self.progress.fault(f"{event} - {exc}" if isinstance(exc, StorePermissionDenied) else None)
            delay = self._store_backoff.fail()
            if delay == self.cfg.backoff_initial_s:
                log.error(event, error=str(exc), action="pausing; offsets not committed")
            self._rewind(records)
            stop.wait(delay)
            return False
        m.store_write_latency.observe(time.perf_counter() - t_store)
        if self._store_backoff.ok():
            self.progress.fault(None)
            log.info("store.available", action="resuming")
        if self.monitor is not None and new_items:
            self.monitor.after_write(new_items)

        # Then Kafka: dead letters (original bytes + reason headers) and scored items, flushed.
        assert self.source is not None
        try:
            scored = [(rec, it) for (rec, _), it in zip(valid, items, strict=True) if it.id not in refused]
            self._publish(rejected, scored)
        except (BrokerError, QuarantineError) as exc:
            self.progress.error("kafka.publish_failed", str(exc))
            delay = self._publish_backoff.fail()
            if delay == self.cfg.backoff_initial_s:
                log.warning("kafka.publish_failed", error=str(exc), action="re-reading batch; new producer")
            self._rewind(records)
            self._renew_sink()
            stop.wait(delay)
            return False
        if self._publish_backoff.ok():
            log.info("kafka.publish_recovered")

        offsets = next_offsets(records)
        self._uncommitted.update(offsets)
        try:
            self.source.commit(offsets)
            self._uncommitted = {}
        except BrokerError as exc:  # e.g. a rebalance took the partition: the new owner re-reads (idempotent)
            log.warning("kafka.commit_failed", error=str(exc))
            self._uncommitted = {}

        count_durable(m, batch, items, new_items)
        self.counts["consumed"] += len(records)
        self.counts["processed"] += len(new_items)
        self.counts["dead_lettered"] += len(rejected)
        self.counts["batches"] += 1
        return True

    def _publish(self, rejected: list[Rejected], scored: list[tuple[Record, ScoredItem]]) -> None:
        """Dead letters and scored copies, flushed, refused records isolated (``ingest.publish``);
        raises BrokerError (an outage) or QuarantineError."""
        if self.sink is None:
            self.sink = self._sink_factory()
        self._publisher.publish(self.sink, rejected, scored)

    def _renew_sink(self) -> None:
        """A producer that failed (e.g. the broker restarted and forgot its producer ids) is replaced."""
        old, self.sink = self.sink, None
        if old is not None:
            old.close()
        try:
            self.sink = self._sink_factory()
        except BrokerError:
            self.sink = None  # retried on the next batch

    def _rewind(self, records: list[Record]) -> None:
        assert self.source is not None
        for tp, offset in first_offsets(records).items():
            self.source.seek(tp, offset)

    # --- periodic ----------------------------------------------------------------------
    def _periodic(self) -> None:
        now = time.monotonic()
        if self.monitor is not None and now - self._last_tick >= self.cfg.tick_every_s:
            self._last_tick = now
            self._report_caught_up()
            try:
                self.monitor.tick(self.clock())
            except StoreUnavailable as exc:
                self.progress.error("monitor.tick_failed", str(exc))
                log.warning("monitor.tick_failed", error=str(exc))
        if now - self._last_health >= self.cfg.health_every_s:
            self._last_health = now
            self._health.write(
                self.source, self.counts["consumed"], self.counts["processed"], self.counts["dead_lettered"]
            )

    def _report_caught_up(self) -> None:
        """Partitions with no lag (fetch high watermark, not ListOffsets) are caught up: the monitor
        stops waiting for them once they stay silent for ``partition_idle_s`` (a stale high
        watermark is covered by that timeout: any record read makes the partition active again)."""
        if self.monitor is None or self.source is None:
            return
        try:
            lags = self.source.lag()
        except Exception:  # noqa: BLE001 - best effort: an unknown lag keeps partitions active
            return
        done = [tp for tp, n in lags.items() if n <= 0]
        if done:
            self.monitor.caught_up(done)
