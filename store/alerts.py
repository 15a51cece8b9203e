"""Alert episodes (table ``alerts``) and the persisted outbox of their notifications.

Episodes: the id is deterministic (``key_type:key:onset``), so two instances that detect the
same episode collide on the primary key (``ON CONFLICT DO NOTHING ... RETURNING``) and only
the one whose statement changed the row enqueues notifications, in the same transaction.

Outbox: rows are enqueued inside the caller's transaction, so a notification exists exactly
when its alert state change was committed. Delivery claims due rows with a *lease*: one short
write transaction moves ``next_attempt_at`` past the lease and counts the attempt (on
PostgreSQL the candidate rows are picked ``FOR UPDATE SKIP LOCKED``, so concurrent instances
claim disjoint rows; on SQLite the single UPDATE is one writer transaction). A notification
is claimable only when every earlier notification of the same alert to the same target was
delivered: resolved never overtakes firing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, and_, exists, func, insert, not_, or_, select, true, update

from finsentry.records import AlertEvent, Evidence
from finsentry.timeutil import as_utc
from store.dialect import upsert_insert
from store.protocol import FiringEpisode, OutboxRow, Payload
from store.schema import alert_outbox, alerts


def event_from_row(row: Row[Any]) -> AlertEvent:
    """Rebuild an :class:`AlertEvent` from an ``alerts`` row (for resolves and re-sends)."""
    return AlertEvent(
        alert_id=row.id,
        status=row.status,
        key_type=row.key_type,
        key=row.key,
        severity=row.severity,
        started_at=as_utc(row.started_at),
        resolved_at=as_utc(row.resolved_at) if row.resolved_at is not None else None,
        figures=dict(row.figures or {}),
        evidence=tuple(Evidence(e["id"], e["text"], e.get("source"), float(e["score"])) for e in row.evidence or []),
        entity=row.entity or "",
        story=row.story or "",
        story_size=int(row.story_size or 0),
    )


def _stored(conn: Connection, alert_id: str) -> AlertEvent:
    return event_from_row(conn.execute(select(alerts).where(alerts.c.id == alert_id)).one())


# --- episodes (inside the caller's transaction) --------------------------------------------


def insert_alert(conn: Connection, event: AlertEvent, fingerprint: str, now: datetime) -> bool:
    values = {
        "id": event.alert_id,
        "key_type": event.key_type,
        "key": event.key,
        "severity": event.severity,
        "status": "firing",
        "started_at": event.started_at,
        "resolved_at": None,
        "fingerprint": fingerprint,
        "figures": dict(event.figures),
        "evidence": [{"id": e.id, "text": e.text, "source": e.source, "score": e.score} for e in event.evidence],
        "entity": event.entity or None,
        "story": event.story or None,
        "story_size": event.story_size or None,
        "created_at": now,
        "updated_at": now,
    }
    stmt = upsert_insert(conn, alerts).values(**values).on_conflict_do_nothing(index_elements=["id"])
    # RETURNING, not rowcount: psycopg reports -1 for INSERT ... ON CONFLICT through SQLAlchemy.
    return len(conn.execute(stmt.returning(alerts.c.id)).all()) == 1


def escalate_alert(conn: Connection, event: AlertEvent, fingerprint: str, now: datetime) -> AlertEvent | None:
    changed = conn.execute(
        update(alerts)
        .where(alerts.c.id == event.alert_id, alerts.c.status == "firing", alerts.c.severity == "warning")
        .values(severity="critical", fingerprint=fingerprint, figures=dict(event.figures), updated_at=now)
    ).rowcount
    return _stored(conn, event.alert_id) if changed == 1 else None


def resolve_alert(conn: Connection, alert_id: str, resolved_at: datetime, now: datetime) -> AlertEvent | None:
    changed = conn.execute(
        update(alerts)
        .where(alerts.c.id == alert_id, alerts.c.status == "firing")
        .values(status="resolved", resolved_at=resolved_at, updated_at=now)
    ).rowcount
    return _stored(conn, alert_id) if changed == 1 else None


def enqueue(conn: Connection, alert_id: str, status: str, channel: str, target: str, payload: Payload,
            now: datetime) -> None:
    conn.execute(
        insert(alert_outbox).values(
            alert_id=alert_id, status=status, target=target, channel=channel, payload=payload,
            attempts=0, next_attempt_at=now, created_at=now,
        )
    )


# --- episode reads --------------------------------------------------------------------------


def firing_episodes(conn: Connection) -> list[FiringEpisode]:
    q = select(alerts.c.key_type, alerts.c.key, alerts.c.started_at, alerts.c.severity).where(
        alerts.c.status == "firing"
    )
    return [FiringEpisode((r.key_type, r.key), as_utc(r.started_at), r.severity) for r in conn.execute(q)]


def delivered_firing(conn: Connection, target: str, limit: int) -> list[AlertEvent]:
    sent = (
        select(alert_outbox.c.alert_id)
        .where(
            alert_outbox.c.target == target,
            alert_outbox.c.status == "firing",
            alert_outbox.c.delivered_at.is_not(None),
        )
        .scalar_subquery()
    )
    q = (
        select(alerts)
        .where(alerts.c.status == "firing", alerts.c.id.in_(sent))
        .order_by(alerts.c.started_at.desc())
        .limit(limit)
    )
    return [event_from_row(r) for r in conn.execute(q)]


def not_firing(conn: Connection, alert_ids: Sequence[str]) -> list[AlertEvent]:
    q = select(alerts).where(alerts.c.id.in_(list(alert_ids)), alerts.c.status != "firing")
    return [event_from_row(r) for r in conn.execute(q)]


# --- outbox delivery (each call its own short transaction) ---------------------------------


def claim_due(conn: Connection, now: datetime, limit: int, lease: timedelta) -> list[OutboxRow]:
    o = alert_outbox
    earlier = alert_outbox.alias("earlier")
    blocked = exists().where(
        earlier.c.alert_id == o.c.alert_id,
        earlier.c.target == o.c.target,
        earlier.c.delivered_at.is_(None),
        earlier.c.failed_at.is_(None),
        earlier.c.id < o.c.id,
    )
    due = (
        select(o.c.id)
        .where(o.c.delivered_at.is_(None), o.c.failed_at.is_(None), o.c.next_attempt_at <= now, ~blocked)
        .order_by(o.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True, of=o)
    stmt = (
        update(o)
        .where(o.c.id.in_(due))
        .values(next_attempt_at=now + lease, attempts=o.c.attempts + 1)
        .returning(o.c.id, o.c.alert_id, o.c.status, o.c.target, o.c.channel, o.c.payload, o.c.attempts)
    )
    rows = conn.execute(stmt).all()
    return sorted((OutboxRow(*r) for r in rows), key=lambda r: r.id)


def mark_delivered(conn: Connection, row_id: int, now: datetime) -> None:
    # Delivery wins over a concurrent expiry (another instance marked it failed mid-POST).
    conn.execute(update(alert_outbox).where(alert_outbox.c.id == row_id).values(
        delivered_at=now, last_error=None, failed_at=None, failed_reason=None))


def fail_final(conn: Connection, row_id: int, now: datetime, reason: str, error: str | None) -> None:
    """Final state: never claimed again (``reason``: max_attempts | max_age | target_removed)."""
    values: dict[str, Any] = {"failed_at": now, "failed_reason": reason}
    if error is not None:
        values["last_error"] = error[:500]
    conn.execute(update(alert_outbox).where(alert_outbox.c.id == row_id, alert_outbox.c.delivered_at.is_(None))
                 .values(**values))


def _configured(targets: Sequence[tuple[str, str]]) -> ColumnElement[bool]:
    o = alert_outbox
    if not targets:
        return not_(true())
    return or_(*(and_(o.c.channel == c, o.c.target == t) for c, t in sorted(set(targets))))


def expire(conn: Connection, now: datetime, max_attempts: int, max_age: timedelta,
           targets: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Mark open rows failed: target no longer configured, queued before ``now - max_age``, or out
    of attempts (and not leased). Returns ``(channel, reason)`` per row marked."""
    o = alert_outbox
    open_ = and_(o.c.delivered_at.is_(None), o.c.failed_at.is_(None))
    rules: list[tuple[str, ColumnElement[bool]]] = [
        ("target_removed", not_(_configured(targets))),
        ("max_age", o.c.created_at < now - max_age),
        ("max_attempts", and_(o.c.attempts >= max_attempts, o.c.next_attempt_at <= now)),
    ]
    out: list[tuple[str, str]] = []
    for reason, cond in rules:
        rows = conn.execute(
            update(o).where(open_, cond).values(failed_at=now, failed_reason=reason).returning(o.c.channel)
        ).all()
        out += [(str(r.channel), reason) for r in rows]
    return out


def mark_failed(conn: Connection, row_id: int, next_attempt_at: datetime, error: str) -> None:
    conn.execute(
        update(alert_outbox)
        .where(alert_outbox.c.id == row_id)
        .values(next_attempt_at=next_attempt_at, last_error=error[:500])
    )


def release(conn: Connection, row_id: int, at: datetime) -> None:
    conn.execute(
        update(alert_outbox)
        .where(alert_outbox.c.id == row_id)
        .values(next_attempt_at=at, attempts=alert_outbox.c.attempts - 1)
    )


def pending_count(conn: Connection) -> int:
    o = alert_outbox
    return int(conn.execute(select(func.count()).where(o.c.delivered_at.is_(None), o.c.failed_at.is_(None)))
               .scalar_one())
