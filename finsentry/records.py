"""Plain records passed between the packages (no I/O, no third-party imports).

`ingest` builds `ScoredItem`s from Kafka records + model predictions and hands them to the
store and the monitor; the detector emits `AlertEvent`s that alerting delivers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Label = Literal["negative", "neutral", "positive"]
KeyType = Literal["all", "topic", "ticker", "source"]


@dataclass(slots=True)
class ScoredItem:
    """One news item after classification, as stored (one row of ``items``)."""

    id: str
    text: str
    published_at: datetime  # tz-aware UTC, event time
    ingested_at: datetime  # tz-aware UTC, wall time
    source: str | None = None
    url: str | None = None
    lang: str | None = None
    # None when no model covers the language: stored and shown, kept out of aggregates.
    label: Label | None = None
    p_negative: float | None = None
    p_neutral: float | None = None
    p_positive: float | None = None
    score: float | None = None  # p_positive - p_negative
    topics: list[tuple[str, float]] = field(default_factory=list)  # best first
    tickers: list[str] = field(default_factory=list)
    model_version: str | None = None
    story_hash: str | None = None  # normalised-text fingerprint for syndication
    duplicate_of: str | None = None  # id of the first copy of a syndicated story
    kafka_topic: str | None = None
    kafka_partition: int | None = None
    kafka_offset: int | None = None

    @property
    def topic(self) -> str | None:
        return self.topics[0][0] if self.topics else None

    @property
    def scored(self) -> bool:
        return self.label is not None


@dataclass(frozen=True, slots=True)
class Evidence:
    id: str
    text: str
    source: str | None
    score: float


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """A state change of one alert episode, emitted by the detector (event-time driven)."""

    alert_id: str  # deterministic: f"{key_type}:{key}:{onset ISO}"
    status: Literal["firing", "resolved"]
    key_type: KeyType
    key: str
    severity: Literal["warning", "critical"]
    started_at: datetime  # onset bucket start (event time)
    resolved_at: datetime | None
    figures: dict[str, float]  # current vs baseline figures and the test statistic
    evidence: tuple[Evidence, ...] = ()
