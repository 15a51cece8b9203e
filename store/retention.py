"""Retention: what the store keeps, and the periodic job that enforces it in small transactions.

    job = RetentionJob(store.engine, RetentionPolicy.from_settings(settings, horizon_s), metrics)
    job.start()        # app.root: its own daemon thread, every ``retention_interval_s``
    job.run_once()     # one pass on the caller's thread (tests, tools); returns what it did

**Which clock.** Items and buckets age in *event time*, relative to the stream's watermark (the newest
whole-stream bucket not after the wall clock): a replayed 2023 stream is kept as long as a live one,
never deleted on arrival, and a future-dated bucket cannot age out the present. Dead letters and
outbox rows have no event time; they age by the wall clock (``seen_at``, ``delivered_at``/``failed_at``).

**Order of a pass.** 1. minute buckets older than the minute cutoff are moved into hourly and daily
rollups (``store.rollup``; one hour and key type per transaction); 2. hourly rows older than the hourly
cutoff are deleted a day per transaction (daily rows are kept); 3. items (with their ticker rows),
4. dead letters and 5. delivered or failed outbox rows are deleted ``batch_rows`` per transaction.
A delivered firing notification of an alert still firing is kept (Alertmanager re-sends need it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Select, Table, delete, or_, select
from sqlalchemy.exc import SQLAlchemyError

from finsentry.errors import ConfigError
from finsentry.logs import get_logger
from finsentry.metrics import Metrics
from finsentry.settings import Settings
from finsentry.timeutil import as_utc
from store import rollup
from store.schema import alert_outbox, alerts, buckets, dead_letters, item_tickers, items

log = get_logger(__name__)
Clock = Callable[[], datetime]
_MAX_BATCHES = 500  # per step and pass: a huge backlog is worked off over several passes


def _days(value: float) -> timedelta | None:
    return timedelta(days=value) if value > 0 else None


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long each kind of row is kept (None = for ever)."""

    items: timedelta | None = timedelta(days=30)
    dead_letters: timedelta | None = timedelta(days=14)
    outbox: timedelta | None = timedelta(days=30)
    minute_buckets: timedelta | None = timedelta(days=14)
    hourly_buckets: timedelta | None = timedelta(days=90)
    interval_s: float = 600.0
    batch_rows: int = 1000

    @classmethod
    def from_settings(cls, s: Settings, detector_horizon_s: int) -> RetentionPolicy:
        """The ``FINSENTRY_RETENTION_*`` settings; :class:`ConfigError` when minute buckets would age
        out before the detector's horizon (it reads that much history behind the watermark), hourly
        ones before minute ones, or items before the syndication and detection windows."""
        p = cls(items=_days(s.retention_items_days), dead_letters=_days(s.retention_dead_letters_days),
                outbox=_days(s.retention_outbox_days), minute_buckets=_days(s.retention_minute_buckets_days),
                hourly_buckets=_days(s.retention_hourly_buckets_days), interval_s=s.retention_interval_s,
                batch_rows=s.retention_batch_rows)
        need_minutes = timedelta(seconds=detector_horizon_s + s.allowed_lateness_s)
        if p.minute_buckets is not None and p.minute_buckets < need_minutes:
            raise ConfigError(
                f"FINSENTRY_RETENTION_MINUTE_BUCKETS_DAYS={s.retention_minute_buckets_days:g} is shorter than the "
                f"detector's horizon plus the allowed lateness ({need_minutes.total_seconds() / 86400:.2f} days): "
                "spikes could not be detected after a restart")
        if p.hourly_buckets is not None and (p.minute_buckets is None or p.hourly_buckets < p.minute_buckets):
            raise ConfigError("FINSENTRY_RETENTION_HOURLY_BUCKETS_DAYS must be at least the minute buckets' "
                              "retention (and 0 = keep when minute buckets are kept)")
        need_items = timedelta(seconds=max(s.syndication_window_s, s.detector_window_max_s) + s.allowed_lateness_s)
        if p.items is not None and p.items < need_items:
            raise ConfigError(
                f"FINSENTRY_RETENTION_ITEMS_DAYS={s.retention_items_days:g} is shorter than the syndication and "
                f"detection windows plus the allowed lateness ({need_items.total_seconds() / 86400:.2f} days)")
        return p


@dataclass
class RetentionReport:
    """What one pass did: rows removed per table, the event-time reference, how long it took."""

    deleted: dict[str, int] = field(default_factory=dict)
    reference: datetime | None = None
    duration_s: float = 0.0
    transactions: int = 0

    def add(self, table: str, n: int) -> None:
        self.transactions += 1
        if n:
            self.deleted[table] = self.deleted.get(table, 0) + n


