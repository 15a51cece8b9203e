"""``finsentry demo`` (what ``make run`` calls): embedded broker + consumer service + /metrics +
dashboard + replay of a bundled real news stream, in one command. Ctrl-C stops everything.

The replay shows its progress in the terminal (a tqdm bar on stderr: items sent and the event-time
date reached); alerts go to whatever targets the settings name (``FINSENTRY_ALERT_WEBHOOK_URLS``,
``FINSENTRY_ALERTMANAGER_URL``), listed in the banner.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from app.root import build, install_signal_handlers
from dashboard.cli import absolute_store_url
from finsentry.logs import configure, get_logger
from finsentry.redact import redact_url
from finsentry.settings import Settings
from ingest.broker import EmbeddedBroker
from ingest.kafka_io import Sink
from ingest.produce import BUNDLED, produce, read_rows, schedule

log = get_logger(__name__)

STREAMS = {"svb": "svb_2023.jsonl.gz", "covid": "covid_2020.jsonl.gz"}


def stream_path(name: str) -> Path:
    return BUNDLED / STREAMS[name] if name in STREAMS else Path(name)


@dataclass(frozen=True)
class ReplayPlan:
    """When the replay reaches which event time (pure, from ``ingest.produce.schedule``)."""

    first: str  # event time of the first and last rows (ISO text as in the file)
    last: str
    duration_s: float  # wall seconds from the first row sent to the last
    offsets: list[float]  # wall offset of each row

    @classmethod
    def of(cls, rows: Sequence[dict[str, Any]], speedup: float, max_gap_s: float) -> ReplayPlan:
        when = schedule(list(rows), speedup=speedup, max_gap_s=max_gap_s)
        times = [str(r.get("published_at") or "") for r in rows]
        dated = [t for t in times if t]
        return cls(first=min(dated, default="?"), last=max(dated, default="?"),
                   duration_s=when[-1] if when else 0.0, offsets=when)

    def reached_at(self, rows: Sequence[dict[str, Any]], event_time: str) -> float | None:
        """Wall offset (s) at which the replay first sends a row at or after ``event_time`` (ISO prefix)."""
        for row, at in zip(rows, self.offsets, strict=True):
            if str(row.get("published_at") or "") >= event_time:
                return at
        return None


class ReplayProgress:
    """A progress bar of the replay: items sent and the event-time date the stream has reached."""

    def __init__(self, rows: Sequence[dict[str, Any]], enabled: bool = True, file: TextIO | None = None) -> None:
        self._times = [str(r.get("published_at") or "")[:16].replace("T", " ") for r in rows]
        self.sent = 0
        self.bar = tqdm(total=len(rows), unit="item", desc="replay", file=file or sys.stderr, disable=not enabled,
                        mininterval=1.0, dynamic_ncols=True,
                        bar_format="{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} items [{elapsed}<{remaining}]")

    def wrap(self, send: Callable[[bytes, bytes | None], None]) -> Callable[[bytes, bytes | None], None]:
        """``send`` that also advances the bar (rows are sent in file order)."""

        def sent(value: bytes, key: bytes | None) -> None:
            send(value, key)
            self.sent += 1
            if self.sent <= len(self._times):
                self.bar.set_description_str(f"replay · event time {self._times[self.sent - 1]} UTC", refresh=False)
            self.bar.update(1)

        return sent

    def close(self) -> None:
        self.bar.close()


def alert_targets(settings: Settings) -> str:
    """Where alerts go, for the banner (credentials masked)."""
    hooks = [redact_url(u) for u in settings.alert_webhook_urls]
    signed = settings.alert_webhook_secret is not None or settings.alert_webhook_secrets is not None
    parts = [f"webhook {h}" + ("" if signed else " (unsigned)") for h in hooks]
    if settings.alertmanager_url:
        parts.append(f"Alertmanager {redact_url(settings.alertmanager_url)}")
    return ", ".join(parts) if parts else "none (set FINSENTRY_ALERT_WEBHOOK_URLS to attach a receiver)"


def _dashboard(settings: Settings, port: int) -> subprocess.Popen[bytes] | None:
    if importlib.util.find_spec("dashboard.app") is None:
        log.warning("demo.no_dashboard", note="dashboard package has no app yet; skipping")
        return None
    cmd = [sys.executable, "-m", "finsentry", "dashboard", "--store", settings.store_url, "--port", str(port)]
    return subprocess.Popen(cmd, env={**os.environ, "FINSENTRY_LOG_FORMAT": settings.log_format},
                            start_new_session=True)


def run_demo(settings: Settings, stream: str = "svb", speedup: float = 10_000.0, max_gap_s: float = 2.0,
             dashboard: bool = True, dashboard_port: int | None = None, progress: bool = True) -> int:
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

        plan = ReplayPlan.of(rows, speedup, max_gap_s)
        bar = ReplayProgress(rows, enabled=progress)

        def replay() -> None:
            try:
                n = produce(bar.wrap(lambda v, k: sink.send(topic, v, key=k)), rows, speedup=speedup,
                            max_gap_s=max_gap_s, stop=stop, progress=False, flush=sink.flush)
            finally:
                bar.close()
            if stop.is_set():
                log.info("demo.replay_stopped", sent=n, of=len(rows))
            else:
                log.info("demo.replay_done", sent=n, note="service keeps running; Ctrl-C to stop")

        producer = threading.Thread(target=replay, name="replay", daemon=True)
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
            f" (quiet gaps capped at {max_gap_s:g}s): event time {plan.first[:10]} → {plan.last[:10]}"
            f" in ≈ {plan.duration_s / 60:.1f} min",
            f"  alerts    : {alert_targets(settings)}",
            "  Ctrl-C stops everything.",
            "",
        ]
        print("\n".join(banner), flush=True)
        producer.start()  # after the banner, so the progress bar is drawn below it
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


__all__ = ["ReplayPlan", "ReplayProgress", "alert_targets", "run_demo", "stream_path"]
