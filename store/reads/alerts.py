"""Dashboard reads of alert episodes, their outbox deliveries and the consumers' health.

``ix_alerts_status``, ``ix_alerts_started`` and ``ix_outbox_alert`` serve the reads; the two
pure helpers at the end shape stored JSON (evidence, delivery rows) for display.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Select, or_, select

from finsentry.redact import redact_text, redact_url
from store.reads._db import Connectable, connect, frame, translated, utc, utc_col
from store.schema import alert_outbox, alerts, pipeline_health

# The detector's figure names first (monitor.detector), then aliases we accept (first present wins).
FIGURE_ALIASES: dict[str, tuple[str, ...]] = {
    "share": ("negative_share", "current_share", "share", "current"),
    "baseline": ("baseline_negative_share", "baseline_share", "baseline"),
    "statistic": ("z", "statistic", "spike_score", "score"),
    "window_n": ("window_items", "n", "count", "n_items", "total"),
}
ALERT_COLUMNS = [
    "id", "severity", "status", "key_type", "key", "started_at", "resolved_at", "share", "baseline",
    "statistic", "window_n", "figures", "evidence", "entity", "story", "story_size",
]
DELIVERY_COLUMNS = [
    "alert_id", "status", "channel", "target", "attempts", "delivered_at", "next_attempt_at", "failed_at",
    "failed_reason", "last_error",
]


def figure(figures: object, name: str) -> float | None:
    """The first figure present under one of ``name``'s aliases (None when absent or not a number)."""
    if not isinstance(figures, dict):
        return None
    for alias in FIGURE_ALIASES[name]:
        value = figures.get(alias)
        if isinstance(value, (int, float)):
            return float(value)
    return None


