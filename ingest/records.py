"""Pure mapping between Kafka records, contract messages and scored items (no I/O).

- :func:`triage` splits a polled batch into valid messages and dead letters (with reasons); it
  never raises, whatever the key, value, headers or timestamp of a record;
- :func:`scored_item` joins a message with its prediction into a :class:`ScoredItem`;
- :func:`dlq_headers` / :func:`dlq_record` / :func:`scored_payload` build what goes back to Kafka
  (always sendable by kafka-python: str header names, bytes header values, a key or a value);
  :func:`dlq_stub` is the cut-down copy of last resort (see ``ingest.publish``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, cast

from finsentry.errors import InvalidMessage
from finsentry.records import Label, ScoredItem
from ingest.contract import REASONS, NewsMessage, decode
from ingest.kafka_io import Headers, Record

# Every reason a dead letter from triage can carry: the contract's, a record the Kafka client could
# not read whole (``bad_header``: a header key not UTF-8, see ingest.kafka_headers; ``corrupt_record``:
# skipped after repeated parse failures, see kafka_io.Source), plus a last line of defence.
TRIAGE_REASONS = REASONS | {"bad_header", "corrupt_record", "internal_error"}
# Dead letters the loop adds after triage: an item the store refused; a valid item whose scored copy
# the output topic kept refusing (the item is stored; only its copy on the output topic is missing).
LOOP_REASONS = frozenset({"store_rejected", "publish_rejected"})
# A dead letter that could not be published whole goes out cut down to this (value, key), headers ours only.
DLQ_STUB_BYTES = 65_536
# Key + value + headers of a dead letter stay below kafka-python's max_request_size (1 MiB).
DLQ_MAX_BYTES = 1_000_000


class PredictionLike(Protocol):
    """What :func:`scored_item` reads of a ``model.Prediction`` (ingest does not import the model)."""

    @property
    def label(self) -> str: ...

    @property
    def probs(self) -> Mapping[str, float]: ...

    @property
    def score(self) -> float: ...

    @property
    def topics(self) -> Sequence[tuple[str, float]]: ...


@dataclass(frozen=True, slots=True)
class Rejected:
    record: Record
    reason: str
    detail: str


def _describe(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"[:300]
    except Exception:  # noqa: BLE001 - an exception whose str() fails
        return type(exc).__name__


def triage(records: Sequence[Record], max_chars: int) -> tuple[list[tuple[Record, NewsMessage]], list[Rejected]]:
    """Decode every record; never raises on a bad one (an unexpected error -> ``internal_error``)."""
    valid: list[tuple[Record, NewsMessage]] = []
    rejected: list[Rejected] = []
    for rec in records:
        if rec.read_error:
            rejected.append(Rejected(rec, *rec.read_error))
            continue
        try:
            valid.append((rec, decode(rec.value, rec.timestamp_ms, max_chars)))
        except InvalidMessage as exc:
            rejected.append(Rejected(rec, exc.reason, exc.detail))
        except Exception as exc:  # noqa: BLE001 - one record must never stop the loop
            rejected.append(Rejected(rec, "internal_error", _describe(exc)))
    return valid, rejected


def scored_item(rec: Record, msg: NewsMessage, lang: str | None, pred: PredictionLike | None,
                model_version: str | None, ingested_at: datetime) -> ScoredItem:
    """``pred`` is a ``model.Prediction`` or None (no model for the language: stored unscored)."""
    item = ScoredItem(
        id=msg.id, text=msg.text, published_at=msg.published_at, ingested_at=ingested_at,
        source=msg.source, url=msg.url, lang=lang, tickers=list(msg.tickers),
        kafka_topic=rec.topic, kafka_partition=rec.partition, kafka_offset=rec.offset,
    )
    if pred is not None:
        item.label = cast(Label, pred.label)  # the model's labels are the Label values
        item.p_negative = float(pred.probs["negative"])
        item.p_neutral = float(pred.probs["neutral"])
        item.p_positive = float(pred.probs["positive"])
        item.score = float(pred.score)
        item.topics = [(str(n), float(p)) for n, p in pred.topics]
        item.model_version = model_version
    return item


def _text(v: object) -> str:
    """Any header name as a str that encodes to UTF-8 (bytes decoded leniently, surrogates replaced)."""
    s = bytes(v).decode("utf-8", "replace") if isinstance(v, bytes | bytearray | memoryview) else str(v)
    return s.encode("utf-8", "replace").decode("utf-8")


def _bytes(v: object) -> bytes:
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v)
    return b"" if v is None else str(v).encode("utf-8", "replace")


def original_headers(headers: object) -> Headers:
    """The record's headers as ``(str, bytes)`` pairs kafka-python can send; malformed entries dropped."""
    out: Headers = []
    if isinstance(headers, list | tuple):
        for h in headers:
            if isinstance(h, tuple | list) and len(h) == 2:
                out.append((_text(h[0]), _bytes(h[1])))
    return out


def dlq_headers(rej: Rejected) -> Headers:
    """Original headers plus where the record came from and why it was rejected."""
    ours = [
        ("finsentry-reason", _bytes(rej.reason)),
        ("finsentry-detail", _bytes(rej.detail)[:500]),
        ("finsentry-source-topic", _bytes(rej.record.topic)),
        ("finsentry-source-partition", _bytes(rej.record.partition)),
        ("finsentry-source-offset", _bytes(rej.record.offset)),
    ]
    return original_headers(rej.record.headers) + ours


def dlq_record(rej: Rejected, max_bytes: int = DLQ_MAX_BYTES) -> tuple[bytes | None, bytes | None, Headers]:
    """Key, value and headers to publish for ``rej``: always accepted by ``KafkaProducer.send``.

    A tombstone without a key (neither key nor value: kafka-python refuses it) gets the key ``b""``
    and the header ``finsentry-null-key``. Over ``max_bytes`` in all, the value, then the key, are
    cut (header ``finsentry-truncated`` = original sizes) and then the original headers dropped,
    so that an oversized poison record cannot fail the publish and block its partition forever.
    """
    key = None if rej.record.key is None else _bytes(rej.record.key)
    value = None if rej.record.value is None else _bytes(rej.record.value)
    headers = dlq_headers(rej)
    if key is None and value is None:
        key = b""
        headers.append(("finsentry-null-key", b"1"))

    def size() -> int:
        return len(key or b"") + len(value or b"") + sum(len(k.encode()) + len(v) for k, v in headers)

    if size() > max_bytes:
        sizes = f"key={len(key or b'')} value={len(value or b'')}".encode()
        headers.append(("finsentry-truncated", sizes))
        if value is not None:
            value = value[: max(0, len(value) - (size() - max_bytes))]
        if key is not None and size() > max_bytes:
            key = key[: max(0, len(key) - (size() - max_bytes))]
        if size() > max_bytes:
            headers = [h for h in headers if h[0].startswith("finsentry-")]
    return key, value, headers


def dlq_stub(rej: Rejected, error: str, max_bytes: int = DLQ_STUB_BYTES) -> tuple[bytes | None, bytes | None, Headers]:
    """The last resort before the quarantine file: the record's first ``max_bytes`` (value, then key)
    with our headers only, plus ``finsentry-publish-error`` (why the whole copy was refused)."""
    key, value, headers = dlq_record(rej, max_bytes)
    ours = [h for h in headers if h[0].startswith("finsentry-")]
    return key, value, [*ours, ("finsentry-publish-error", _bytes(error)[:500])]


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
