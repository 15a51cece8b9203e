"""The one seam to the Kafka client (kafka-python). Nothing else in finsentry imports ``kafka``
(but ``ingest.kafka_headers``, this seam's lenient record parser).

Swapping in a librdkafka-based client means re-implementing this module only: ``Source``
(consumer group, batches, explicit commits, pause/seek, high watermarks) and ``Sink``
(producer with headers, flush).

Produce errors are told apart at this edge: :data:`RECORD_ERRORS` (the record is at fault: too
large, refused by the broker, not serialisable) come back from :meth:`Sink.flush` as
:class:`SendFailure` values, one per record; anything else (broker down, not leader, timeouts)
raises :class:`~finsentry.errors.BrokerError` for the whole flush: an outage, retried by the loop.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.consumer.fetcher import ConsumerRecord
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import (
    CorruptRecordError,
    InvalidRecordError,
    InvalidTimestampError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    TopicAlreadyExistsError,
    UnsupportedForMessageFormatError,
)
from kafka.producer.future import FutureRecordMetadata
from kafka.structs import OffsetAndMetadata

from finsentry.errors import BrokerError
from finsentry.logs import get_logger
from ingest import kafka_headers

log = get_logger(__name__)


def _quiet_client_logs() -> None:
    """kafka-python logs every reconnect attempt (with tracebacks) while a broker is down; the
    service reports each state change once itself, so the library's chatter is muted (called at
    client creation, after logging was configured)."""
    logging.getLogger("kafka").setLevel(logging.CRITICAL)

Headers = list[tuple[str, bytes]]
FETCH_MAX_WAIT_MS = 25
MAX_REQUEST_BYTES = 1_048_576  # kafka-python's default max_request_size
CORRUPT_READS = 3  # reads of a record the client cannot parse before it is skipped as corrupt_record
# The record, not the broker, is at fault: retrying the same bytes cannot help.
RECORD_ERRORS: tuple[type[Exception], ...] = (
    MessageSizeTooLargeError, RecordListTooLargeError, CorruptRecordError, InvalidRecordError,
    InvalidTimestampError, UnsupportedForMessageFormatError,
    ValueError, TypeError,  # kafka-python's own checks at send(): no key nor value, bad header types
)


@dataclass(frozen=True, slots=True)
class Record:
    """One consumed Kafka record, client-independent."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp_ms: int | None
    # (reason, detail) when the client could not read it whole: a header key that is not UTF-8
    # (``bad_header``, see ingest.kafka_headers) or a record skipped as corrupt (``corrupt_record``).
    read_error: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class SendFailure:
    """A record the producer or the broker refused: ``index`` counts sends since the last flush."""

    index: int
    error: str


@dataclass(frozen=True, slots=True)
class ConsumerConfig:
    bootstrap: str
    topics: tuple[str, ...]
    group: str
    auto_offset_reset: str = "earliest"
    session_timeout_ms: int = 6000
    max_poll_records: int = 256
    # Tansu answers a fetch only when its max wait expires: kafka-python's default of 500 ms put
    # p50/p99 delivery at 130/251 ms at 20 msg/s; 100 ms gave 34/50 ms (measured here). 25 ms
    # costs ~40 small fetches/s when idle on loopback and keeps it out of the latency budget.
    fetch_max_wait_ms: int = FETCH_MAX_WAIT_MS
    client_id: str = "finsentry"


def _translate(exc: Exception, what: str) -> BrokerError:
    return BrokerError(f"{what}: {type(exc).__name__}: {exc}")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def _record(m: ConsumerRecord) -> Record:
    """A kafka-python ConsumerRecord as a :class:`Record`; raw non-UTF-8 header keys flagged."""
    headers: Headers = []
    bad: list[bytes] = []
    for k, v in m.headers or []:
        if isinstance(k, kafka_headers.RawHeaderKey):
            bad.append(k.raw)
        headers.append((str(k), v if isinstance(v, bytes) else bytes(v or b"")))
    ts = m.timestamp if isinstance(m.timestamp, int) and m.timestamp >= 0 else None
    error = ("bad_header", f"header key not UTF-8: {', '.join(repr(b[:64]) for b in bad)}"[:300]) if bad else None
    return Record(m.topic, m.partition, m.offset, m.key, m.value, headers, ts, error)


def check_reachable(bootstrap: str, timeout_s: float = 2.0) -> None:
    """Raise BrokerError unless some bootstrap server accepts a TCP connection.

    kafka-python's clients block silently while no broker answers; this makes the outage visible
    (and lets the caller log it once and back off).
    """
    errors = []
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout_s):
                return
        except (OSError, ValueError) as exc:
            errors.append(f"{server.strip()}: {exc}")
    raise BrokerError(f"no Kafka broker reachable ({'; '.join(errors)})")


