"""Plain records passed between the packages (no I/O, no third-party imports).

`ingest` builds `ScoredItem`s from Kafka records + model predictions and hands them to the
store and the monitor; the detector emits `AlertEvent`s that alerting delivers. The bucket
types (`Counts`, `KeyId`, `BucketId`) live here because both the store (which persists them)
and the monitor (which computes them) use them, and the store must not import the monitor.

Buckets are monoids: :func:`merge` is associative and commutative with :data:`EMPTY` as
identity, which is what lets several consumer instances add into the same stored rows.

    >>> c = merge(Counts(n_negative=1, score_sum=-0.9), Counts(n_positive=1, score_sum=0.8))
    >>> c.total, round(c.negative_share, 2)
    (2, 0.5)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Label = Literal["negative", "neutral", "positive"]
KeyType = Literal["all", "topic", "ticker", "source", "entity"]
Severity = Literal["warning", "critical"]

KeyId = tuple[str, str]  # (key_type, key)
BucketId = tuple[str, str, datetime]  # (key_type, key, bucket_start UTC)
ALL: KeyId = ("all", "*")


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
    # Organisations beyond the ticker dictionary (monitor.entities); set by enrich, not stored.
    entities: list[str] = field(default_factory=list)
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
    severity: Severity
    started_at: datetime  # onset bucket start (event time)
    resolved_at: datetime | None
    figures: dict[str, float]  # current vs baseline figures and the test statistic
    evidence: tuple[Evidence, ...] = ()
    entity: str = ""  # display name of the key's company/organisation ("" for topics, sources, all)
    story: str = ""  # headline of the biggest story among the key's negative headlines in the window
    story_size: int = 0  # headlines in that story


@dataclass(frozen=True, slots=True)
class Counts:
    """Additive counts of one bucket (or a sum of buckets) for one key."""

    n_negative: int = 0
    n_neutral: int = 0
    n_positive: int = 0
    n_duplicates: int = 0  # syndicated copies: stored, linked, never in n_* or score_sum
    score_sum: float = 0.0

    @property
    def total(self) -> int:
        """Unique scored items (copies excluded)."""
        return self.n_negative + self.n_neutral + self.n_positive

    @property
    def negative_share(self) -> float:
        return self.n_negative / self.total if self.total else 0.0

    @property
    def mean_score(self) -> float:
        """The sentiment index: mean of p_positive - p_negative over unique items."""
        return self.score_sum / self.total if self.total else 0.0

    def __add__(self, other: Counts) -> Counts:
        return merge(self, other)


EMPTY = Counts()


def merge(a: Counts, b: Counts) -> Counts:
    return Counts(
        a.n_negative + b.n_negative,
        a.n_neutral + b.n_neutral,
        a.n_positive + b.n_positive,
        a.n_duplicates + b.n_duplicates,
        a.score_sum + b.score_sum,
    )
