"""Time helpers shared by every layer: one meaning of "naive datetime" in the whole product."""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(ts: datetime) -> datetime:
    """Timezone-aware UTC. Naive datetimes (SQLite reads them back that way) are taken as UTC."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