def ensure_topics(bootstrap: str, topics: Iterable[str], partitions: int = 4, timeout_s: float = 15.0) -> None:
    """Create ``topics`` if missing (the embedded broker never auto-creates them)."""
    wanted = [t for t in dict.fromkeys(topics) if t]
    if not wanted:
        return
    _quiet_client_logs()
    check_reachable(bootstrap)
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="finsentry-admin",
                                 request_timeout_ms=int(timeout_s * 1000))
    except (KafkaError, OSError) as exc:
        raise _translate(exc, f"cannot reach Kafka at {bootstrap}") from exc
    try:
        existing = set(admin.list_topics())
        missing = [t for t in wanted if t not in existing]
        if missing:
            try:
                admin.create_topics([NewTopic(t, partitions, 1) for t in missing])
            except TopicAlreadyExistsError:
                pass
            log.info("kafka.topics_created", topics=missing, partitions=partitions)
        deadline = time.monotonic() + timeout_s
        while missing and time.monotonic() < deadline:  # wait until metadata shows them
            if set(missing) <= set(admin.list_topics()):
                break
            time.sleep(0.1)
    except KafkaError as exc:
        raise _translate(exc, "cannot create topics") from exc
    finally:
        admin.close()


# kafka-python ships no types, and subscribe() insists on an instance of its ABC.
class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # base class is untyped (Any)
    def __init__(self, on_revoked: Callable[[set[tuple[str, int]]], None],
                 on_assigned: Callable[[set[tuple[str, int]]], None]) -> None:
        self._revoked, self._assigned = on_revoked, on_assigned

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self._revoked({(tp.topic, tp.partition) for tp in revoked})

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self._assigned({(tp.topic, tp.partition) for tp in assigned})


