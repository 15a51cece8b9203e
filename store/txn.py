"""`SqlTransaction`: the named operations available inside one store write transaction.

The store hands one to ``write_batch``'s hook and yields one from ``Store.transaction()``;
callers (the monitor, the notifier) never see the SQLAlchemy connection it wraps. Nothing
done through it is kept unless the whole transaction commits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection

from finsentry.records import AlertEvent, BucketId, Counts, Evidence, KeyId, ScoredItem
from store import alerts, buckets, watermarks
from store import items as stored_items
from store.protocol import Payload


class SqlTransaction:
    """Implements :class:`store.protocol.Transaction` over one open connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def first_copies(self, hashes: Sequence[str], lo: datetime, hi: datetime) -> dict[str, list[tuple[datetime, str]]]:
        return stored_items.first_copies(self._conn, hashes, lo, hi)

    def link_syndicated(self, links: Mapping[str, str]) -> None:
        stored_items.link_syndicated(self._conn, links)

    def add_buckets(self, rows: Mapping[BucketId, Counts]) -> int:
        return buckets.upsert_buckets(self._conn, rows)

    def evidence(self, key: KeyId, start: datetime, end: datetime, limit: int) -> list[Evidence]:
        return stored_items.evidence(self._conn, key, start, end, limit)

    def insert_alert(self, event: AlertEvent, fingerprint: str, now: datetime) -> bool:
        return alerts.insert_alert(self._conn, event, fingerprint, now)

    def escalate_alert(self, event: AlertEvent, fingerprint: str, now: datetime) -> AlertEvent | None:
        return alerts.escalate_alert(self._conn, event, fingerprint, now)

    def resolve_alert(self, alert_id: str, resolved_at: datetime, now: datetime) -> AlertEvent | None:
        return alerts.resolve_alert(self._conn, alert_id, resolved_at, now)

    def enqueue(self, alert_id: str, status: str, channel: str, target: str, payload: Payload, now: datetime) -> None:
        alerts.enqueue(self._conn, alert_id, status, channel, target, payload, now)

    def save_watermarks(self, marks: Mapping[tuple[str, int], datetime], now: datetime) -> None:
        watermarks.save(self._conn, marks, now)

    def hold_items(self, ids: Sequence[str]) -> None:
        watermarks.hold(self._conn, ids)

    def release_held(self, upto: datetime) -> list[ScoredItem]:
        return watermarks.release_due(self._conn, upto)
