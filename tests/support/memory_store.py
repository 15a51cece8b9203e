"""`MemoryStore`: the in-memory twin of ``store.Store`` for unit tests (no database).

Same semantics as the SQL store, as the monitor and the notifier see them: idempotent inserts
by id, ``in_txn`` sees only the new items and a raising hook keeps nothing, additive buckets,
syndication links, alert episodes inserted once per id, and an outbox with leases and
per-alert-and-target ordering. ``fail`` makes every call raise ``StoreUnavailable`` (outages).

    store = MemoryStore()
    monitor = MonitorService(MonitorConfig.from_settings(settings), store, metrics)
    new = store.write_batch(items, monitor.in_transaction)
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from finsentry.errors import StoreUnavailable
from finsentry.records import (
    EMPTY,
    AlertEvent,
    BucketId,
    Counts,
    Evidence,
    KeyId,
    ScoredItem,
    merge,
)
from finsentry.timeutil import as_utc
from store.protocol import LEASE, DeadLetter, FiringEpisode, HealthValue, InTxn, OutboxRow, Payload


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt is not None else None


@dataclass(slots=True)
class _Outbox:
    id: int
    alert_id: str
    status: str
    target: str
    channel: str
    payload: Payload
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None = None
    last_error: str | None = None
    created_at: datetime | None = None
    failed_at: datetime | None = None
    failed_reason: str | None = None

    @property
    def open(self) -> bool:
        return self.delivered_at is None and self.failed_at is None


@dataclass(slots=True)
class _State:
    items: dict[str, ScoredItem] = field(default_factory=dict)
    buckets: dict[BucketId, Counts] = field(default_factory=dict)
    alerts: dict[str, AlertEvent] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)
    outbox: list[_Outbox] = field(default_factory=list)
    dead_letters: dict[tuple[str, int, int], tuple[str, datetime]] = field(default_factory=dict)
    health: dict[str, dict[str, Any]] = field(default_factory=dict)
    watermarks: dict[tuple[str, int], tuple[datetime, datetime]] = field(default_factory=dict)  # (value, updated)
    held: set[str] = field(default_factory=set)

    def snapshot(self) -> _State:
        """A copy to roll back to. Shallow is enough: a transaction replaces the (immutable or
        replaced-on-write) values it changes and only appends outbox rows."""
        return _State(dict(self.items), dict(self.buckets), dict(self.alerts), dict(self.fingerprints),
                      list(self.outbox), dict(self.dead_letters), dict(self.health), dict(self.watermarks),
                      set(self.held))


class MemoryTransaction:
    """Implements :class:`store.protocol.Transaction` over the store's state."""

    def __init__(self, state: _State) -> None:
        self._s = state

    def first_copies(self, hashes: Sequence[str], lo: datetime, hi: datetime) -> dict[str, list[tuple[datetime, str]]]:
        wanted = set(hashes)
        out: dict[str, list[tuple[datetime, str]]] = {}
        for it in self._s.items.values():
            ts = as_utc(it.published_at)
            if it.story_hash in wanted and it.duplicate_of is None and lo <= ts <= hi:
                out.setdefault(it.story_hash, []).append((ts, it.id))
        return out

    def link_syndicated(self, links: Mapping[str, str]) -> None:
        for copy_id, first in links.items():
            if copy_id in self._s.items:
                self._s.items[copy_id] = replace(self._s.items[copy_id], duplicate_of=first)

    def add_buckets(self, rows: Mapping[BucketId, Counts]) -> int:
        for (kt, k, start), c in rows.items():
            bid = (kt, k[:200], as_utc(start))
            self._s.buckets[bid] = merge(self._s.buckets.get(bid, EMPTY), c)
        return len(rows)

    def evidence(self, key: KeyId, start: datetime, end: datetime, limit: int) -> list[Evidence]:
        kt, k = key
        hits = [
            it for it in self._s.items.values()
            if it.label == "negative" and it.duplicate_of is None and start <= as_utc(it.published_at) < end
            and (kt == "all" or (kt == "topic" and it.topic == k) or (kt == "source" and it.source == k)
                 or (kt == "ticker" and k in it.tickers))
        ]
        hits.sort(key=lambda it: (it.score if it.score is not None else 0.0, it.id))
        return [Evidence(it.id, it.text, it.source, float(it.score or 0.0)) for it in hits[:limit]]

    def insert_alert(self, event: AlertEvent, fingerprint: str, now: datetime) -> bool:
        if event.alert_id in self._s.alerts:
            return False
        self._s.alerts[event.alert_id] = replace(event, status="firing", resolved_at=None,
                                                 figures=dict(event.figures))
        self._s.fingerprints[event.alert_id] = fingerprint
        return True

    def escalate_alert(self, event: AlertEvent, fingerprint: str, now: datetime) -> AlertEvent | None:
        stored = self._s.alerts.get(event.alert_id)
        if stored is None or stored.status != "firing" or stored.severity != "warning":
            return None
        stored = replace(stored, severity="critical", figures=dict(event.figures))
        self._s.alerts[event.alert_id] = stored
        self._s.fingerprints[event.alert_id] = fingerprint
        return stored

    def resolve_alert(self, alert_id: str, resolved_at: datetime, now: datetime) -> AlertEvent | None:
        stored = self._s.alerts.get(alert_id)
        if stored is None or stored.status != "firing":
            return None
        stored = replace(stored, status="resolved", resolved_at=as_utc(resolved_at))
        self._s.alerts[alert_id] = stored
        return stored

    def enqueue(self, alert_id: str, status: str, channel: str, target: str, payload: Payload, now: datetime) -> None:
        row_id = len(self._s.outbox) + 1
        self._s.outbox.append(_Outbox(row_id, alert_id, status, target, channel, copy.deepcopy(payload), 0, now,
                                      created_at=now))

    def save_watermarks(self, marks: Mapping[tuple[str, int], datetime], now: datetime) -> None:
        for pid, ts in marks.items():
            old = self._s.watermarks.get(pid)
            self._s.watermarks[pid] = (as_utc(ts) if old is None else max(old[0], as_utc(ts)), as_utc(now))

    def hold_items(self, ids: Sequence[str]) -> None:
        self._s.held.update(i for i in ids if i in self._s.items)

    def release_held(self, upto: datetime) -> list[ScoredItem]:
        due = sorted((self._s.items[i] for i in self._s.held if as_utc(self._s.items[i].published_at) <= upto),
                     key=lambda it: (as_utc(it.published_at), it.id))
        self._s.held.difference_update(it.id for it in due)
        return [replace(it, topics=list(it.topics), tickers=list(it.tickers)) for it in due]


