"""What the rest of finsentry may ask of a store: protocols and the records they pass.

``store.Store`` (SQLite/PostgreSQL) implements them; ``tests.support.memory_store.MemoryStore``
is the in-memory twin the monitor's unit tests run on. The layers above type-hint against
these protocols, never against SQLAlchemy:

    Transaction   one write transaction (all or nothing): syndication links, bucket
                  additions, alert episodes and their outbox rows, evidence reads
    AlertStore    what the notifier needs: transactions + the outbox's delivery bookkeeping
    MonitorStore  + the monitor's writes and bucket reads
    StoreProtocol + what the ingest loop needs (dead letters, health, status, close)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from finsentry.records import AlertEvent, BucketId, Counts, Evidence, KeyId, ScoredItem, Severity

LEASE = timedelta(seconds=60)  # how long a claimed outbox row stays with its claimer
Payload = Any  # a notification body as stored: JSON (dicts, lists, str, numbers, bool, None)
HealthValue = int | float | str | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Where an invalid record came from and why it was rejected."""

    topic: str
    partition: int
    offset: int
    reason: str


@dataclass(frozen=True, slots=True)
class FiringEpisode:
    """An alert episode still firing in the store (restored by the monitor on start)."""

    key: KeyId
    started_at: datetime
    severity: Severity


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One claimed notification: the payload to send to ``target`` over ``channel``."""

    id: int
    alert_id: str
    status: str
    target: str
    channel: str
    payload: Payload
    attempts: int


class Transaction(Protocol):
    """Reads and writes inside one store transaction; nothing is kept if the block raises."""

    def first_copies(self, hashes: Sequence[str], lo: datetime, hi: datetime) -> dict[str, list[tuple[datetime, str]]]:
        """Stored first copies (``duplicate_of`` unset) per story hash, published in ``[lo, hi]``."""
        ...

    def link_syndicated(self, links: Mapping[str, str]) -> None:
        """Set ``duplicate_of`` of each stored item id (key) to its first copy's id (value)."""
        ...

    def add_buckets(self, rows: Mapping[BucketId, Counts]) -> int:
        """Add ``rows`` into the stored buckets; returns the number of bucket rows touched."""
        ...

    def evidence(self, key: KeyId, start: datetime, end: datetime, limit: int) -> list[Evidence]:
        """The most negative unique items of ``key`` published in ``[start, end)``."""
        ...

    def insert_alert(self, event: AlertEvent, fingerprint: str, now: datetime) -> bool:
        """Record a firing episode unless its id exists; True when this call inserted it."""
        ...

    def escalate_alert(self, event: AlertEvent, fingerprint: str, now: datetime) -> AlertEvent | None:
        """A firing warning episode becomes critical; returns the stored episode, or None if unchanged."""
        ...

    def resolve_alert(self, alert_id: str, resolved_at: datetime, now: datetime) -> AlertEvent | None:
        """A firing episode becomes resolved; returns the stored episode, or None if unchanged."""
        ...

    def enqueue(self, alert_id: str, status: str, channel: str, target: str, payload: Payload, now: datetime) -> None:
        """Add a notification to the outbox, due at ``now``."""
        ...

    def save_watermarks(self, marks: Mapping[tuple[str, int], datetime], now: datetime) -> None:
        """Persist per-partition watermarks (``("*", -1)``: the stream's); a stored value never goes back."""
        ...

    def hold_items(self, ids: Sequence[str]) -> None:
        """Flag stored items as held: future-dated, out of the buckets until the watermark reaches them."""
        ...

    def release_held(self, upto: datetime) -> list[ScoredItem]:
        """Held items published at or before ``upto`` (oldest first), un-flagged in this transaction."""
        ...


InTxn = Callable[[Transaction, list[ScoredItem]], None]


class AlertStore(Protocol):
    """Alert transactions and outbox delivery bookkeeping (each call its own transaction)."""

    def transaction(self) -> AbstractContextManager[Transaction]: ...

    def claim_due(self, now: datetime, limit: int = 100, lease: timedelta = LEASE) -> list[OutboxRow]:
        """Lease up to ``limit`` due rows (earlier notifications of an alert to a target first)."""
        ...

    def mark_delivered(self, row_id: int, now: datetime) -> None: ...

    def mark_failed(self, row_id: int, next_attempt_at: datetime, error: str) -> None: ...

    def release(self, row_id: int, at: datetime) -> None:
        """Give back a claimed row that was not attempted (the attempt is not counted)."""
        ...

    def fail_final(self, row_id: int, now: datetime, reason: str, error: str | None = None) -> None:
        """Final state *failed* (``reason``: max_attempts | max_age | target_removed): never claimed again."""
        ...

    def expire_outbox(self, now: datetime, max_attempts: int, max_age: timedelta,
                      targets: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """Mark open rows failed whose (channel, target) is not in ``targets``, queued before
        ``now - max_age``, or out of attempts; returns ``(channel, reason)`` per row marked."""
        ...

    def pending_count(self) -> int: ...

    def delivered_firing(self, target: str, limit: int = 1000) -> list[AlertEvent]:
        """Firing episodes whose firing notification reached ``target``, newest onset first."""
        ...

    def not_firing(self, alert_ids: Sequence[str]) -> list[AlertEvent]:
        """The episodes among ``alert_ids`` that are no longer firing."""
        ...


class MonitorStore(AlertStore, Protocol):
    """What ``MonitorService`` needs: the write hook plus bucket and episode reads."""

    def write_batch(self, batch: Sequence[ScoredItem], in_txn: InTxn | None = None) -> list[ScoredItem]: ...

    def latest_bucket_start(self, at_most: datetime | None = None) -> datetime | None:
        """Start of the newest whole-stream bucket (not after ``at_most`` when given)."""
        ...

    def load_watermarks(self, updated_since: datetime | None = None) -> dict[tuple[str, int], datetime]:
        """Persisted watermarks per (topic, partition), ``("*", -1)`` the stream's; with
        ``updated_since``, only rows written since then (partitions some instance is still reading)."""
        ...

    def next_held(self) -> datetime | None:
        """Event time of the earliest held item (None: nothing held)."""
        ...

    def firing_episodes(self) -> list[FiringEpisode]: ...

    def read_series_many(
        self, keys: Iterable[KeyId], start: datetime, end: datetime
    ) -> dict[KeyId, dict[datetime, Counts]]: ...

    def read_series(self, key: KeyId, start: datetime, end: datetime) -> list[tuple[datetime, Counts]]: ...

    def top_keys(self, key_type: str, start: datetime, end: datetime, limit: int) -> list[tuple[str, int]]: ...

    def negatives_by_type(self, key_type: str, start: datetime, end: datetime) -> tuple[int, int]: ...


class StoreProtocol(MonitorStore, Protocol):
    """Everything the service uses: the monitor's needs plus the ingest loop's."""

    def record_dead_letters(self, rows: Sequence[DeadLetter], seen_at: datetime | None = None) -> None: ...

    def upsert_health(self, instance: str, **fields: HealthValue) -> None: ...

    def status(self) -> dict[str, Any]: ...

    def close(self) -> None: ...
