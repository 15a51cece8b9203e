"""Synthetic news streams for the monitor tests: a calm baseline with injected negative bursts.

Deterministic (seeded ``random.Random``); items are ``ScoredItem``s with event times, labels,
topics, tickers and sources, so the same stream drives the pure detector and the service.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from finsentry.records import ScoredItem
from monitor.buckets import Counts, KeyId
from monitor.detector import DetectorConfig, Evaluation, SpikeDetector
from tests.support.buckets import BucketTable

T0 = datetime(2024, 1, 8, 0, 0, tzinfo=UTC)
TOPICS = ("Earnings", "Banks", "Tech", "Energy", "Macro")
SOURCES = ("wire-a", "wire-b", "wire-c")
TICKERS = ("AAPL", "JPM", "XOM", "MSFT")

# share of negative items as a function of the minute index (None = calm baseline)
Shape = Callable[[int], float | None]


def item(
    i: int, ts: datetime, label: str, topic: str, source: str, tickers: list[str], dup_of: str | None = None
) -> ScoredItem:
    score = {"negative": -0.8, "neutral": 0.0, "positive": 0.7}[label]
    return ScoredItem(
        id=f"s{i}",
        text=f"headline {i} {label} {topic}",
        published_at=ts,
        ingested_at=ts,
        source=source,
        label=label,  # type: ignore[arg-type]
        p_negative=0.9 if label == "negative" else 0.05,
        p_neutral=0.05,
        p_positive=0.9 if label == "positive" else 0.05,
        score=score,
        topics=[(topic, 0.9)],
        tickers=tickers,
        duplicate_of=dup_of,
    )


def stream(
    minutes: int,
    per_minute: int = 30,
    calm_negative: float = 0.15,
    shape: Shape | None = None,
    shape_topic: str | None = None,
    shape_extra: int = 0,
    seed: int = 7,
    start: datetime = T0,
) -> list[ScoredItem]:
    """``per_minute`` items a minute; during a burst (``shape(m)`` not None) the negative share
    is ``shape(m)`` (for ``shape_topic`` only, when given) and ``shape_extra`` burst items join."""
    rnd = random.Random(seed)
    out: list[ScoredItem] = []
    n = 0
    for m in range(minutes):
        burst = shape(m) if shape else None
        for j in range(per_minute + (shape_extra if burst is not None else 0)):
            ts = start + timedelta(minutes=m, seconds=rnd.uniform(0, 59.9))
            topic = rnd.choice(TOPICS)
            if j >= per_minute and shape_topic:
                topic = shape_topic
            p_neg = calm_negative
            if burst is not None and (shape_topic is None or topic == shape_topic):
                p_neg = burst
            r = rnd.random()
            label = "negative" if r < p_neg else ("positive" if r < p_neg + (1 - p_neg) * 0.35 else "neutral")
            tickers = [rnd.choice(TICKERS)] if rnd.random() < 0.3 else []
            out.append(item(n, ts, label, topic, rnd.choice(SOURCES), tickers))
            n += 1
    return out


def run_detector(items: Iterable[ScoredItem], config: DetectorConfig, batch_minutes: int = 1) -> list[Evaluation]:
    """Feed items minute by minute (event order) through buckets and the detector."""
    items = sorted(items, key=lambda it: (it.published_at, it.id))
    table = BucketTable(config.bucket_s, allowed_lateness_s=3600)
    table.apply(items)
    by_start: dict = {}
    for (kt, k, start), c in table.rows.items():
        by_start.setdefault(start, {})[(kt, k)] = c
    det = SpikeDetector(config)
    evals: list[Evaluation] = []
    if not by_start:
        return evals
    t = min(by_start)
    last = max(by_start) + timedelta(seconds=config.bucket_s)
    step = timedelta(seconds=config.bucket_s * batch_minutes)
    while t < last:
        end = min(t + step, last)
        fresh: dict[KeyId, dict[datetime, Counts]] = {}
        cur = t
        while cur < end:
            for key, c in by_start.get(cur, {}).items():
                fresh.setdefault(key, {})[cur] = c
            cur += timedelta(seconds=config.bucket_s)
        evals.extend(det.advance(end, fresh, refresh_from=t))
        t = end
    return evals


def fired(evals: Iterable[Evaluation]) -> list[tuple[KeyId, datetime, str]]:
    return [(e.key, e.bucket_start, e.event.severity) for e in evals if e.event and e.event.status == "firing"]
