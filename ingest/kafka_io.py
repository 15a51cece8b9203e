"""The one seam to the Kafka client (kafka-python). Nothing else in finsentry imports ``kafka``.

Swapping in a librdkafka-based client means re-implementing this module only: ``Source``
(consumer group, batches, explicit commits, pause/seek, high watermarks) and ``Sink``
(producer with headers, flush).
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.producer.future import FutureRecordMetadata
from kafka.structs import OffsetAndMetadata

from finsentry.errors import BrokerError
from finsentry.logs import get_logger

log = get_logger(__name__)


def _quiet_client_logs() -> None:
    """kafka-python logs every reconnect attempt (with tracebacks) while a broker is down; the
    service reports each state change once itself, so the library's chatter is muted (called at
    client creation, after logging was configured)."""
    logging.getLogger("kafka").setLevel(logging.CRITICAL)

Headers = list[tuple[str, bytes]]
FETCH_MAX_WAIT_MS = 25


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
        self.cfg = cfg
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
        except KafkaError as exc:
            raise _translate(exc, "poll failed") from exc
        out: list[Record] = []
        for msgs in polled.values():
            for m in msgs:
                headers = [(k, v if isinstance(v, bytes) else bytes(v or b"")) for k, v in (m.headers or [])]
                ts = m.timestamp if m.timestamp is not None and m.timestamp >= 0 else None
                out.append(Record(m.topic, m.partition, m.offset, m.key, m.value, headers, ts))
        return out

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

    def __init__(self, bootstrap: str, client_id: str = "finsentry", linger_ms: int = 5) -> None:
        _quiet_client_logs()
        try:
            self._p = KafkaProducer(bootstrap_servers=bootstrap, client_id=client_id, acks="all",
                                    linger_ms=linger_ms, retries=5, reconnect_backoff_max_ms=2000)
        except (KafkaError, OSError) as exc:
            raise _translate(exc, f"cannot create producer on {bootstrap}") from exc
        self._futures: list[FutureRecordMetadata] = []

    def send(self, topic: str, value: bytes | None, key: bytes | None = None,
             headers: Headers | None = None, timestamp_ms: int | None = None) -> None:
        try:
            self._futures.append(self._p.send(topic, value=value, key=key, headers=headers or [],
                                              timestamp_ms=timestamp_ms))
        except KafkaError as exc:
            raise _translate(exc, f"send to {topic} failed") from exc

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until every record sent so far is acknowledged; raise BrokerError if any failed."""
        futures, self._futures = self._futures, []
        try:
            self._p.flush(timeout=timeout_s)
            for f in futures:
                f.get(timeout=timeout_s)
        except KafkaError as exc:
            raise _translate(exc, "produce failed") from exc

    def close(self) -> None:
        try:
            self._p.close(timeout=5)
        except Exception as exc:  # noqa: BLE001
            log.warning("kafka.producer_close_failed", error=str(exc))
