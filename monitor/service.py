"""`MonitorService`: what the ingest loop calls around each store write.

    monitor = MonitorService(MonitorConfig.from_settings(settings), store, metrics, notifier)
    monitor.enrich(items)                                   # tickers + story fingerprint
    new = store.write_batch(items, monitor.in_transaction)  # link copies, add buckets (same txn)
    monitor.after_write(new)                                # watermark, spike tests, gauges, alerts
    monitor.tick(now)                                       # record alert changes a store outage held back

Buckets are added inside the store transaction that inserted the items, so a redelivered
item (not newly inserted) never adds twice. The detector reads the closed buckets back from
the store, so several instances writing into one store are tested as one global view, and a
restarted service rebuilds each key's baseline from the persisted buckets (no warm-up).
Every store access is a named method of :class:`store.protocol.MonitorStore` (or of the
:class:`store.protocol.Transaction` the store hands in): no SQL here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from finsentry.errors import StoreError
from finsentry.logs import get_logger
from finsentry.records import ALL, EMPTY, AlertEvent, Evidence, KeyId, ScoredItem
from finsentry.timeutil import as_utc
from monitor.buckets import Watermark, bucket_start, contributions, item_counts, keys_of
from monitor.detector import Evaluation, SpikeDetector
from monitor.detector_config import DetectorConfig

if TYPE_CHECKING:
    from finsentry.metrics import Metrics
    from finsentry.settings import Settings
    from store.protocol import MonitorStore, Transaction

log = get_logger(__name__)

Clock = Callable[[], datetime]
MAX_FUTURE_S = 300  # an item dated further ahead of its ingest time does not move the watermark
# Closed buckets re-read from the store on each step (other instances' recent writes). Older
# buckets are re-read only when this instance itself wrote into them (its own late items).
REFRESH_S = 300
_TOP_K_SPAN = timedelta(days=1)  # "most active" tickers/sources for metric labels: last day
_EVIDENCE_CHARS = 500


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

    @classmethod
    def from_settings(cls, s: Settings) -> MonitorConfig:
        return cls(
            detector=DetectorConfig.from_settings(s), bucket_seconds=s.bucket_seconds,
            allowed_lateness_s=s.allowed_lateness_s, syndication_window_s=s.syndication_window_s,
            evidence=s.detector_evidence, ticker_top_k=s.ticker_top_k, source_top_k=s.source_top_k,
            ticker_watchlist=tuple(s.ticker_watchlist),
        )


class MonitorService:
    """Trends, syndication links, spike detection and alert hand-off for one consumer.

    ``notifier`` records alert state in the store and delivers it (None: alerts are detected and
    logged, but not recorded); ``on_event`` sees every alert event this instance emits (evaluation).
    """

    def __init__(
        self,
        config: MonitorConfig,
        store: MonitorStore,
        metrics: Metrics,
        notifier: AlertSink | None = None,
        clock: Clock | None = None,
        on_event: Callable[[AlertEvent], None] | None = None,
    ) -> None:
        self.cfg = config
        self.store = store
        self.metrics = metrics
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self.notifier = notifier
        self.on_event = on_event
        self.detector = SpikeDetector(config.detector)
        self.watermark = Watermark(config.allowed_lateness_s)
        self._unsent: list[Evaluation] = []  # alert state changes not yet recorded (store down)
        self._pending: dict[KeyId, datetime] = {}  # key -> newest bucket with untested data
        self._late_ids: set[str] = set()
        self._oldest_touched: datetime | None = None  # oldest bucket this instance added to since the last step
        self._labels: dict[str, set[str]] = {"ticker": set(), "source": set()}
        self._restore()

    # --- start-up -------------------------------------------------------------------------
    def _restore(self) -> None:
        """Resume from the store: event-time position and episodes still firing."""
        try:
            last = self.store.latest_bucket_start()
            firing = self.store.firing_episodes()
        except StoreError as exc:
            cause = exc.__cause__ if exc.__cause__ is not None else exc
            raise StoreError(f"monitor could not read its state: {type(cause).__name__}") from exc
        if last is not None:
            # The newest stored bucket may still be open: it is tested when the next item lands.
            self.watermark.value = last
            self.detector.closed_end = last
        for episode in firing:
            self.detector.restore_episode(episode.key, episode.started_at, episode.severity)
        log.info("monitor.restored", watermark=last.isoformat() if last else None, firing=len(firing))

    # --- before the write -----------------------------------------------------------------
    def enrich(self, batch: list[ScoredItem]) -> None:
        """In place: tickers from the message and the text, and the syndication fingerprint."""
        from monitor.syndication import story_hash
        from monitor.tickers import extract_tickers

        for it in batch:
            it.tickers = extract_tickers(it.text, given=it.tickers)
            it.story_hash = story_hash(it.text)

    # --- inside the store transaction -------------------------------------------------------
    def in_transaction(self, txn: Transaction, new_items: list[ScoredItem]) -> None:
        """Link syndicated copies to their first item, then add the batch to the buckets."""
        self._link_syndicated(txn, new_items)
        on_time, late = self.watermark.split(new_items)
        self._late_ids = {it.id for it in late}
        txn.add_buckets(contributions(on_time, self.cfg.bucket_seconds))

    def _link_syndicated(self, txn: Transaction, new_items: list[ScoredItem]) -> None:
        hashed = sorted((it for it in new_items if it.story_hash), key=lambda it: (as_utc(it.published_at), it.id))
        if not hashed:
            return
        window = timedelta(seconds=self.cfg.syndication_window_s)
        lo = min(as_utc(it.published_at) for it in hashed) - window
        hi = max(as_utc(it.published_at) for it in hashed)
        hashes = sorted({it.story_hash for it in hashed if it.story_hash})
        firsts = txn.first_copies(hashes, lo, hi)
        linked: set[str] = set()
        updates: dict[str, str] = {}  # copy id -> first item id
        for it in hashed:
            t = as_utc(it.published_at)
            candidates = [
                (ts, cid)
                for ts, cid in firsts.get(it.story_hash or "", [])
                if cid not in linked and (ts, cid) < (t, it.id) and ts >= t - window
            ]
            if candidates:
                it.duplicate_of = min(candidates)[1]
                linked.add(it.id)
                updates[it.id] = it.duplicate_of
        if updates:
            txn.link_syndicated(updates)
            log.debug("monitor.syndicated", linked=len(updates))

    # --- after the write --------------------------------------------------------------------
    def after_write(self, new_items: list[ScoredItem]) -> None:
        """Advance event time; test the buckets that closed; set gauges; hand alerts over."""
        late = [it for it in new_items if it.id in self._late_ids]
        if late:
            self.metrics.late_items.inc(len(late))
            log.info("monitor.late_items", count=len(late), watermark=self._wm_iso())
        width = self.cfg.bucket_seconds
        for it in new_items:
            cap = as_utc(it.ingested_at) + timedelta(seconds=MAX_FUTURE_S)
            self.watermark.advance(min(as_utc(it.published_at), cap))
            if it.id in self._late_ids or item_counts(it) == EMPTY:
                continue
            b = bucket_start(it.published_at, width)
            if self._oldest_touched is None or b < self._oldest_touched:
                self._oldest_touched = b
            for key in keys_of(it):
                if key not in self._pending or self._pending[key] < b:
                    self._pending[key] = b
        self._late_ids = set()
        if self.watermark.value is None:
            return
        closed_end = bucket_start(self.watermark.value, width)
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
        self._update_gauges(evals)
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
        if self.cfg.ticker_top_k or self.cfg.source_top_k:
            top_from = closed_end - _TOP_K_SPAN
            self._labels["ticker"] = set(self.cfg.ticker_watchlist) | {
                k for k, _ in store.top_keys("ticker", top_from, closed_end, self.cfg.ticker_top_k)
            }
            self._labels["source"] = {
                k for k, _ in store.top_keys("source", top_from, closed_end, self.cfg.source_top_k)
            }
        for key in fresh_keys:
            self.detector.load(key, history.get(key, {}), closed_end - horizon, closed_end)
        fresh = {k: recent.get(k, {}) for k in known}
        return self.detector.advance(closed_end, fresh, refresh_from=refresh_from)

    def _labelled(self, key: KeyId) -> bool:
        kt, k = key
        if kt in ("ticker", "source"):
            return k in self._labels[kt] or (kt == "ticker" and k in self.cfg.ticker_watchlist)
        return True

    def _update_gauges(self, evals: Iterable[Evaluation]) -> None:
        m = self.metrics
        last: dict[KeyId, Evaluation] = {}
        for ev in evals:
            last[ev.key] = ev
        for key, ev in last.items():
            if not self._labelled(key):
                continue
            kt, k = key
            m.negative_share.labels(kt, k).set(ev.share)
            m.baseline_negative_share.labels(kt, k).set(ev.baseline.share if ev.baseline else 0.0)
            m.spike_score.labels(kt, k).set(ev.z)
            m.window_items.labels(kt, k).set(ev.n)
            for sev in ("warning", "critical"):
                m.spike_active.labels(kt, k, sev).set(1.0 if ev.severity == sev else 0.0)
        self._drop_unlabelled_gauges()

    def _drop_unlabelled_gauges(self) -> None:
        """Tickers/sources that left the watchlist/top-K lose their series (bounded labels)."""
        m = self.metrics
        for gauge in (m.negative_share, m.baseline_negative_share, m.spike_score, m.window_items, m.spike_active):
            for labels in list(gauge._metrics):  # noqa: SLF001 - prometheus_client keeps children here
                if labels[0] in ("ticker", "source") and not self._labelled((labels[0], labels[1])):
                    try:
                        gauge.remove(*labels)
                    except KeyError:
                        pass

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
                    event = replace(event, evidence=self._evidence(txn, ev))
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

    def _evidence(self, txn: Transaction, ev: Evaluation) -> tuple[Evidence, ...]:
        """The most negative unique headlines of the key inside the tested window."""
        n = self.cfg.evidence
        if n <= 0:
            return ()
        found = txn.evidence(ev.key, ev.window_start, ev.window_end, n)
        return tuple(replace(e, text=e.text[:_EVIDENCE_CHARS]) for e in found)

    # --- housekeeping -------------------------------------------------------------------------
    def tick(self, now: datetime) -> None:
        """Record alert state changes still pending after a store outage (called periodically by the
        ingest loop). Delivery is not done here: the notifier's own thread sends (``app.root`` starts
        it), so a slow receiver can never hold the loop."""
        del now  # part of the loop's Monitor protocol; recording uses the notifier's clock
        self._flush()

    def close(self) -> None:
        if self.notifier is not None:
            self.notifier.close()

    def _wm_iso(self) -> str | None:
        return self.watermark.value.isoformat() if self.watermark.value else None
