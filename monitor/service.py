"""`MonitorService`: what the ingest loop calls around each store write.

    monitor = MonitorService(MonitorConfig.from_settings(settings), store, metrics, notifier)
    monitor.enrich(items)                                   # tickers + story fingerprint
    new = store.write_batch(items, monitor.in_transaction)  # link copies, add buckets (same txn)
    monitor.after_write(new)                                # watermark, spike tests, gauges, alerts
    monitor.tick(now)                                       # record alert changes a store outage held back
    monitor.assign(tps) / revoke(tps) / caught_up(tps)      # the ingest loop's partitions (event time)

Event time is tracked per input partition (``monitor.watermark``): the stream's watermark is the
minimum over the assigned, non-idle partitions, so a backlog read across partitions at any skew
closes each bucket only once it is complete. Items without a partition (the in-process
evaluator) are one logical partition, which makes the watermark the newest event time seen.
The per-partition watermarks and the stream's are saved in the transaction that adds the
buckets; an item dated beyond ``ingested_at + max_future_s`` is stored but held out of the
buckets until the watermark reaches it (it moves its partition's watermark to ``ingested_at +
max_future_s`` at most).

Buckets are added inside the store transaction that inserted the items, so a redelivered
item (not newly inserted) never adds twice. The detector reads the closed buckets back from
the store, so several instances writing into one store are tested as one global view, and a
restarted service rebuilds each key's baseline from the persisted buckets (no warm-up).
Every store access is a named method of :class:`store.protocol.MonitorStore` (or of the
:class:`store.protocol.Transaction` the store hands in): no SQL here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from finsentry.errors import StoreError
from finsentry.logs import get_logger
from finsentry.records import ALL, EMPTY, AlertEvent, KeyId, ScoredItem
from finsentry.timeutil import as_utc
from monitor.buckets import Watermark, bucket_start, contributions, item_counts, keys_of
from monitor.describe import describe
from monitor.detector import Evaluation, SpikeDetector
from monitor.detector_config import DetectorConfig
from monitor.gauges import KeyGauges
from monitor.syndication import link_syndicated
from monitor.watermark import PartitionId, PartitionWatermarks

if TYPE_CHECKING:
    from finsentry.metrics import Metrics
    from finsentry.settings import Settings
    from store.protocol import MonitorStore, Transaction

log = get_logger(__name__)

Clock = Callable[[], datetime]
LOCAL: PartitionId = ("", 0)  # items read from no partition (the in-process evaluator)
STREAM: PartitionId = ("*", -1)  # the stored row of the stream's watermark (store.watermarks.STREAM)
# Closed buckets re-read from the store on each step (other instances' recent writes). Older
# buckets are re-read only when this instance itself wrote into them (its own late items).
REFRESH_S = 300


class AlertSink(Protocol):
    """What the monitor hands alert events to (``monitor.alerting.Notifier``)."""

    def record(self, txn: Transaction, events: list[AlertEvent]) -> None: ...
    def deliver_due(self, now: datetime | None = None) -> int: ...
    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    """What the monitor reads of the settings (built once by the composition root)."""

    detector: DetectorConfig
    bucket_seconds: int = 60
    allowed_lateness_s: int = 3600
    syndication_window_s: int = 86_400
    evidence: int = 5
    ticker_top_k: int = 0
    source_top_k: int = 0
    ticker_watchlist: tuple[str, ...] = ()
    max_future_s: int = 300
    partition_idle_s: float = 30.0

    @classmethod
    def from_settings(cls, s: Settings) -> MonitorConfig:
        return cls(
            detector=DetectorConfig.from_settings(s), bucket_seconds=s.bucket_seconds,
            allowed_lateness_s=s.allowed_lateness_s, syndication_window_s=s.syndication_window_s,
            evidence=s.detector_evidence, ticker_top_k=s.ticker_top_k, source_top_k=s.source_top_k,
            ticker_watchlist=tuple(s.ticker_watchlist), max_future_s=s.max_future_s,
            partition_idle_s=s.partition_idle_s,
        )


class MonitorService:
    """Trends, syndication links, spike detection and alert hand-off for one consumer.

    ``notifier`` records alert state in the store and delivers it (None: alerts are detected and
    logged, but not recorded); ``on_event`` sees every alert event this instance emits (evaluation).
    ``wall`` is the monotonic clock of partition idleness (tests pass a fake one).
    """

    def __init__(
        self,
        config: MonitorConfig,
        store: MonitorStore,
        metrics: Metrics,
        notifier: AlertSink | None = None,
        clock: Clock | None = None,
        on_event: Callable[[AlertEvent], None] | None = None,
        wall: Callable[[], float] | None = None,
    ) -> None:
        self.cfg = config
        self.store = store
        self.metrics = metrics
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self.notifier = notifier
        self.on_event = on_event
        self.detector = SpikeDetector(config.detector, negatives_by_type=store.negatives_by_type)
        self.wall: Callable[[], float] = wall or time.monotonic
        self.watermarks = PartitionWatermarks(config.partition_idle_s, config.max_future_s)
        self._max_future = timedelta(seconds=config.max_future_s)
        self._saved: dict[PartitionId, datetime] = {}  # persisted partition watermarks (capped) at start
        self._next_held: datetime | None = None  # event time of the earliest held (future-dated) item
        self._unsent: list[Evaluation] = []  # alert state changes not yet recorded (store down)
        self._pending: dict[KeyId, datetime] = {}  # key -> newest bucket with untested data
        # Set inside the write transaction(s) of a batch, read by after_write once they committed
        # (keyed by id, so a transaction that rolled back and is retried does not count twice).
        self._late_ids: set[str] = set()
        self._held_ids: set[str] = set()
        self._released: dict[str, ScoredItem] = {}
        self._staged_stream: datetime | None = None  # the stream's watermark the last write saved
        self._saved_stream: datetime | None = None  # ... once that write committed
        self._oldest_touched: datetime | None = None  # oldest bucket this instance added to since the last step
        self.gauges = KeyGauges(metrics, config.ticker_top_k, config.source_top_k, config.ticker_watchlist)
        self._restore()

    # --- start-up and partitions -------------------------------------------------------------
    @property
    def watermark(self) -> Watermark:
        """The stream's watermark now (minimum over active partitions) with the lateness rule."""
        return Watermark(self.cfg.allowed_lateness_s, self.watermarks.value(self.wall()))

    def _cap(self) -> datetime:
        """No restored watermark is further ahead of the wall clock than a new item may be."""
        return as_utc(self.clock()) + self._max_future

    def _restore(self) -> None:
        """Resume from the store: event-time position, held items and episodes still firing."""
        try:
            saved = self.store.load_watermarks()
            cap = self._cap()
            stream = saved.pop(STREAM, None)
            # A store written before per-partition watermarks: its newest bucket, never a future one.
            if stream is None and not saved:
                stream = self.store.latest_bucket_start(at_most=cap)
            self._next_held = self.store.next_held()
            firing = self.store.firing_episodes()
        except StoreError as exc:
            cause = exc.__cause__ if exc.__cause__ is not None else exc
            raise StoreError(f"monitor could not read its state: {type(cause).__name__}") from exc
        self._saved = {pid: min(ts, cap) for pid, ts in saved.items()}
        if stream is not None:
            stream = min(stream, cap)
            # Where the stream was: lateness is judged against it until the partitions are known.
            self.watermarks.floor(stream)
            self.detector.closed_end = bucket_start(stream, self.cfg.bucket_seconds)
        for episode in firing:
            self.detector.restore_episode(episode.key, episode.started_at, episode.severity)
        log.info("monitor.restored", watermark=stream.isoformat() if stream else None, partitions=len(saved),
                 held_from=self._next_held.isoformat() if self._next_held else None, firing=len(firing))

    def assign(self, partitions: Iterable[PartitionId]) -> None:
        """The ingest loop now owns ``partitions``: each resumes from its persisted watermark (the
        store is read again: another instance may have owned it since this one started)."""
        parts = set(partitions)
        try:
            saved = {pid: min(ts, self._cap()) for pid, ts in self.store.load_watermarks().items()}
        except StoreError as exc:
            log.warning("monitor.watermarks_unreadable", error=type(exc).__name__, using="values read at start")
            saved = self._saved
        wall = self.wall()
        self.watermarks.assign(parts, wall)
        self.watermarks.restore({pid: ts for pid, ts in saved.items() if pid in parts}, wall)
        log.info("monitor.partitions_assigned", partitions=len(parts), watermark=self._wm_iso())

    def revoke(self, partitions: Iterable[PartitionId]) -> None:
        """Partitions the ingest loop lost no longer hold the stream's watermark back."""
        self.watermarks.revoke(partitions)

    def caught_up(self, partitions: Iterable[PartitionId]) -> None:
        """The loop has no lag on ``partitions``; after ``partition_idle_s`` without records they are idle."""
        self.watermarks.caught_up(partitions)

    # --- before the write -----------------------------------------------------------------
    def enrich(self, batch: list[ScoredItem]) -> None:
        """In place: tickers from the message and the text, and the syndication fingerprint."""
        from monitor.entities import extract_entities
        from monitor.syndication import story_hash
        from monitor.tickers import extract_tickers

        for it in batch:
            it.tickers = extract_tickers(it.text, given=it.tickers)
            it.entities = extract_entities(it.text)
            it.story_hash = story_hash(it.text)

    # --- inside the store transaction -------------------------------------------------------
    def in_transaction(self, txn: Transaction, new_items: list[ScoredItem]) -> None:
        """Link syndicated copies to their first item; hold future-dated items; add the rest (and
        held items whose time has come) to the buckets; save the watermarks this batch makes."""
        link_syndicated(txn, new_items, self.cfg.syndication_window_s)
        wm = self.watermark  # lateness is judged against the stream's watermark before the batch
        held = [it for it in new_items if self._future(it)]
        held_ids = {it.id for it in held}
        on_time, late = wm.split(it for it in new_items if it.id not in held_ids)
        self._late_ids |= {it.id for it in late}
        self._held_ids |= held_ids
        if held:
            txn.hold_items(sorted(held_ids))
        released = self._release(txn, wm.value)
        txn.add_buckets(contributions(on_time + released, self.cfg.bucket_seconds))
        after = self.watermarks.clone()
        wall = self.wall()
        for it in new_items:  # a held item moves its partition at most to ingested_at + max_future_s
            after.observe(_partition(it), it.published_at, wall, it.ingested_at)
        idle = after.idle(wall)  # an idle partition's row is not refreshed: other instances stop waiting on it
        marks = {pid: ts for pid, ts in after.snapshot().items() if pid not in idle}
        stream = after.value(wall)
        if stream is not None:
            marks[STREAM] = stream
        self._staged_stream = stream
        txn.save_watermarks(marks, self.clock())

    def _future(self, it: ScoredItem) -> bool:
        return as_utc(it.published_at) > as_utc(it.ingested_at) + self._max_future

    def _release(self, txn: Transaction, upto: datetime | None) -> list[ScoredItem]:
        """Held items the watermark has reached (their flag is cleared in ``txn``: added once)."""
        if upto is None or self._next_held is None or self._next_held > upto:
            return []
        released = txn.release_held(upto)
        self._released.update((it.id, it) for it in released)
        return released

    # --- after the write --------------------------------------------------------------------
    def after_write(self, new_items: list[ScoredItem]) -> None:
        """Advance event time; test the buckets that closed; set gauges; hand alerts over."""
        late = [it for it in new_items if it.id in self._late_ids]
        if late:
            self.metrics.late_items.inc(len(late))
            log.info("monitor.late_items", count=len(late), watermark=self._wm_iso())
        wall = self.wall()
        held = [it for it in new_items if it.id in self._held_ids]
        for it in new_items:
            self.watermarks.observe(_partition(it), it.published_at, wall, it.ingested_at)
        added = [it for it in new_items if it.id not in self._late_ids and it.id not in self._held_ids]
        released = list(self._released.values())
        self._touch(added + released)
        self._late_ids, self._held_ids, self._released = set(), set(), {}
        if self._staged_stream is not None:
            self._saved_stream = max(self._saved_stream or self._staged_stream, self._staged_stream)
        self._after_hold(held, released)
        self._advance()

    def _touch(self, items: Iterable[ScoredItem]) -> None:
        """Remember the keys and buckets these (bucketed) items added to: they are tested next."""
        width = self.cfg.bucket_seconds
        for it in items:
            if item_counts(it) == EMPTY:
                continue
            b = bucket_start(it.published_at, width)
            if self._oldest_touched is None or b < self._oldest_touched:
                self._oldest_touched = b
            for key in keys_of(it):
                if key not in self._pending or self._pending[key] < b:
                    self._pending[key] = b

    def _after_hold(self, held: list[ScoredItem], released: list[ScoredItem]) -> None:
        if held:
            first = min(as_utc(it.published_at) for it in held)
            self._next_held = first if self._next_held is None else min(self._next_held, first)
            self.metrics.future_items_held.inc(len(held))
            log.warning("monitor.future_items_held", count=len(held), first=first.isoformat(),
                        max_future_s=self.cfg.max_future_s)
        if released:
            log.info("monitor.held_items_released", count=len(released), watermark=self._wm_iso())
            try:
                self._next_held = self.store.next_held()
            except StoreError:
                pass  # keep the old hint: the next release asks the store again

    def _global(self, value: datetime | None) -> datetime | None:
        """The buckets are global (several instances add into them): they are tested only once the
        partitions other instances are reading (rows written within ``partition_idle_s``) passed
        them too. None: the store could not say (tested on the next step)."""
        if value is None:
            return None
        since = as_utc(self.clock()) - timedelta(seconds=self.cfg.partition_idle_s)
        try:
            rows = self.store.load_watermarks(updated_since=since)
        except StoreError as exc:
            log.warning("monitor.watermarks_unreadable", error=type(exc).__name__)
            return None
        own = self.watermarks.assigned() | {STREAM, LOCAL}
        return min([value, *(ts for pid, ts in rows.items() if pid not in own)])

    def _advance(self) -> None:
        """Test the buckets the stream's watermark (and other instances' partitions) closed since the last step."""
        value = self._global(self.watermarks.value(self.wall()))
        if value is None:
            return
        width = self.cfg.bucket_seconds
        closed_end = bucket_start(value, width)
        prev = self.detector.closed_end
        if prev is not None and closed_end <= prev:
            return
        try:
            evals = self._evaluate(prev, closed_end)
        except StoreError as exc:
            # Nothing advanced: the next batch tests the same closed buckets again.
            log.warning("monitor.evaluate_failed", error=type(exc).__name__)
            return
        self._pending = {k: b for k, b in self._pending.items() if b >= closed_end}
        self._oldest_touched = None
        self.gauges.update(evals)
        self._unsent.extend(e for e in evals if e.event is not None)
        self._flush()
        self.detector.prune()

    def _evaluate(self, prev: datetime | None, closed_end: datetime) -> list[Evaluation]:
        keys = set(self._pending) | set(self.detector.active_keys()) | {ALL}
        fresh_keys = sorted(k for k in keys if not self.detector.knows(k))
        known = sorted(k for k in keys if self.detector.knows(k))
        horizon = timedelta(seconds=self.cfg.detector.horizon_s)
        if prev is None:
            refresh_from = closed_end - horizon
        else:
            refresh_from = prev - timedelta(seconds=min(REFRESH_S, self.cfg.allowed_lateness_s))
            if self._oldest_touched is not None:
                refresh_from = min(refresh_from, self._oldest_touched)
        store = self.store
        history = store.read_series_many(fresh_keys, closed_end - horizon, closed_end)
        recent = store.read_series_many(known, refresh_from, closed_end)
        self.gauges.refresh(store, closed_end)
        for key in fresh_keys:
            self.detector.load(key, history.get(key, {}), closed_end - horizon, closed_end)
        fresh = {k: recent.get(k, {}) for k in known}
        return self.detector.advance(closed_end, fresh, refresh_from=refresh_from)

    def _flush(self) -> None:
        """Record pending alert events; on a store failure keep them for the next call."""
        if not self._unsent:
            return
        try:
            self._emit(self._unsent)
        except StoreError as exc:
            log.warning("monitor.alert_record_failed", pending=len(self._unsent), error=type(exc).__name__)
            return
        self._unsent = []

    def _emit(self, evals: list[Evaluation]) -> None:
        events: list[AlertEvent] = []
        with self.store.transaction() as txn:
            for ev in evals:
                assert ev.event is not None
                event = ev.event
                if event.status == "firing":
                    event = describe(txn, ev, event, self.cfg.evidence)
                events.append(event)
                log.info(
                    "monitor.alert",
                    alert_id=event.alert_id,
                    status=event.status,
                    severity=event.severity,
                    negative_share=event.figures.get("negative_share"),
                    baseline=event.figures.get("baseline_negative_share"),
                    z=event.figures.get("z"),
                )
            if self.notifier is not None:
                self.notifier.record(txn, events)
        if self.on_event is not None:
            for event in events:
                self.on_event(event)

    # --- housekeeping -------------------------------------------------------------------------
    def tick(self, now: datetime) -> None:
        """Record alert state changes still pending after a store outage (called periodically by the
        ingest loop). Delivery is not done here: the notifier's own thread sends (``app.root`` starts
        it), so a slow receiver can never hold the loop."""
        del now  # part of the loop's Monitor protocol; recording uses the notifier's clock
        self._flush()
        if self._next_held is not None:
            wm = self.watermarks.value(self.wall())
            if wm is not None and self._next_held <= wm:
                with self.store.transaction() as txn:
                    released = self._release(txn, wm)
                    txn.add_buckets(contributions(released, self.cfg.bucket_seconds))
                self.after_write([])  # the released items' keys are tested like a batch's
                return
        self._advance()  # idle partitions may have moved the watermark with no new item
        value = self.watermarks.value(self.wall())
        if value is not None and (self._saved_stream is None or value > self._saved_stream):
            with self.store.transaction() as txn:  # the dashboard's "now" follows without a new item
                txn.save_watermarks({STREAM: value}, self.clock())
            self._saved_stream = value

    def close(self) -> None:
        if self.notifier is not None:
            self.notifier.close()

    def _wm_iso(self) -> str | None:
        value = self.watermarks.value(self.wall())
        return value.isoformat() if value else None


def _partition(it: ScoredItem) -> PartitionId:
    if it.kafka_topic is None or it.kafka_partition is None:
        return LOCAL
    return (it.kafka_topic, it.kafka_partition)
