"""``finsentry demo`` (what ``make run`` calls): embedded broker + consumer service + /metrics +
dashboard + replay of a bundled real news stream, in one command. Ctrl-C stops everything.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
from pathlib import Path

from app.root import build, install_signal_handlers
from dashboard.cli import absolute_store_url
from finsentry.logs import configure, get_logger
from finsentry.settings import Settings
from ingest.broker import EmbeddedBroker
from ingest.kafka_io import Sink
from ingest.produce import BUNDLED, produce, read_rows

log = get_logger(__name__)

STREAMS = {"svb": "svb_2023.jsonl.gz", "covid": "covid_2020.jsonl.gz"}


def stream_path(name: str) -> Path:
    return BUNDLED / STREAMS[name] if name in STREAMS else Path(name)


def _dashboard(settings: Settings, port: int) -> subprocess.Popen[bytes] | None:
    if importlib.util.find_spec("dashboard.app") is None:
        log.warning("demo.no_dashboard", note="dashboard package has no app yet; skipping")
        return None
    cmd = [sys.executable, "-m", "finsentry", "dashboard", "--store", settings.store_url, "--port", str(port)]
    return subprocess.Popen(cmd, env={**os.environ, "FINSENTRY_LOG_FORMAT": settings.log_format},
                            start_new_session=True)


def run_demo(settings: Settings, stream: str = "svb", speedup: float = 10_000.0, max_gap_s: float = 2.0,
             dashboard: bool = True, dashboard_port: int | None = None) -> int:
    configure(settings.log_level, settings.log_format)
    stop = threading.Event()
    install_signal_handlers(stop)
    path = stream_path(stream)
    rows = list(read_rows(path))
    broker = None
    if not settings.kafka_bootstrap:
        broker = EmbeddedBroker(port=settings.embedded_broker_port).start()
        settings = settings.model_copy(update={"kafka_bootstrap": broker.bootstrap})
    dash = None
    running = None
    try:
        running = build(settings, stop)
        service = threading.Thread(target=running.service.run, args=(stop,), name="consumer")
        service.start()
        dport = dashboard_port or settings.dashboard_port
        if dashboard:
            dash = _dashboard(settings, dport)
        sink = Sink(running.bootstrap, client_id="finsentry-demo-producer")
        topic = settings.topic[0]

        def replay() -> None:
            n = produce(lambda v, k: sink.send(topic, v, key=k), rows, speedup=speedup, max_gap_s=max_gap_s,
                        stop=stop, progress=False, flush=sink.flush)
            if stop.is_set():
                log.info("demo.replay_stopped", sent=n, of=len(rows))
            else:
                log.info("demo.replay_done", sent=n, note="service keeps running; Ctrl-C to stop")

        producer = threading.Thread(target=replay, name="replay", daemon=True)
        producer.start()
        metrics_url = running.metrics_server.url if running.metrics_server else "(disabled)"
        store_url = absolute_store_url(settings.store_url)
        cli = Path(sys.executable).with_name("finsentry")
        banner = [
            "",
            "finsentry demo is running",
            f"  dashboard : http://{settings.dashboard_host}:{dport}" + ("" if dash else " (not started)"),
            f"  metrics   : {metrics_url}",
            f"  store     : {store_url}",
            f"  CLI       : {cli} status --store '{store_url}'   (or: source {Path(sys.executable).parent}/activate)",
            f"  kafka     : {running.bootstrap}  topic '{topic}', dead letters '{settings.dlq_topic}'",
            f"  replay    : {path.name}, {len(rows)} items at {speedup:g}x real time"
            f" (quiet gaps capped at {max_gap_s:g}s)",
            "  Ctrl-C stops everything.",
            "",
        ]
        print("\n".join(banner), flush=True)
        while service.is_alive() and not stop.wait(0.5):
            pass
        stop.set()
        service.join(timeout=15)
        producer.join(timeout=5)
        sink.close()
    finally:
        stop.set()
        if dash is not None and dash.poll() is None:
            dash.terminate()
            try:
                dash.wait(timeout=10)
            except subprocess.TimeoutExpired:
                dash.kill()
        if running is not None:
            running.close()
        if broker is not None:
            broker.stop()
    log.info("demo.stopped")
    return 0


__all__ = ["run_demo", "stream_path"]
