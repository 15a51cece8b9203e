"""Run `finsentry run` as a real subprocess and observe it (logs, store, Kafka) from the test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from kafka import KafkaConsumer, TopicPartition

from ingest.contract import encode
from ingest.kafka_io import ConsumerConfig, Sink, Source

ROOT = Path(__file__).resolve().parents[2]


def wait_until(cond: Callable[[], object], timeout: float, what: str, every: float = 0.2) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class ServiceProc:
    """One `finsentry run` process with JSON logs captured to a file."""

    def __init__(self, tmp: Path, name: str, bootstrap: str, topic: str, group: str, store_url: str,
                 env: dict[str, str] | None = None, metrics_port: int = 0) -> None:
        self.log_path = tmp / f"{name}.log"
        self.args = [sys.executable, "-m", "finsentry", "run", "--bootstrap", bootstrap, "--topic", topic,
                     "--group", group, "--store", store_url, "--metrics-port", str(metrics_port)]
        self.env = {**os.environ, "FINSENTRY_LOG_FORMAT": "json", "FINSENTRY_SESSION_TIMEOUT_MS": "6000",
                    "FINSENTRY_DLQ_TOPIC": f"{topic}.dlq", "FINSENTRY_OUTPUT_TOPIC": f"{topic}.scored",
                    "FINSENTRY_BATCH_MAX_RECORDS": "128", **(env or {})}
        self.proc: subprocess.Popen | None = None

    def start(self) -> ServiceProc:
        self._fh = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(self.args, env=self.env, cwd=ROOT, stdout=self._fh, stderr=subprocess.STDOUT)
        return self

    def events(self) -> list[dict]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if isinstance(ev, dict):
                out.append(ev)
        return out

    def wait_event(self, name: str, timeout: float = 60, where: Callable[[dict], bool] = lambda e: True) -> dict:
        def find() -> dict | None:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"service exited rc={self.proc.returncode}:\n{self.tail()}")
            return next((e for e in reversed(self.events()) if e.get("event") == name and where(e)), None)

        return wait_until(find, timeout, f"log event {name}")  # type: ignore[return-value]

    def metric(self, name: str, port: int) -> float:
        """One sample of the service's /metrics (0 when absent)."""
        from urllib.request import urlopen

        from prometheus_client.parser import text_string_to_metric_families

        with urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        return sum(s.value for fam in text_string_to_metric_families(text) for s in fam.samples if s.name == name)

    def assigned(self) -> set[str]:
        evs = [e for e in self.events() if e.get("event") == "kafka.partitions_assigned"]
        return set(evs[-1]["partitions"]) if evs else set()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if hasattr(self, "_fh"):
            self._fh.close()

    def tail(self, n: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])


def produce(bootstrap: str, topic: str, values: list[bytes | dict | None], keyed: bool = True) -> None:
    sink = Sink(bootstrap, client_id="test-producer")
    for v in values:
        key = None
        if isinstance(v, dict):
            key = str(v.get("id")).encode() if keyed and v.get("id") is not None else None
            v = encode(v)
        elif v is None:
            key = b"tombstone"  # Kafka needs a key or a value
        sink.send(topic, v, key=key)
    sink.flush()
    sink.close()


def consume_all(bootstrap: str, topic: str, expect: int, timeout: float = 30) -> list:
    src = Source(ConsumerConfig(bootstrap, (topic,), f"reader-{time.monotonic_ns()}"))
    got: list = []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < expect and time.monotonic() < deadline:
            got += src.poll(300, 1000)
        end = time.monotonic() + 1.0  # and nothing more arrives
        while time.monotonic() < end:
            got += src.poll(200, 1000)
    finally:
        src.close()
    return got


def committed_total(bootstrap: str, group: str, topic: str, partitions: int = 4) -> int:
    """Sum of the group's committed offsets on ``topic`` (OffsetFetch; does not join the group)."""
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return sum(c.committed(TopicPartition(topic, p)) or 0 for p in range(partitions))
    finally:
        c.close(autocommit=False)


def count_items(store_url: str) -> int:
    eng = sa.create_engine(store_url)
    try:
        with eng.connect() as conn:
            try:
                return int(conn.execute(sa.text("select count(*) from items")).scalar())
            except sa.exc.SQLAlchemyError:
                return 0
    finally:
        eng.dispose()


def rows(store_url: str, sql: str) -> list:
    eng = sa.create_engine(store_url)
    try:
        with eng.connect() as conn:
            return list(conn.execute(sa.text(sql)).mappings())
    finally:
        eng.dispose()


def health(port: int) -> tuple[int, dict]:
    """HTTP status and JSON body of a service's ``/healthz`` (503 bodies included)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())
