"""Pure mapping between Kafka records, contract messages and scored items (no I/O).

- :func:`triage` splits a polled batch into valid messages and dead letters (with reasons);
- :func:`scored_item` joins a message with its prediction into a :class:`ScoredItem`;
- :func:`dlq_headers` / :func:`scored_payload` build what goes back to Kafka.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from finsentry.errors import InvalidMessage
from ingest.contract import NewsMessage, decode
from ingest.kafka_io import Headers, Record
from finsentry.records import ScoredItem


@dataclass(frozen=True, slots=True)
class Rejected:
    record: Record
    reason: str
    detail: str


def triage(records: Sequence[Record], max_chars: int) -> tuple[list[tuple[Record, NewsMessage]], list[Rejected]]:
    """Decode every record; never raises on a bad one."""
    valid: list[tuple[Record, NewsMessage]] = []
    rejected: list[Rejected] = []
    for rec in records:
        try:
            valid.append((rec, decode(rec.value, rec.timestamp_ms, max_chars)))
        except InvalidMessage as exc:
            rejected.append(Rejected(rec, exc.reason, exc.detail))
    return valid, rejected


def scored_item(rec: Record, msg: NewsMessage, lang: str | None, pred: Any, model_version: str | None,
                ingested_at: datetime) -> ScoredItem:
    """``pred`` is a ``model.Prediction`` or None (no model for the language: stored unscored)."""
    item = ScoredItem(
        id=msg.id, text=msg.text, published_at=msg.published_at, ingested_at=ingested_at,
        source=msg.source, url=msg.url, lang=lang, tickers=list(msg.tickers),
        kafka_topic=rec.topic, kafka_partition=rec.partition, kafka_offset=rec.offset,
    )
    if pred is not None:
        item.label = pred.label
        item.p_negative = float(pred.probs["negative"])
        item.p_neutral = float(pred.probs["neutral"])
        item.p_positive = float(pred.probs["positive"])
        item.score = float(pred.score)
        item.topics = [(str(n), float(p)) for n, p in pred.topics]
        item.model_version = model_version
    return item


def dlq_headers(rej: Rejected) -> Headers:
    """Original headers plus where the record came from and why it was rejected."""
    ours = [
        ("finsentry-reason", rej.reason.encode()),
        ("finsentry-detail", rej.detail.encode("utf-8", "replace")[:500]),
        ("finsentry-source-topic", rej.record.topic.encode()),
        ("finsentry-source-partition", str(rej.record.partition).encode()),
        ("finsentry-source-offset", str(rej.record.offset).encode()),
    ]
    return list(rej.record.headers) + ours


def scored_payload(it: ScoredItem) -> bytes:
    """The JSON published on the output topic for one scored item."""
    body = {
        "id": it.id, "text": it.text, "published_at": it.published_at.isoformat(),
        "ingested_at": it.ingested_at.isoformat(), "source": it.source, "url": it.url, "lang": it.lang,
        "label": it.label,
        "probs": None if it.label is None else
        {"negative": it.p_negative, "neutral": it.p_neutral, "positive": it.p_positive},
        "score": it.score, "topics": [[n, p] for n, p in it.topics], "tickers": list(it.tickers),
        "model_version": it.model_version, "duplicate_of": it.duplicate_of,
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def next_offsets(records: Sequence[Record]) -> dict[tuple[str, int], int]:
    """``{(topic, partition): last offset + 1}``: what to commit after ``records`` are done."""
    out: dict[tuple[str, int], int] = {}
    for r in records:
        key = (r.topic, r.partition)
        out[key] = max(out.get(key, 0), r.offset + 1)
    return out


def first_offsets(records: Sequence[Record]) -> dict[tuple[str, int], int]:
    """``{(topic, partition): first offset}``: where to seek back to re-read ``records``."""
    out: dict[tuple[str, int], int] = {}
    for r in records:
        key = (r.topic, r.partition)
        out[key] = min(out.get(key, r.offset), r.offset)
    return out
