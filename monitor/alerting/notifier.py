"""`Notifier`: records alert episodes in the store and delivers their notifications.

    n = Notifier(settings, engine, metrics)
    with engine.begin() as conn:          # the monitor's store transaction
        n.record(conn, events)
    n.deliver_due(datetime.now(UTC))      # or n.start() for a background delivery thread

Exactly one notification per key and episode, however many instances run: the episode's
``alerts`` row is inserted with ON CONFLICT DO NOTHING (and resolved with a conditional
UPDATE) and only the instance whose statement changed the row enqueues notifications, in
the same transaction. Delivery then goes through the persisted outbox (see ``outbox``).
Active alerts are re-sent to Alertmanager every ``alert_resend_s`` with a fresh ``endsAt``,
since Alertmanager resolves an alert on its own once ``endsAt`` has passed.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.exc import SQLAlchemyError

from finsentry.errors import ConfigError, DeliveryError
from finsentry.logs import get_logger
from finsentry.metrics import Metrics
from finsentry.records import AlertEvent, Evidence
from finsentry.retry import Backoff
from finsentry.timeutil import as_utc
from finsentry.settings import Settings
from monitor.alerting import outbox
from monitor.alerting.payload import (
    alert_labels,
    alertmanager_alert,
    fingerprint,
    webhook_body,
    with_ends_at,
)
from monitor.alerting.transport import HttpSender, Sender
from store.schema import alert_outbox, alerts

log = get_logger(__name__)

Clock = Callable[[], datetime]
WEBHOOK, ALERTMANAGER = "webhook", "alertmanager"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _insert_ignore(conn: Connection, values: dict[str, Any]) -> int:
    name = conn.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the store supports these two
        raise ConfigError(f"unsupported store dialect for alerts: {name}")
    stmt = insert(alerts).values(**values).on_conflict_do_nothing(index_elements=["id"]).returning(alerts.c.id)
    # RETURNING, not rowcount: psycopg reports -1 for INSERT ... ON CONFLICT through SQLAlchemy.
    return len(conn.execute(stmt).all())


def event_from_row(row: Any) -> AlertEvent:
    """Rebuild an :class:`AlertEvent` from an ``alerts`` row (for resolves and re-sends)."""
    m = row._mapping
    return AlertEvent(
        alert_id=m["id"],
        status=m["status"],
        key_type=m["key_type"],
        key=m["key"],
        severity=m["severity"],
        started_at=as_utc(m["started_at"]),
        resolved_at=as_utc(m["resolved_at"]) if m["resolved_at"] is not None else None,
        figures=dict(m["figures"] or {}),
        evidence=tuple(Evidence(e["id"], e["text"], e.get("source"), float(e["score"])) for e in m["evidence"] or []),
    )


class Notifier:
    """Alert recording (in the caller's transaction) and outbox delivery (own transactions)."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        metrics: Metrics,
        clock: Clock | None = None,
        *,
        sender: Sender | None = None,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        round_budget_s: float = 2.0,
    ) -> None:
        self._engine = engine
        self._metrics = metrics
        self._clock = clock or _utcnow
        self._sender = sender or HttpSender()
        self._backoff = backoff or Backoff()
        self._rng = rng or random.Random()
        self._round_budget_s = round_budget_s
        self._external_url = settings.external_url
        secret = settings.alert_webhook_secret
        self._secret = secret.get_secret_value() if secret is not None else None
        self._targets: list[tuple[str, str]] = [(WEBHOOK, u) for u in settings.alert_webhook_urls]
        if settings.alertmanager_url:
            self._targets.append((ALERTMANAGER, settings.alertmanager_url.rstrip("/")))
        self._resend = timedelta(seconds=settings.alert_resend_s)
        self._next_resend: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def targets(self) -> list[tuple[str, str]]:
        return list(self._targets)

    # --- recording (inside the caller's store transaction) ------------------------------
    def record(self, conn: Connection, events: Iterable[AlertEvent]) -> None:
        """Persist alert state changes; enqueue notifications only for changes this call made."""
        now = self._clock()
        for event in events:
            if event.status == "firing":
                self._record_firing(conn, event, now)
            else:
                self._record_resolved(conn, event, now)

    def _record_firing(self, conn: Connection, event: AlertEvent, now: datetime) -> None:
        inserted = _insert_ignore(
            conn,
            {
                "id": event.alert_id,
                "key_type": event.key_type,
                "key": event.key,
                "severity": event.severity,
                "status": "firing",
                "started_at": event.started_at,
                "resolved_at": None,
                "fingerprint": fingerprint(alert_labels(event)),
                "figures": dict(event.figures),
                "evidence": [{"id": e.id, "text": e.text, "source": e.source, "score": e.score} for e in event.evidence],
                "created_at": now,
                "updated_at": now,
            },
        )
        if inserted == 1:
            log.info("alert.firing", alert_id=event.alert_id, key_type=event.key_type, key=event.key)
            self._enqueue(conn, event.alert_id, "firing", [event], now)
        elif event.severity == "critical":
            self._record_escalation(conn, event, now)
        # else: another instance (or a replay) already recorded this episode

    def _record_escalation(self, conn: Connection, event: AlertEvent, now: datetime) -> None:
        """warning -> critical within one episode: notified once, the warning alert superseded."""
        changed = conn.execute(
            update(alerts)
            .where(alerts.c.id == event.alert_id, alerts.c.status == "firing", alerts.c.severity == "warning")
            .values(
                severity="critical",
                fingerprint=fingerprint(alert_labels(event)),
                figures=dict(event.figures),
                updated_at=now,
            )
        ).rowcount
        if changed != 1:
            return
        stored = event_from_row(conn.execute(select(alerts).where(alerts.c.id == event.alert_id)).one())
        superseded = replace(stored, status="resolved", severity="warning", resolved_at=now)
        log.info("alert.escalated", alert_id=event.alert_id, key_type=event.key_type, key=event.key)
        self._enqueue(conn, event.alert_id, "firing", [stored, superseded], now)

    def _record_resolved(self, conn: Connection, event: AlertEvent, now: datetime) -> None:
        changed = conn.execute(
            update(alerts)
            .where(alerts.c.id == event.alert_id, alerts.c.status == "firing")
            .values(status="resolved", resolved_at=event.resolved_at or event.started_at, updated_at=now)
        ).rowcount
        if changed != 1:
            return
        row = conn.execute(select(alerts).where(alerts.c.id == event.alert_id)).one()
        stored = event_from_row(row)
        # Labels (severity) and onset come from the stored episode, so receivers and
        # Alertmanager match the resolve to the firing notification.
        resolved = replace(stored, figures=dict(event.figures) or stored.figures)
        log.info("alert.resolved", alert_id=event.alert_id, key_type=event.key_type, key=event.key)
        self._enqueue(conn, event.alert_id, "resolved", [resolved], now)

    def _enqueue(self, conn: Connection, alert_id: str, kind: str, events: list[AlertEvent], now: datetime) -> None:
        """One outbox row per target. Alertmanager rows hold ``[{"status", "alert"}]``: each
        alert's ``endsAt`` is set at send time (future horizon if firing, send time if not)."""
        for channel, target in self._targets:
            if channel == WEBHOOK:
                payload: Any = webhook_body(events, self._external_url)
            else:
                payload = [{"status": e.status, "alert": alertmanager_alert(e, self._external_url)} for e in events]
            outbox.enqueue(
                conn, alert_id=alert_id, status=kind, channel=channel, target=target, payload=payload, now=now
            )

    # --- delivery (own short transactions; HTTP outside them) --------------------------
    def deliver_due(self, now: datetime | None = None) -> int:
        """Send due notifications (and Alertmanager re-sends); returns how many were delivered."""
        now = now or self._clock()
        with self._lock:
            try:
                delivered = self._deliver_outbox(now)
                self._resend_active(now)
                self._metrics.alert_outbox_pending.set(outbox.pending_count(self._engine))
            except SQLAlchemyError as exc:
                log.warning("alert.outbox_unavailable", error=type(exc).__name__)
                return 0
        return delivered

    def _send(self, row: outbox.OutboxRow, now: datetime) -> None:
        if row.channel == WEBHOOK:
            self._sender.post_webhook(row.target, row.payload, self._secret)
        else:
            horizon = now + 4 * self._resend
            body = [
                with_ends_at(item["alert"], now if item["status"] == "resolved" else horizon) for item in row.payload
            ]
            self._sender.post_alertmanager(row.target, body)

    def _deliver_outbox(self, now: datetime) -> int:
        """One round. A target that fails is not tried again in this round (its other rows wait
        for the same retry time, uncounted), and the round stops after ``round_budget_s``, so a
        dead or slow receiver costs a caller at most about one timeout per call."""
        delivered = 0
        down: dict[str, datetime] = {}  # target -> retry time, for targets that failed this round
        deadline = time.monotonic() + self._round_budget_s
        for row in outbox.claim_due(self._engine, now):
            if row.target in down or time.monotonic() > deadline:
                outbox.release(self._engine, row.id, down.get(row.target, now))
                continue
            try:
                self._send(row, now)
            except DeliveryError as exc:
                retry_at = now + self._backoff.delay(row.attempts, self._rng)
                down[row.target] = retry_at
                outbox.mark_failed(self._engine, row.id, retry_at, str(exc))
                self._metrics.alert_delivery_failures.labels(row.channel).inc()
                log.warning(
                    "alert.delivery_failed",
                    alert_id=row.alert_id,
                    channel=row.channel,
                    target=row.target,
                    attempt=row.attempts,
                    retry_at=retry_at.isoformat(),
                    error=str(exc),
                )
                continue
            outbox.mark_delivered(self._engine, row.id, self._clock())
            self._metrics.alert_notifications.labels(row.channel, row.status).inc()
            delivered += 1
            log.info(
                "alert.delivered",
                alert_id=row.alert_id,
                status=row.status,
                channel=row.channel,
                target=row.target,
                attempt=row.attempts,
            )
        return delivered

    def _am_active(self, am: str) -> list[AlertEvent]:
        sent = (
            select(alert_outbox.c.alert_id)
            .where(
                alert_outbox.c.target == am,
                alert_outbox.c.status == "firing",
                alert_outbox.c.delivered_at.is_not(None),
            )
            .scalar_subquery()
        )
        query = (
            select(alerts)
            .where(alerts.c.status == "firing", alerts.c.id.in_(sent))
            .order_by(alerts.c.started_at.desc())
            .limit(1000)
        )
        with self._engine.connect() as conn:
            return [event_from_row(r) for r in conn.execute(query)]

    def _resend_active(self, now: datetime) -> None:
        ams = [t for c, t in self._targets if c == ALERTMANAGER]
        if not ams or (self._next_resend is not None and now < self._next_resend):
            return
        self._next_resend = now + self._resend
        for am in ams:
            active = self._am_active(am)
            if not active:
                continue
            body = [with_ends_at(alertmanager_alert(e, self._external_url), now + 4 * self._resend) for e in active]
            try:
                self._sender.post_alertmanager(am, body)
            except DeliveryError as exc:
                self._metrics.alert_delivery_failures.labels(ALERTMANAGER).inc()
                log.warning("alert.resend_failed", target=am, alerts=len(body), error=str(exc))
                continue
            log.info("alert.resent", target=am, alerts=len(body))
            self._undo_stale_resends(am, [e.alert_id for e in active], now)

    def _undo_stale_resends(self, am: str, ids: list[str], now: datetime) -> None:
        """An alert resolved while we re-sent it: send its resolve again so it does not linger."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(alerts).where(alerts.c.id.in_(ids), alerts.c.status != "firing")).all()
        if rows:
            body = [with_ends_at(alertmanager_alert(event_from_row(r), self._external_url), now) for r in rows]
            try:
                self._sender.post_alertmanager(am, body)
            except DeliveryError as exc:
                log.warning("alert.resend_failed", target=am, alerts=len(body), error=str(exc))

    # --- background delivery ------------------------------------------------------------
    def start(self, interval_s: float = 1.0) -> None:
        """Deliver in a daemon thread every ``interval_s`` until :meth:`close`."""
        if self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.deliver_due()
                except Exception as exc:  # noqa: BLE001 - the delivery thread must survive anything
                    log.error("alert.delivery_loop_error", error=repr(exc))

        self._thread = threading.Thread(target=loop, name="finsentry-alert-delivery", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the delivery thread (after one last attempt) and release the HTTP session."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None
            try:
                self.deliver_due()
            except Exception as exc:  # noqa: BLE001
                log.warning("alert.final_delivery_failed", error=repr(exc))
        self._sender.close()
