"""`Notifier`: records alert episodes in the store and delivers their notifications.

    n = Notifier(NotifierConfig.from_settings(settings), store, metrics)
    with store.transaction() as txn:      # the monitor's store transaction
        n.record(txn, events)
    n.start()                             # the delivery thread (app.root starts it); n.close() stops it
    n.deliver_due(datetime.now(UTC))      # or one round on the caller's thread (tests, CLI)

Exactly one notification per key and episode, however many instances run: the episode is
inserted only if its id is new (and resolved only if still firing), and only the instance
whose call changed it enqueues notifications, in the same transaction. Delivery then goes
through the persisted outbox (``store.alerts``: leases, ordering per alert and target).
Active alerts are re-sent to Alertmanager every ``alert_resend_s`` with a fresh ``endsAt``,
since Alertmanager resolves an alert on its own once ``endsAt`` has passed.

Delivery runs on the notifier's own thread, never on the consume loop's: each POST has a total
deadline (``transport``), targets are sent to in parallel (at most ``max_parallel`` at once, each
target's rows in order), and a round starts no new POST after ``round_budget_s``.

Attempts are bounded: a notification is marked *failed* for good after ``max_attempts`` failed
POSTs, ``max_age_s`` after it was queued, or once its target left the configuration
(``finsentry_alert_notifications_failed_total{channel,reason}``). Webhooks are signed with every
configured secret (Standard Webhooks, ``signing``); unsigned only with ``unsigned=True``.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from finsentry.errors import ConfigError, DeliveryError, StoreError
from finsentry.logs import get_logger
from finsentry.metrics import Metrics
from finsentry.records import AlertEvent
from finsentry.redact import redact_url
from finsentry.retry import Backoff
from finsentry.settings import Settings
from monitor.alerting.payload import (
    alert_labels,
    alertmanager_alert,
    fingerprint,
    webhook_body,
    with_ends_at,
)
from monitor.alerting.signing import secret_key
from monitor.alerting.transport import HttpSender, Sender

if TYPE_CHECKING:
    from store.protocol import AlertStore, OutboxRow, Transaction

log = get_logger(__name__)

Clock = Callable[[], datetime]
WEBHOOK, ALERTMANAGER = "webhook", "alertmanager"
EXPIRE_EVERY = timedelta(seconds=30)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class NotifierConfig:
    """Where alerts go and how they are signed and re-sent."""

    webhook_urls: tuple[str, ...] = ()
    alertmanager_url: str | None = None
    webhook_secrets: tuple[str, ...] = ()  # every one signs each webhook (key rotation)
    unsigned: bool = False  # explicitly allow webhooks without a signature
    external_url: str = "http://127.0.0.1:8501"
    resend_s: int = 60
    timeout_s: float = 5.0  # total deadline of one POST (the default HttpSender's)
    max_attempts: int = 300  # with the default backoff (1 s doubling, 5 min cap): about a day
    max_age_s: int = 86_400

    @classmethod
    def from_settings(cls, s: Settings) -> NotifierConfig:
        """The settings' alerting part; :class:`ConfigError` when webhooks would go out unsigned
        without ``FINSENTRY_ALERT_WEBHOOK_UNSIGNED=true`` or a secret is malformed."""
        raw = [s.alert_webhook_secret.get_secret_value() if s.alert_webhook_secret else ""]
        if s.alert_webhook_secrets is not None:
            raw += s.alert_webhook_secrets.get_secret_value().split(",")
        secrets = tuple(dict.fromkeys(x.strip() for x in raw if x.strip()))
        for secret in secrets:
            try:
                secret_key(secret)
            except ValueError as exc:
                raise ConfigError(f"FINSENTRY_ALERT_WEBHOOK_SECRET(S): {exc}") from None
        if s.alert_webhook_urls and not secrets and not s.alert_webhook_unsigned:
            raise ConfigError(
                "webhook targets are configured but no signing secret: set FINSENTRY_ALERT_WEBHOOK_SECRET "
                "(e.g. whsec_<base64 of 24+ random bytes>), or FINSENTRY_ALERT_WEBHOOK_UNSIGNED=true to send unsigned")
        return cls(webhook_urls=tuple(s.alert_webhook_urls), alertmanager_url=s.alertmanager_url,
                   webhook_secrets=secrets, unsigned=s.alert_webhook_unsigned,
                   external_url=s.external_url, resend_s=s.alert_resend_s, timeout_s=s.alert_timeout_s,
                   max_attempts=s.alert_max_attempts, max_age_s=s.alert_max_age_s)


def message_id(row: OutboxRow) -> str:
    """``webhook-id`` of a notification: the same on every retry, different for each outbox row."""
    digest = hashlib.sha256(f"{row.alert_id}\x00{row.status}\x00{row.id}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


class Notifier:
    """Alert recording (in the caller's transaction) and outbox delivery (own transactions)."""

    @classmethod
    def from_settings(cls, settings: Settings, store: AlertStore, metrics: Metrics, clock: Clock | None = None,
                      *, sender: Sender | None = None, backoff: Backoff | None = None,
                      rng: random.Random | None = None) -> Notifier:
        return cls(NotifierConfig.from_settings(settings), store, metrics, clock,
                   sender=sender, backoff=backoff, rng=rng)

    def __init__(
        self,
        config: NotifierConfig,
        store: AlertStore,
        metrics: Metrics,
        clock: Clock | None = None,
        *,
        sender: Sender | None = None,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        round_budget_s: float = 2.0,
        max_parallel: int = 4,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._clock = clock or _utcnow
        self._sender = sender or HttpSender(total_timeout_s=config.timeout_s)
        self._backoff = backoff or Backoff()
        self._rng = rng or random.Random()
        self._round_budget_s = round_budget_s
        self._external_url = config.external_url
        self._secrets = config.webhook_secrets
        self._max_attempts = config.max_attempts
        self._max_age = timedelta(seconds=config.max_age_s)
        self._targets: list[tuple[str, str]] = [(WEBHOOK, u) for u in config.webhook_urls]
        if config.webhook_urls and not self._secrets:
            log.warning("alert.webhooks_unsigned", targets=len(config.webhook_urls),
                        note="no signing secret: receivers cannot tell these webhooks from forged ones")
        if config.alertmanager_url:
            self._targets.append((ALERTMANAGER, config.alertmanager_url.rstrip("/")))
        self._resend = timedelta(seconds=config.resend_s)
        self._next_resend: datetime | None = None
        self._next_expire: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max(1, max_parallel), thread_name_prefix="finsentry-alert-post")
        self._closed = False

    @property
    def targets(self) -> list[tuple[str, str]]:
        return list(self._targets)

    # --- recording (inside the caller's store transaction) ------------------------------
    def record(self, txn: Transaction, events: Iterable[AlertEvent]) -> None:
        """Persist alert state changes; enqueue notifications only for changes this call made."""
        now = self._clock()
        for event in events:
            if event.status == "firing":
                self._record_firing(txn, event, now)
            else:
                self._record_resolved(txn, event, now)

    def _record_firing(self, txn: Transaction, event: AlertEvent, now: datetime) -> None:
        if txn.insert_alert(event, fingerprint(alert_labels(event)), now):
            log.info("alert.firing", alert_id=event.alert_id, key_type=event.key_type, key=event.key)
            self._enqueue(txn, event.alert_id, "firing", [event], now)
        elif event.severity == "critical":
            self._record_escalation(txn, event, now)
        # else: another instance (or a replay) already recorded this episode

    def _record_escalation(self, txn: Transaction, event: AlertEvent, now: datetime) -> None:
        """warning -> critical within one episode: notified once, the warning alert superseded."""
        stored = txn.escalate_alert(event, fingerprint(alert_labels(event)), now)
        if stored is None:
            return
        superseded = replace(stored, status="resolved", severity="warning", resolved_at=now)
        log.info("alert.escalated", alert_id=event.alert_id, key_type=event.key_type, key=event.key)
        self._enqueue(txn, event.alert_id, "firing", [stored, superseded], now)

    def _record_resolved(self, txn: Transaction, event: AlertEvent, now: datetime) -> None:
        stored = txn.resolve_alert(event.alert_id, event.resolved_at or event.started_at, now)
        if stored is None:
            return
        # Labels (severity) and onset come from the stored episode, so receivers and
        # Alertmanager match the resolve to the firing notification.
        resolved = replace(stored, figures=dict(event.figures) or stored.figures)
        log.info("alert.resolved", alert_id=event.alert_id, key_type=event.key_type, key=event.key)
        self._enqueue(txn, event.alert_id, "resolved", [resolved], now)

    def _enqueue(self, txn: Transaction, alert_id: str, kind: str, events: list[AlertEvent], now: datetime) -> None:
        """One outbox row per target. Alertmanager rows hold ``[{"status", "alert"}]``: each
        alert's ``endsAt`` is set at send time (future horizon if firing, send time if not)."""
        for channel, target in self._targets:
            if channel == WEBHOOK:
                payload: Any = webhook_body(events, self._external_url)
            else:
                payload = [{"status": e.status, "alert": alertmanager_alert(e, self._external_url)} for e in events]
            txn.enqueue(alert_id, kind, channel, target, payload, now)

    # --- delivery (own short transactions; HTTP outside them) --------------------------
    def deliver_due(self, now: datetime | None = None) -> int:
        """Send due notifications (and Alertmanager re-sends); returns how many were delivered."""
        now = now or self._clock()
        with self._lock:
            try:
                self._expire(now)
                delivered = self._deliver_outbox(now)
                self._resend_active(now)
                self._metrics.alert_outbox_pending.set(self._store.pending_count())
            except StoreError as exc:
                log.warning("alert.outbox_unavailable", error=type(exc).__name__)
                return 0
        return delivered

    def _expire(self, now: datetime) -> None:
        """Final state *failed* for rows of removed targets, too old, or out of attempts: on the first
        round, then at most every ``EXPIRE_EVERY`` (a write transaction; rounds run every second)."""
        if self._next_expire is not None and now < self._next_expire:
            return
        self._next_expire = now + EXPIRE_EVERY
        for channel, reason in self._store.expire_outbox(now, self._max_attempts, self._max_age, self._targets):
            self._given_up(channel, reason)

    def _given_up(self, channel: str, reason: str, **fields: object) -> None:
        self._metrics.alert_notifications_failed.labels(channel, reason).inc()
        log.warning("alert.delivery_given_up", channel=channel, reason=reason, **fields)

    def _send(self, row: OutboxRow, now: datetime) -> None:
        if row.channel == WEBHOOK:
            self._sender.post_webhook(row.target, row.payload, self._secrets, message_id(row))
        else:
            horizon = now + 4 * self._resend
            body = [
                with_ends_at(item["alert"], now if item["status"] == "resolved" else horizon) for item in row.payload
            ]
            self._sender.post_alertmanager(row.target, body)

    def _deliver_outbox(self, now: datetime) -> int:
        """One round: the claimed rows grouped by target, the targets POSTed to in parallel (each
        target's rows in order). A target that fails is not tried again in this round (its other
        rows wait for the same retry time, uncounted), and no POST starts after ``round_budget_s``,
        so a dead or slow target costs the round at most about one total deadline and never delays
        the other targets. Outcomes are written to the store on this thread."""
        rows = self._store.claim_due(now)
        if not rows:
            return 0
        by_target: dict[str, list[OutboxRow]] = {}
        for row in rows:
            by_target.setdefault(row.target, []).append(row)
        deadline = time.monotonic() + self._round_budget_s
        groups = list(by_target.values())
        if len(groups) == 1 or self._closed:  # one target (or closing): no hand-over needed
            results = [self._send_in_order(g, now, deadline) for g in groups]
        else:
            futures = [self._pool.submit(self._send_in_order, g, now, deadline) for g in groups]
            # Bounded: every POST has a total deadline and none starts after the round's.
            results = [f.result() for f in futures]
        return sum(self._settle(outcomes, now) for outcomes in results)

    def _send_in_order(self, rows: list[OutboxRow], now: datetime,
                       deadline: float) -> list[tuple[OutboxRow, str | None | bool]]:
        """POST one target's rows in order (worker thread): (row, None) sent, (row, error) failed,
        (row, False) not tried (after a failure or past the round's deadline). No store access."""
        out: list[tuple[OutboxRow, str | None | bool]] = []
        for i, row in enumerate(rows):
            if time.monotonic() > deadline:
                out += [(r, False) for r in rows[i:]]
                break
            try:
                self._send(row, now)
            except Exception as exc:  # noqa: BLE001 - a bug in one payload must not strand the round
                msg = str(exc) if isinstance(exc, DeliveryError) else f"{type(exc).__name__} (unexpected)"
                out.append((row, msg))
                out += [(r, False) for r in rows[i + 1:]]
                break
            out.append((row, None))
        return out

    def _settle(self, outcomes: list[tuple[OutboxRow, str | None | bool]], now: datetime) -> int:
        delivered = 0
        retry_at: datetime | None = None
        for row, outcome in outcomes:
            if outcome is False:
                self._store.release(row.id, retry_at or now)
                continue
            if isinstance(outcome, str) and row.attempts >= self._max_attempts:
                self._store.fail_final(row.id, now, "max_attempts", outcome)
                self._metrics.alert_delivery_failures.labels(row.channel).inc()
                self._given_up(row.channel, "max_attempts", alert_id=row.alert_id, target=redact_url(row.target),
                               attempt=row.attempts, error=outcome)
                continue
            if isinstance(outcome, str):
                retry_at = now + self._backoff.delay(row.attempts, self._rng)
                self._store.mark_failed(row.id, retry_at, outcome)
                self._metrics.alert_delivery_failures.labels(row.channel).inc()
                log.warning(
                    "alert.delivery_failed",
                    alert_id=row.alert_id,
                    channel=row.channel,
                    target=redact_url(row.target),
                    attempt=row.attempts,
                    retry_at=retry_at.isoformat(),
                    error=outcome,
                )
                continue
            self._store.mark_delivered(row.id, self._clock())
            self._metrics.alert_notifications.labels(row.channel, row.status).inc()
            delivered += 1
            log.info(
                "alert.delivered",
                alert_id=row.alert_id,
                status=row.status,
                channel=row.channel,
                target=redact_url(row.target),
                attempt=row.attempts,
            )
        return delivered

    def _resend_active(self, now: datetime) -> None:
        ams = [t for c, t in self._targets if c == ALERTMANAGER]
        if not ams or (self._next_resend is not None and now < self._next_resend):
            return
        self._next_resend = now + self._resend
        for am in ams:
            active = self._store.delivered_firing(am)
            if not active:
                continue
            body = [with_ends_at(alertmanager_alert(e, self._external_url), now + 4 * self._resend) for e in active]
            try:
                self._sender.post_alertmanager(am, body)
            except DeliveryError as exc:
                self._metrics.alert_delivery_failures.labels(ALERTMANAGER).inc()
                log.warning("alert.resend_failed", target=redact_url(am), alerts=len(body), error=str(exc))
                continue
            log.info("alert.resent", target=redact_url(am), alerts=len(body))
            self._undo_stale_resends(am, [e.alert_id for e in active], now)

    def _undo_stale_resends(self, am: str, ids: list[str], now: datetime) -> None:
        """An alert resolved while we re-sent it: send its resolve again so it does not linger."""
        stale = self._store.not_firing(ids)
        if stale:
            body = [with_ends_at(alertmanager_alert(e, self._external_url), now) for e in stale]
            try:
                self._sender.post_alertmanager(am, body)
            except DeliveryError as exc:
                log.warning("alert.resend_failed", target=redact_url(am), alerts=len(body), error=str(exc))

    # --- background delivery ------------------------------------------------------------
    def start(self, interval_s: float = 1.0) -> None:
        """Deliver on a daemon thread every ``interval_s`` until :meth:`close` (the composition root
        calls this, so the consume loop never waits on a receiver)."""
        if self._thread is not None or self._closed:
            return

        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.deliver_due()
                except Exception as exc:  # noqa: BLE001 - the delivery thread must survive anything
                    log.error("alert.delivery_loop_error", error=repr(exc))

        self._thread = threading.Thread(target=loop, name="finsentry-alert-delivery", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        """Whether the delivery thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def close(self, join_timeout_s: float = 15.0) -> None:
        """Stop the delivery thread (it finishes its round: bounded by the round budget and the
        POST deadline), make one last delivery round, release the workers. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=join_timeout_s)
            if self._thread.is_alive():
                log.warning("alert.delivery_thread_still_running", waited_s=join_timeout_s)
            self._thread = None
            try:
                self.deliver_due()
            except Exception as exc:  # noqa: BLE001
                log.warning("alert.final_delivery_failed", error=repr(exc))
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._sender.close()