class Source:
    """A consumer-group member with manual commits. Call :meth:`close` to leave the group fast."""

    def __init__(self, cfg: ConsumerConfig,
                 on_revoked: Callable[[set[tuple[str, int]]], None] = lambda tps: None,
                 on_assigned: Callable[[set[tuple[str, int]]], None] = lambda tps: None) -> None:
        from kafka.coordinator.assignors.range import RangePartitionAssignor

        _quiet_client_logs()
        kafka_headers.install()  # a non-UTF-8 header key must not make poll() raise for ever
        self.cfg = cfg
        self._corrupt: dict[tuple[str, int, int], int] = {}  # failed reads per (topic, partition, offset)
        try:
            self._c = KafkaConsumer(
                bootstrap_servers=cfg.bootstrap,
                group_id=cfg.group,
                client_id=cfg.client_id,
                enable_auto_commit=False,
                auto_offset_reset=cfg.auto_offset_reset,
                session_timeout_ms=cfg.session_timeout_ms,
                heartbeat_interval_ms=max(500, cfg.session_timeout_ms // 6),
                max_poll_records=cfg.max_poll_records,
                fetch_max_wait_ms=cfg.fetch_max_wait_ms,
                partition_assignment_strategy=[RangePartitionAssignor],
                reconnect_backoff_max_ms=2000,
            )
            self._c.subscribe(list(cfg.topics), listener=_Listener(on_revoked, on_assigned))
        except (KafkaError, OSError) as exc:
            raise _translate(exc, f"cannot create consumer on {cfg.bootstrap}") from exc

    def poll(self, timeout_ms: int, max_records: int) -> list[Record]:
        try:
            polled = self._c.poll(timeout_ms=timeout_ms, max_records=max_records)
        except CorruptRecordError as exc:
            return self._corrupt_record(exc)
        except KafkaError as exc:
            raise _translate(exc, "poll failed") from exc
        return [_record(m) for msgs in polled.values() for m in msgs]

    def _corrupt_record(self, exc: CorruptRecordError) -> list[Record]:
        """A record the client cannot parse. kafka-python then spins for ever inside the next poll
        (measured: 100% CPU in ``fetched_records``); so drop its parsed fetch, re-read the record
        up to :data:`CORRUPT_READS` times (a damaged fetch may read fine again), then skip it as a
        ``corrupt_record`` dead letter (without its bytes: the client could not read them)."""
        try:  # kafka-python exposes no public handle on the failed fetch: these internals are the only one
            part = self._c._fetcher._next_partition_records  # noqa: SLF001
            tp, offset = part.topic_partition, int(part.next_fetch_offset)
            part.drain()
        except Exception as inner:  # noqa: BLE001 - another client version: report as before
            raise _translate(exc, "poll failed (corrupt record, partition unknown)") from inner
        where = (tp.topic, tp.partition, offset)
        self._corrupt[where] = n = self._corrupt.get(where, 0) + 1
        log.warning("kafka.corrupt_record", topic=tp.topic, partition=tp.partition, offset=offset, read=n,
                    error=_describe(exc), action="re-reading" if n < CORRUPT_READS else "skipping: dead letter")
        if n < CORRUPT_READS:
            self._c.seek(tp, offset)
            return []
        del self._corrupt[where]
        self._c.seek(tp, offset + 1)
        return [Record(tp.topic, tp.partition, offset, None, None, [], None, ("corrupt_record", _describe(exc)))]

    def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        """Commit ``{(topic, partition): next_offset}`` synchronously."""
        if not offsets:
            return
        try:
            self._c.commit({TopicPartition(t, p): OffsetAndMetadata(o, "", -1) for (t, p), o in offsets.items()})
        except KafkaError as exc:
            raise _translate(exc, "commit failed") from exc

    def seek(self, partition: tuple[str, int], offset: int) -> None:
        tp = TopicPartition(*partition)
        if tp in self._c.assignment():
            self._c.seek(tp, offset)

    def connected(self) -> bool:
        """False while the group coordinator is unknown (the broker went away)."""
        try:
            # kafka-python exposes no public coordinator state; this internal is the only signal.
            return not self._c._coordinator.coordinator_unknown()  # noqa: SLF001 - third-party internal
        except Exception:  # noqa: BLE001 - a client without this internal: assume connected
            return True

    def assignment(self) -> set[tuple[str, int]]:
        return {(tp.topic, tp.partition) for tp in self._c.assignment()}

    def committed(self, partition: tuple[str, int]) -> int | None:
        try:
            offset: int | None = self._c.committed(TopicPartition(*partition))
            return offset
        except KafkaError as exc:
            raise _translate(exc, "committed() failed") from exc

    def lag(self) -> dict[tuple[str, int], int]:
        """Records behind the fetch high watermark per assigned partition (not ListOffsets)."""
        out = {}
        for tp in self._c.assignment():
            hw = self._c.highwater(tp)
            if hw is None:
                continue
            try:
                pos = self._c.position(tp, timeout_ms=0)
            except KafkaError:
                continue
            if pos is None:
                continue
            out[(tp.topic, tp.partition)] = max(0, hw - pos)
        return out

    def close(self) -> None:
        """Leave the group (LeaveGroup) so the partitions move at once; no auto-commit."""
        try:
            self._c.close(autocommit=False)
        except Exception as exc:  # noqa: BLE001 - best effort on shutdown
            log.warning("kafka.close_failed", error=str(exc))


class Sink:
    """A producer for scored items and dead letters; :meth:`flush` before committing offsets."""

    def __init__(self, bootstrap: str, client_id: str = "finsentry", linger_ms: int = 5,
                 max_request_bytes: int = MAX_REQUEST_BYTES) -> None:
        _quiet_client_logs()
        self.max_request_bytes = max_request_bytes
        try:
            self._p = KafkaProducer(bootstrap_servers=bootstrap, client_id=client_id, acks="all",
                                    linger_ms=linger_ms, retries=5, reconnect_backoff_max_ms=2000,
                                    max_request_size=max_request_bytes)
        except (KafkaError, OSError) as exc:
            raise _translate(exc, f"cannot create producer on {bootstrap}") from exc
        self._futures: list[tuple[int, FutureRecordMetadata]] = []
        self._failures: list[SendFailure] = []
        self._sends = 0

    def send(self, topic: str, value: bytes | None, key: bytes | None = None,
             headers: Headers | None = None, timestamp_ms: int | None = None) -> None:
        """Queue one record; a record-side refusal is reported by the next :meth:`flush`."""
        index, self._sends = self._sends, self._sends + 1
        try:
            self._futures.append((index, self._p.send(topic, value=value, key=key, headers=headers or [],
                                                      timestamp_ms=timestamp_ms)))
        except RECORD_ERRORS as exc:
            self._failures.append(SendFailure(index, _describe(exc)))
        except KafkaError as exc:
            raise _translate(exc, f"send to {topic} failed") from exc

    def flush(self, timeout_s: float = 30.0) -> list[SendFailure]:
        """Wait until every record sent so far is acknowledged; return the records refused for
        their own sake (:data:`RECORD_ERRORS`); raise BrokerError on anything else (an outage)."""
        futures, self._futures = self._futures, []
        failures, self._failures = self._failures, []
        self._sends = 0
        try:
            self._p.flush(timeout=timeout_s)
            for index, f in futures:
                try:
                    f.get(timeout=timeout_s)
                except RECORD_ERRORS as exc:
                    failures.append(SendFailure(index, _describe(exc)))
        except KafkaError as exc:
            raise _translate(exc, "produce failed") from exc
        return sorted(failures, key=lambda f: f.index)

    def close(self) -> None:
        try:
            self._p.close(timeout=5)
        except Exception as exc:  # noqa: BLE001
            log.warning("kafka.producer_close_failed", error=str(exc))