class MemoryStore:
    """Implements :class:`store.protocol.StoreProtocol` in memory (thread-safe, one writer)."""

    def __init__(self) -> None:
        self._s = _State()
        self._lock = threading.RLock()
        self.fail = False  # True: every call raises StoreUnavailable (a store outage)
        self.closed = False

    def _check(self) -> None:
        if self.fail:
            raise StoreUnavailable("memory store: simulated outage")

    @contextmanager
    def transaction(self) -> Iterator[MemoryTransaction]:
        """All or nothing: the state is restored if the block raises."""
        self._check()
        with self._lock:
            saved = self._s.snapshot()
            try:
                yield MemoryTransaction(self._s)
            except BaseException:
                self._s = saved
                raise

    # --- ingest --------------------------------------------------------------------------
    def write_batch(self, batch: Sequence[ScoredItem], in_txn: InTxn | None = None) -> list[ScoredItem]:
        unique: dict[str, ScoredItem] = {}
        for it in batch:
            unique.setdefault(it.id, it)
        if not unique:
            return []
        with self.transaction() as txn:
            new_items = [it for it in unique.values() if it.id not in self._s.items]
            for it in new_items:
                self._s.items[it.id] = replace(it, topics=list(it.topics), tickers=list(it.tickers))
            if in_txn is not None:
                in_txn(txn, new_items)
        return new_items

    def record_dead_letters(self, rows: Sequence[DeadLetter], seen_at: datetime | None = None) -> None:
        self._check()
        now = as_utc(seen_at) if seen_at is not None else datetime.now(UTC)
        with self._lock:
            for r in rows:
                self._s.dead_letters.setdefault((r.topic, r.partition, r.offset), (r.reason, now))

    def upsert_health(self, instance: str, **fields: HealthValue) -> None:
        self._check()
        with self._lock:
            self._s.health[instance] = {"updated_at": datetime.now(UTC), **fields}

    def status(self) -> dict[str, Any]:
        self._check()
        with self._lock:
            items = list(self._s.items.values())
            by_label: dict[str, int] = {}
            for it in items:
                by_label[it.label or "unscored"] = by_label.get(it.label or "unscored", 0) + 1
            by_reason: dict[str, int] = {}
            for reason, _ in self._s.dead_letters.values():
                by_reason[reason] = by_reason.get(reason, 0) + 1
            alerts = list(self._s.alerts.values())
            return {
                "items": len(items),
                "by_label": dict(sorted(by_label.items())),
                "dead_lettered": sum(by_reason.values()),
                "dead_lettered_by_reason": dict(sorted(by_reason.items())),
                "alerts": len(alerts),
                "alerts_firing": sum(1 for a in alerts if a.status == "firing"),
                "last_published_at": _iso(max((as_utc(it.published_at) for it in items), default=None)),
                "last_ingested_at": _iso(max((as_utc(it.ingested_at) for it in items), default=None)),
                "consumers": len(self._s.health),
            }

    def close(self) -> None:
        self.closed = True

    # --- monitor reads -------------------------------------------------------------------
    def latest_bucket_start(self, at_most: datetime | None = None) -> datetime | None:
        self._check()
        with self._lock:
            return max((b[2] for b in self._s.buckets
                        if b[:2] == ("all", "*") and (at_most is None or b[2] <= at_most)), default=None)

    def load_watermarks(self, updated_since: datetime | None = None) -> dict[tuple[str, int], datetime]:
        self._check()
        with self._lock:
            return {pid: ts for pid, (ts, updated) in self._s.watermarks.items()
                    if updated_since is None or updated >= updated_since}

    def next_held(self) -> datetime | None:
        self._check()
        with self._lock:
            return min((as_utc(self._s.items[i].published_at) for i in self._s.held), default=None)

    def firing_episodes(self) -> list[FiringEpisode]:
        self._check()
        with self._lock:
            return [FiringEpisode((a.key_type, a.key), a.started_at, a.severity)
                    for a in self._s.alerts.values() if a.status == "firing"]

    def read_series_many(
        self, keys: Iterable[KeyId], start: datetime, end: datetime
    ) -> dict[KeyId, dict[datetime, Counts]]:
        self._check()
        wanted = set(keys)
        lo, hi = as_utc(start), as_utc(end)
        out: dict[KeyId, dict[datetime, Counts]] = {}
        with self._lock:
            for (kt, k, b), c in self._s.buckets.items():
                if (kt, k) in wanted and lo <= b < hi:
                    out.setdefault((kt, k), {})[b] = c
        return out

    def read_series(self, key: KeyId, start: datetime, end: datetime) -> list[tuple[datetime, Counts]]:
        return sorted(self.read_series_many([key], start, end).get(key, {}).items())

    def top_keys(self, key_type: str, start: datetime, end: datetime, limit: int) -> list[tuple[str, int]]:
        self._check()
        lo, hi = as_utc(start), as_utc(end)
        n: dict[str, int] = {}
        with self._lock:
            for (kt, k, b), c in self._s.buckets.items():
                if kt == key_type and lo <= b < hi:
                    n[k] = n.get(k, 0) + c.total
        return sorted(n.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]

    def negatives_by_type(self, key_type: str, start: datetime, end: datetime) -> tuple[int, int]:
        self._check()
        lo, hi = as_utc(start), as_utc(end)
        per_key: dict[str, int] = {}
        with self._lock:
            for (kt, k, b), c in self._s.buckets.items():
                if kt == key_type and lo <= b < hi and c.n_negative > 0:
                    per_key[k] = per_key.get(k, 0) + c.n_negative
        return sum(per_key.values()), len(per_key)

    # --- outbox --------------------------------------------------------------------------
    def claim_due(self, now: datetime, limit: int = 100, lease: timedelta = LEASE) -> list[OutboxRow]:
        self._check()
        claimed: list[OutboxRow] = []
        with self._lock:
            waiting: set[tuple[str, str]] = set()  # (alert, target) with an earlier undelivered row
            for row in self._s.outbox:
                if not row.open:
                    continue
                pair = (row.alert_id, row.target)
                if pair not in waiting and row.next_attempt_at <= now and len(claimed) < limit:
                    row.next_attempt_at = now + lease
                    row.attempts += 1
                    claimed.append(OutboxRow(row.id, row.alert_id, row.status, row.target, row.channel,
                                             copy.deepcopy(row.payload), row.attempts))
                waiting.add(pair)
        return claimed

    def _row(self, row_id: int) -> _Outbox:
        return self._s.outbox[row_id - 1]

    def mark_delivered(self, row_id: int, now: datetime) -> None:
        self._check()
        with self._lock:
            row = self._row(row_id)
            row.delivered_at, row.last_error, row.failed_at, row.failed_reason = now, None, None, None

    def mark_failed(self, row_id: int, next_attempt_at: datetime, error: str) -> None:
        self._check()
        with self._lock:
            row = self._row(row_id)
            row.next_attempt_at, row.last_error = next_attempt_at, error[:500]

    def release(self, row_id: int, at: datetime) -> None:
        self._check()
        with self._lock:
            row = self._row(row_id)
            row.next_attempt_at, row.attempts = at, row.attempts - 1

    def fail_final(self, row_id: int, now: datetime, reason: str, error: str | None = None) -> None:
        self._check()
        with self._lock:
            row = self._row(row_id)
            if row.delivered_at is None:
                row.failed_at, row.failed_reason = now, reason
                row.last_error = error[:500] if error is not None else row.last_error

    def expire_outbox(self, now: datetime, max_attempts: int, max_age: timedelta,
                      targets: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        self._check()
        configured = set(targets)
        out: list[tuple[str, str]] = []
        with self._lock:
            for reason in ("target_removed", "max_age", "max_attempts"):
                for row in self._s.outbox:
                    if not row.open:
                        continue
                    hit = {"target_removed": (row.channel, row.target) not in configured,
                           "max_age": row.created_at is not None and row.created_at < now - max_age,
                           "max_attempts": row.attempts >= max_attempts and row.next_attempt_at <= now}[reason]
                    if hit:
                        row.failed_at, row.failed_reason = now, reason
                        out.append((row.channel, reason))
        return out

    def pending_count(self) -> int:
        self._check()
        with self._lock:
            return sum(1 for r in self._s.outbox if r.open)

    def delivered_firing(self, target: str, limit: int = 1000) -> list[AlertEvent]:
        self._check()
        with self._lock:
            sent = {r.alert_id for r in self._s.outbox
                    if r.target == target and r.status == "firing" and r.delivered_at is not None}
            active = [a for a in self._s.alerts.values() if a.status == "firing" and a.alert_id in sent]
        return sorted(active, key=lambda a: a.started_at, reverse=True)[:limit]

    def not_firing(self, alert_ids: Sequence[str]) -> list[AlertEvent]:
        self._check()
        wanted = set(alert_ids)
        with self._lock:
            return [a for a in self._s.alerts.values() if a.alert_id in wanted and a.status != "firing"]

    # --- inspection (tests) --------------------------------------------------------------
    def item(self, item_id: str) -> ScoredItem:
        """The stored copy of an item (``duplicate_of`` as linked)."""
        return self._s.items[item_id]

    def alert(self, alert_id: str) -> AlertEvent:
        return self._s.alerts[alert_id]

    def outbox_rows(self) -> list[OutboxRow]:
        return [OutboxRow(r.id, r.alert_id, r.status, r.target, r.channel, r.payload, r.attempts)
                for r in self._s.outbox]