class RetentionJob:
    """Runs the retention pass over ``engine`` every ``policy.interval_s`` on its own thread."""

    def __init__(self, engine: Engine, policy: RetentionPolicy, metrics: Metrics | None = None,
                 clock: Clock | None = None) -> None:
        self._engine = engine
        self._policy = policy
        self._metrics = metrics
        self._clock = clock or (lambda: datetime.now(UTC))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- one pass -------------------------------------------------------------------------
    def run_once(self, now: datetime | None = None) -> RetentionReport:
        """One full pass; every step in short transactions. Returns the report."""
        t0 = time.perf_counter()
        now = as_utc(now or self._clock())
        report = RetentionReport()
        with self._engine.connect() as conn:
            report.reference = rollup.watermark(conn, now)
        p, ref = self._policy, report.reference
        if ref is not None and p.minute_buckets is not None:
            self._roll_up(report, ref, p.minute_buckets)
        if ref is not None and p.hourly_buckets is not None:
            day = rollup.floor_day(ref - p.hourly_buckets)
            self._repeat(report, "buckets_hourly", lambda conn: rollup.delete_hourly_day(conn, day))
        if ref is not None and p.items is not None:
            item_cut = ref - p.items
            self._repeat(report, "items", lambda conn: self._delete_items(conn, item_cut))
        if p.dead_letters is not None:
            dl = select(dead_letters.c.id).where(dead_letters.c.seen_at < now - p.dead_letters)
            self._repeat(report, "dead_letters", lambda conn: self._delete_ids(conn, dead_letters, dl))
        if p.outbox is not None:
            outbox_cut = now - p.outbox
            self._repeat(report, "alert_outbox", lambda conn: self._delete_outbox(conn, outbox_cut))
        report.duration_s = time.perf_counter() - t0
        self._record(report)
        return report

    def _repeat(self, report: RetentionReport, table: str, step: Callable[[Connection], int]) -> None:
        """Run ``step(conn)`` in its own transaction until it removes nothing (or stop/limit)."""
        for _ in range(_MAX_BATCHES):
            with self._engine.begin() as conn:
                rollup.lock(conn)
                n = step(conn)
            report.add(table, n)
            if n == 0 or self._stop.is_set():
                return

    def _roll_up(self, report: RetentionReport, reference: datetime, keep: timedelta) -> None:
        cutoff = rollup.floor_hour(reference - keep)
        hourly = self._policy.hourly_buckets
        hourly_from = rollup.floor_day(reference - hourly) if hourly is not None else datetime.min.replace(tzinfo=UTC)
        for _ in range(_MAX_BATCHES):
            with self._engine.connect() as conn:
                oldest = rollup.oldest_minute_bucket(conn, cutoff)
                if oldest is None:
                    return
                hour = rollup.floor_hour(oldest)
                kinds = [str(k) for k in conn.execute(select(buckets.c.key_type).distinct().where(
                    buckets.c.bucket_start >= hour, buckets.c.bucket_start < hour + rollup.HOUR)).scalars()]
            for kind in kinds:
                with self._engine.begin() as conn:
                    rollup.lock(conn)
                    n = rollup.move_hour(conn, hour, kind, hourly_from)
                report.add("buckets", n)
            if self._stop.is_set():
                return

    def _delete_ids(self, conn: Connection, table: Table, ids_query: Select[Any]) -> int:
        ids = list(conn.execute(ids_query.limit(self._policy.batch_rows)).scalars())
        if not ids:
            return 0
        return int(conn.execute(delete(table).where(table.c.id.in_(ids))).rowcount or 0)

    def _delete_items(self, conn: Connection, cut: datetime) -> int:
        ids = list(conn.execute(select(items.c.id).where(items.c.published_at < cut)
                                .order_by(items.c.published_at).limit(self._policy.batch_rows)).scalars())
        if not ids:
            return 0
        conn.execute(delete(item_tickers).where(item_tickers.c.item_id.in_(ids)))
        return int(conn.execute(delete(items).where(items.c.id.in_(ids))).rowcount or 0)

    def _delete_outbox(self, conn: Connection, cut: datetime) -> int:
        o = alert_outbox
        still_firing = select(alerts.c.id).where(alerts.c.status == "firing")
        ids = select(o.c.id).where(
            or_(o.c.delivered_at < cut, o.c.failed_at < cut),
            ~((o.c.status == "firing") & o.c.delivered_at.is_not(None) & o.c.alert_id.in_(still_firing)),
        )
        return self._delete_ids(conn, o, ids)

    def _record(self, report: RetentionReport) -> None:
        if self._metrics is not None:
            for table, n in report.deleted.items():
                self._metrics.retention_deleted.labels(table).inc(n)
            self._metrics.retention_duration.observe(report.duration_s)
        fields = {"deleted": report.deleted, "duration_s": round(report.duration_s, 3),
                  "transactions": report.transactions,
                  "reference": report.reference.isoformat() if report.reference else None}
        if report.deleted:
            log.info("retention.pass", **fields)
        else:
            log.debug("retention.pass", **fields)

    # --- background -----------------------------------------------------------------------
    def start(self, first_after_s: float = 60.0) -> None:
        """Run a pass ``first_after_s`` after start, then every ``interval_s``, until :meth:`close`."""
        if self._thread is not None:
            return

        def loop() -> None:
            wait = min(first_after_s, self._policy.interval_s)
            while not self._stop.wait(wait):
                wait = self._policy.interval_s
                try:
                    self.run_once()
                except SQLAlchemyError as exc:
                    log.warning("retention.failed", error=type(exc).__name__, retry_in_s=wait)
                except Exception as exc:  # noqa: BLE001 - the retention thread must survive anything
                    log.error("retention.error", error=repr(exc))

        self._thread = threading.Thread(target=loop, name="finsentry-retention", daemon=True)
        self._thread.start()

    def close(self, join_timeout_s: float = 30.0) -> None:
        """Stop the thread (a pass in progress stops after its current transaction). Idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(join_timeout_s)
            self._thread = None
