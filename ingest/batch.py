"""A polled batch on its way through the loop, and what a durable batch adds to the metrics."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from finsentry.logs import get_logger
from finsentry.metrics import Metrics
from finsentry.records import ScoredItem
from ingest.contract import NewsMessage
from ingest.kafka_io import Record
from ingest.records import Rejected
from model.languages import metric_label

log = get_logger(__name__)


@dataclass(slots=True)
class Batch:
    """Records of one poll, triaged; ``preds`` resolves to the router's output (classified on a worker)."""

    records: list[Record]
    valid: list[tuple[Record, NewsMessage]]
    rejected: list[Rejected]
    now: datetime
    t0: float
    preds: Future[Any] = field(default_factory=Future)
    langs: list[str | None] = field(default_factory=list)


def count_durable(m: Metrics, batch: Batch, items: list[ScoredItem], new_items: list[ScoredItem]) -> None:
    """Metrics and dead-letter log lines of a batch that is stored, published and committed."""
    for topic, n in Counter(r.topic for r in batch.records).items():
        m.consumed.labels(topic).inc(n)
    for rej in batch.rejected:
        m.dead_lettered.labels(rej.reason).inc()
        log.info("record.dead_lettered", reason=rej.reason, topic=rej.record.topic,
                 partition=rej.record.partition, offset=rej.record.offset)
    m.processed.inc(len(new_items))
    # Redelivered = an id the store already held before this batch; the same id twice within one
    # poll (a publisher sending a row twice) is not a redelivery and is stored once silently.
    already_stored = len({it.id for it in items}) - len(new_items)
    if already_stored > 0:
        m.duplicates.inc(already_stored)
    for it in new_items:
        if it.label is None:
            m.unsupported_language.labels(metric_label(it.lang)).inc()
        else:
            m.items_by_label.labels(it.label, it.topic or "none").inc()
    m.batch_size.observe(len(batch.records))
    m.batch_latency.observe(time.perf_counter() - batch.t0)
