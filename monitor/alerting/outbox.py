"""The persisted outbox of alert notifications (table ``alert_outbox``).

Rows are enqueued inside the caller's store transaction, so a notification exists exactly
when its alert state change was committed. Delivery claims due rows with a *lease*: one
short write transaction moves ``next_attempt_at`` past the lease and counts the attempt
(on PostgreSQL the candidate rows are picked ``FOR UPDATE SKIP LOCKED``, so concurrent
instances claim disjoint rows; on SQLite the single UPDATE is one writer transaction).
The POST happens outside any transaction; success sets ``delivered_at``, failure schedules
the next attempt. A process that dies mid-POST leaves the row to be retried after the lease.

A notification is claimable only when every earlier notification of the same alert to the
same target was delivered: resolved never overtakes firing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, exists, func, insert, select, update

from store.schema import alert_outbox

LEASE = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    alert_id: str
    status: str
    target: str
    channel: str
    payload: Any
    attempts: int


def enqueue(
    conn: Connection, *, alert_id: str, status: str, channel: str, target: str, payload: Any, now: datetime
) -> None:
    conn.execute(
        insert(alert_outbox).values(
            alert_id=alert_id,
            status=status,
            target=target,
            channel=channel,
            payload=payload,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )


def claim_due(engine: Engine, now: datetime, limit: int = 100, lease: timedelta = LEASE) -> list[OutboxRow]:
    """Lease up to ``limit`` due rows to this caller; returns them oldest first."""
    o = alert_outbox
    earlier = alert_outbox.alias("earlier")
    blocked = exists().where(
        earlier.c.alert_id == o.c.alert_id,
        earlier.c.target == o.c.target,
        earlier.c.delivered_at.is_(None),
        earlier.c.id < o.c.id,
    )
    due = (
        select(o.c.id)
        .where(o.c.delivered_at.is_(None), o.c.next_attempt_at <= now, ~blocked)
        .order_by(o.c.id)
        .limit(limit)
    )
    if engine.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True, of=o)
    stmt = (
        update(o)
        .where(o.c.id.in_(due))
        .values(next_attempt_at=now + lease, attempts=o.c.attempts + 1)
        .returning(o.c.id, o.c.alert_id, o.c.status, o.c.target, o.c.channel, o.c.payload, o.c.attempts)
    )
    with engine.begin() as conn:
        rows = conn.execute(stmt).all()
    return sorted((OutboxRow(*r) for r in rows), key=lambda r: r.id)


def mark_delivered(engine: Engine, row_id: int, now: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(update(alert_outbox).where(alert_outbox.c.id == row_id).values(delivered_at=now, last_error=None))


def mark_failed(engine: Engine, row_id: int, next_attempt_at: datetime, error: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(alert_outbox)
            .where(alert_outbox.c.id == row_id)
            .values(next_attempt_at=next_attempt_at, last_error=error[:500])
        )


def release(engine: Engine, row_id: int, at: datetime) -> None:
    """Give back a claimed row that was not attempted (the attempt is not counted)."""
    with engine.begin() as conn:
        conn.execute(
            update(alert_outbox)
            .where(alert_outbox.c.id == row_id)
            .values(next_attempt_at=at, attempts=alert_outbox.c.attempts - 1)
        )


def pending_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(alert_outbox.c.delivered_at.is_(None))).scalar_one())