def _alert_frame(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return pd.DataFrame(columns=ALERT_COLUMNS)
    df["started_at"] = utc_col(df["started_at"])
    df["resolved_at"] = utc_col(df["resolved_at"])
    for name in FIGURE_ALIASES:
        df[name] = df["figures"].map(lambda f, n=name: figure(f, n))
    # The detector's description of the key and its news (``AlertEvent.entity``/``story``/``story_size``).
    df["entity"] = df["entity"].fillna("")
    df["story"] = df["story"].fillna("")
    df["story_size"] = df["story_size"].fillna(0).astype(int)
    return df[ALERT_COLUMNS]


_ALERT_SELECT = (
    alerts.c.id, alerts.c.severity, alerts.c.status, alerts.c.key_type, alerts.c.key, alerts.c.started_at,
    alerts.c.resolved_at, alerts.c.figures, alerts.c.evidence, alerts.c.entity, alerts.c.story, alerts.c.story_size,
)


@translated
def active_alerts(db: Connectable) -> pd.DataFrame:
    """Firing alerts, newest onset first (``ix_alerts_status``)."""
    stmt = select(*_ALERT_SELECT).where(alerts.c.status == "firing").order_by(alerts.c.started_at.desc())
    with connect(db) as conn:
        return _alert_frame(frame(conn, stmt))


@translated
def alert_history(db: Connectable, start: datetime, end: datetime, limit: int = 300) -> pd.DataFrame:
    """Episodes overlapping [start, end), newest onset first (``ix_alerts_started``)."""
    stmt = (
        select(*_ALERT_SELECT)
        .where(
            alerts.c.started_at < utc(end),
            or_(alerts.c.resolved_at.is_(None), alerts.c.resolved_at >= utc(start)),
        )
        .order_by(alerts.c.started_at.desc())
        .limit(limit)
    )
    with connect(db) as conn:
        return _alert_frame(frame(conn, stmt))


@translated
def delivery(db: Connectable, alert_ids: Sequence[str]) -> pd.DataFrame:
    """Outbox rows of these alerts (``ix_outbox_alert``): one per notification and target."""
    cols = DELIVERY_COLUMNS
    if not alert_ids:
        return pd.DataFrame(columns=cols)
    stmt = (
        select(*(alert_outbox.c[c] for c in cols))
        .where(alert_outbox.c.alert_id.in_(list(alert_ids)))
        .order_by(alert_outbox.c.alert_id, alert_outbox.c.id)
    )
    return _outbox_frame(db, stmt, cols)


def _outbox_frame(db: Connectable, stmt: Select[Any], cols: list[str]) -> pd.DataFrame:
    """Outbox rows as the page shows them: times in UTC, and targets and errors redacted (a target
    can carry credentials in its path or query)."""
    with connect(db) as conn:
        df = frame(conn, stmt)
    if df.empty:
        return pd.DataFrame(columns=cols)
    raw = [str(t) for t in df["target"]]
    df["last_error"] = [None if e is None else redact_text(str(e), [t])
                        for e, t in zip(df["last_error"], raw, strict=True)]
    df["target"] = [redact_url(t) for t in raw]
    for c in ("delivered_at", "next_attempt_at", "created_at", "failed_at"):
        if c in df:
            df[c] = utc_col(df[c])
    return df[cols]


FAILED_COLUMNS = [
    "alert_id", "status", "channel", "target", "attempts", "created_at", "failed_at", "failed_reason", "last_error",
]


@translated
def failed_deliveries(db: Connectable, limit: int = 200) -> pd.DataFrame:
    """Notifications given up for good (final state *failed*), newest first: why (``failed_reason``:
    max_attempts | max_age | target_removed) and the last error; targets and errors redacted."""
    o = alert_outbox
    stmt = (select(*(o.c[c] for c in FAILED_COLUMNS)).where(o.c.failed_at.is_not(None))
            .order_by(o.c.failed_at.desc(), o.c.id.desc()).limit(limit))
    return _outbox_frame(db, stmt, FAILED_COLUMNS)


@translated
def health(db: Connectable) -> pd.DataFrame:
    """One row per consumer instance, most recently updated first."""
    stmt = select(pipeline_health).order_by(pipeline_health.c.updated_at.desc())
    with connect(db) as conn:
        df = frame(conn, stmt)
    if not df.empty:
        df["updated_at"] = utc_col(df["updated_at"])
    return df


def delivery_summary(outbox: pd.DataFrame) -> pd.Series:
    """alert_id -> short text: "delivered 2/2", "pending: 1/2 delivered · last error: ...", or
    "FAILED: 1/2 delivered · 1 given up (max_attempts)" once a notification reached its final state. Pure."""
    if outbox.empty:
        return pd.Series(dtype=object)

    def one(group: pd.DataFrame) -> str:
        total = len(group)
        done = int(group["delivered_at"].notna().sum())
        if done == total:
            return f"delivered {done}/{total}"
        failed = group[group["failed_at"].notna()] if "failed_at" in group else group.iloc[:0]
        if len(failed):
            reasons = ", ".join(sorted({str(r) for r in failed["failed_reason"].dropna()})) or "given up"
            return f"FAILED: {done}/{total} delivered · {len(failed)} given up ({reasons})"
        errors = group.loc[group["delivered_at"].isna(), "last_error"].dropna()
        tail = f" · last error: {str(errors.iloc[-1])[:60]}" if len(errors) else ""
        return f"pending: {done}/{total} delivered{tail}"

    cols = [c for c in ("delivered_at", "failed_at", "failed_reason", "last_error") if c in outbox]
    return outbox.groupby("alert_id")[cols].apply(one)


def evidence_frame(evidence: object) -> pd.DataFrame:
    """An alert's evidence JSON ([{id, text, source, score}, ...]) as a table. Pure."""
    cols = ["text", "source", "score", "id"]
    rows = [e for e in evidence if isinstance(e, dict)] if isinstance(evidence, list | tuple) else []
    if not rows:
        return pd.DataFrame(columns=cols)
    df = pd.DataFrame(rows)
    for c in cols:
        if c not in df.columns:
            df[c] = None
    return df[cols]
