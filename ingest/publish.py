"""What a stored batch sends back to Kafka (dead letters, scored copies), with bounded retries.

Two kinds of failure, told apart at the Kafka seam (``ingest.kafka_io.RECORD_ERRORS``):

- **broker-side** (down, not leader, timeouts): :class:`~finsentry.errors.BrokerError` propagates;
  the loop rewinds the batch and retries it with backoff, without limit: that is an outage, and
  nothing is committed meanwhile;
- **record-side** (too large, refused by the broker, not serialisable): the record is sent again
  alone, up to ``max_attempts`` sends in all, then isolated so its partition moves on:

    dead letter refused    -> a cut-down copy (``dlq_stub``: 64 KiB, our headers, the error)
                           -> else the local quarantine file (fsync'd before the offset commit)
    scored copy refused    -> dropped from the output topic (the item is stored); a dead letter
                              ``publish_rejected`` with the source record says so -> stub -> quarantine

No record is retried for ever: the worst case per record is ``max_attempts`` + 2 sends and one
fsync'd line. ``finsentry_publish_rejected_records_total{kind}`` and
``finsentry_quarantined_records_total`` count what was isolated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from finsentry.logs import get_logger
from finsentry.metrics import Metrics
from finsentry.records import ScoredItem
from ingest.kafka_io import Headers, Record, Sink
from ingest.quarantine import Quarantine
from ingest.records import DLQ_MAX_BYTES, Rejected, dlq_record, dlq_stub, scored_payload

log = get_logger(__name__)
Kind = Literal["dlq", "scored"]


@dataclass(frozen=True, slots=True)
class PublishConfig:
    dlq_topic: str = "news.dlq"
    output_topic: str = ""  # '' = scored items are not published
    max_attempts: int = 3  # sends of one record refused for its own sake, then it is isolated
    retry_wait_s: float = 0.05  # before each re-send of a refused record (x attempt)
    dlq_max_bytes: int = DLQ_MAX_BYTES  # a dead letter is cut to this (below the producer's limit)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One record to send, and the dead letter it stands for (or that reports it, for a scored copy)."""

    kind: Kind
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers
    letter: Rejected


def dlq_budget(max_request_bytes: int) -> int:
    """Bytes a dead letter may carry under the producer's ``max_request_size`` (room for framing)."""
    return max(1024, min(DLQ_MAX_BYTES, max_request_bytes - 48_576))


class Publisher:
    """Sends one batch's dead letters and scored copies; see the module docstring for the policy."""

    def __init__(self, cfg: PublishConfig, metrics: Metrics, quarantine: Quarantine,
                 wait: Callable[[float], object]) -> None:
        self.cfg, self.metrics, self.quarantine, self.wait = cfg, metrics, quarantine, wait

    def publish(self, sink: Sink, rejected: list[Rejected], scored: list[tuple[Record, ScoredItem]]) -> None:
        """Send, flush, retry refused records alone, isolate what still fails. Raises BrokerError
        (outage: the caller rewinds) or QuarantineError (the file cannot be written: likewise)."""
        out: list[Outgoing] = []
        failed: list[tuple[Outgoing, str]] = []
        for rej in rejected:
            key, value, headers = dlq_record(rej, self.cfg.dlq_max_bytes)
            out.append(Outgoing("dlq", self.cfg.dlq_topic, key, value, headers, rej))
        if self.cfg.output_topic:
            for rec, it in scored:
                note = Rejected(rec, "publish_rejected", f"scored copy of {it.id[:128]!r} refused by "
                                                         f"{self.cfg.output_topic}")
                try:
                    payload = scored_payload(it)
                except Exception as exc:  # noqa: BLE001 - a copy that cannot be serialised is refused
                    failed.append((Outgoing("scored", self.cfg.output_topic, None, None, [], note),
                                   f"{type(exc).__name__}: {exc}"[:300]))
                    continue
                out.append(Outgoing("scored", self.cfg.output_topic, it.id.encode(), payload, [], note))
        refused = self._send(sink, out)
        for attempt in range(2, self.cfg.max_attempts + 1):
            if not refused:
                break
            self.wait(self.cfg.retry_wait_s * (attempt - 1))
            refused = [f for o, _ in refused for f in self._send(sink, [o])]  # alone: no collateral
        for o, error in failed + refused:
            self._isolate(sink, o, error)

    def _send(self, sink: Sink, out: list[Outgoing]) -> list[tuple[Outgoing, str]]:
        for o in out:
            sink.send(o.topic, o.value, key=o.key, headers=o.headers)
        failures = sink.flush() or []  # the in-memory twin returns None
        return [(out[f.index], f.error) for f in failures]

    def _isolate(self, sink: Sink, o: Outgoing, error: str) -> None:
        rec, letter = o.letter.record, o.letter
        self.metrics.publish_rejected.labels(o.kind).inc()
        log.warning("kafka.record_refused", kind=o.kind, topic=o.topic, source_topic=rec.topic,
                    partition=rec.partition, offset=rec.offset, error=error,
                    action="dead letter for the scored copy" if o.kind == "scored" else "cut-down dead letter")
        if o.kind == "scored":
            letter = Rejected(rec, letter.reason, f"{letter.detail}: {error}"[:300])
            key, value, headers = dlq_record(letter, self.cfg.dlq_max_bytes)
            if not self._send(sink, [Outgoing("dlq", self.cfg.dlq_topic, key, value, headers, letter)]):
                self._count(letter)
                return
        key, value, headers = dlq_stub(letter, error)
        if not self._send(sink, [Outgoing("dlq", self.cfg.dlq_topic, key, value, headers, letter)]):
            self._count(letter)
            return
        self.quarantine.put(rec, letter.reason, letter.detail, error)
        self.metrics.quarantined.inc()
        log.error("record.quarantined", path=str(self.quarantine.path), reason=letter.reason,
                  topic=rec.topic, partition=rec.partition, offset=rec.offset, error=error)

    def _count(self, letter: Rejected) -> None:
        """A dead letter the loop added here (triage's are counted with the batch)."""
        if letter.reason == "publish_rejected":
            self.metrics.dead_lettered.labels(letter.reason).inc()
