"""In-memory twins of the Kafka seam (``Source``/``Sink``) for fast tests of the loop's decisions."""

from __future__ import annotations

from finsentry.errors import BrokerError
from ingest.kafka_io import Record


class MemorySource:
    """One topic's partitions in memory, with positions, seeks and commits like a group member."""

    def __init__(self, records: list[Record]) -> None:
        self.parts: dict[tuple[str, int], list[Record]] = {}
        for r in records:
            self.parts.setdefault((r.topic, r.partition), []).append(r)
        self.position = {tp: 0 for tp in self.parts}
        self.commits: list[dict[tuple[str, int], int]] = []
        self.closed = False

    def poll(self, timeout_ms: int, max_records: int) -> list[Record]:
        out: list[Record] = []
        for tp, recs in self.parts.items():
            take = recs[self.position[tp]: self.position[tp] + max_records - len(out)]
            out += take
            self.position[tp] += len(take)
        return out

    def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        self.commits.append(dict(offsets))

    def committed(self) -> dict[tuple[str, int], int]:
        out: dict[tuple[str, int], int] = {}
        for c in self.commits:
            out.update(c)
        return out

    def seek(self, tp: tuple[str, int], offset: int) -> None:
        self.position[tp] = offset

    def assignment(self) -> set[tuple[str, int]]:
        return set(self.parts)

    def lag(self) -> dict[tuple[str, int], int]:
        return {tp: len(r) - self.position[tp] for tp, r in self.parts.items()}

    def connected(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True


class MemorySink:
    """Collects sends; ``fail_flushes`` makes the next N flushes fail like a lost broker."""

    def __init__(self, fail_flushes: int = 0) -> None:
        self.pending: list[tuple[str, bytes | None]] = []
        self.sent: list[tuple[str, bytes | None]] = []
        self.fail_flushes = fail_flushes
        self.closed = False

    def send(self, topic, value, key=None, headers=None, timestamp_ms=None) -> None:  # noqa: ANN001
        self.pending.append((topic, value))

    def flush(self, timeout_s: float = 30.0) -> None:
        if self.fail_flushes:
            self.fail_flushes -= 1
            self.pending.clear()
            raise BrokerError("produce failed: simulated")
        self.sent += self.pending
        self.pending.clear()

    def close(self) -> None:
        self.closed = True
