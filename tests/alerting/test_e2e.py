"""Full end to end with real components: Kafka (Tansu) -> `finsentry run` (shipped model, store,
monitor, /metrics) -> Prometheus (shipped rules) -> Alertmanager -> the test's webhook receiver;
and the service's own signed direct webhook for the same spike.

The stream: seven calm hours of distinct, mostly neutral headlines (the detector's baseline),
then one minute with a burst of distinct, clearly negative headlines, then a few calm items a
minute later so that the burst's bucket closes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.alerting import verify
from tests.alerting.receiver import Receiver, free_port
from tests.alerting.servers import (
    needs_alertmanager,
    needs_prometheus,
    start_alertmanager,
    start_prometheus,
)

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "monitor" / "rules" / "finsentry.rules.yml"
SHIPPED = ROOT / "model" / "shipped"
SECRET = "e2e-secret"

COMPANIES = [
    "Acme Robotics", "Globex Shipping", "Initech Software", "Umbrella Pharma", "Stark Industries",
    "Wayne Logistics", "Hooli Cloud", "Soylent Foods", "Cyberdyne Systems", "Tyrell Biotech",
    "Vandelay Imports", "Wonka Confections", "Oscorp Materials", "Gringotts Bank", "Monarch Airlines",
    "Pied Piper Media", "Duff Brewing", "Nakatomi Trading", "Aperture Labs", "Massive Dynamic",
    "Blue Sun Energy", "Virtucon Mining", "Sterling Cooper Ads", "Dunder Paper", "Prestige Worldwide",
    "Rekall Travel", "Weyland Freight", "Zorg Telecom", "Omni Consumer", "Black Mesa Research",
    "Krusty Restaurants", "Bluth Homes", "Vehement Capital", "Ewing Oil", "Spacely Sprockets",
]
NEGATIVE = [
    "{c} shares plunge {n}% after the company discloses massive accounting fraud",
    "{c} files for bankruptcy protection as losses deepen and lenders pull credit lines",
    "{c} stock crashes {n}% after regulators open a criminal probe into its executives",
    "{c} collapses as depositors flee; the firm warns it may not survive the quarter",
    "{c} slashes its outlook, cuts {n}00 jobs and suspends the dividend after heavy losses",
    "{c} defaults on its bonds and its credit rating is cut to junk",
    "Investors dump {c} after a disastrous quarter with revenue down {n}%",
]
CALM = [
    "{c} will hold its annual general meeting on May {n}",
    "{c} appoints a new chief financial officer effective next month",
    "{c} opens a regional office in Denver with {n} staff",
    "{c} publishes its quarterly report on schedule",
    "{c} announces the date of its investor day, set for June {n}",
]


def _stream(now: datetime) -> list[dict]:
    """Calm history (7 h, 12 items/h), then a negative burst in one minute, then closers."""
    t0 = (now - timedelta(hours=8)).replace(second=0, microsecond=0)
    out: list[dict] = []
    i = 0
    for step in range(7 * 12):
        c, tmpl = COMPANIES[step % len(COMPANIES)], CALM[step % len(CALM)]
        out.append({"id": f"calm-{i}", "text": tmpl.format(c=c, n=3 + step % 25), "source": "e2e",
                    "published_at": (t0 + timedelta(minutes=5 * step)).isoformat()})
        i += 1
    burst = (t0 + timedelta(hours=7, minutes=30)).replace(second=0)
    for j in range(30):
        c, tmpl = COMPANIES[j % len(COMPANIES)], NEGATIVE[j % len(NEGATIVE)]
        out.append({"id": f"neg-{j}", "text": tmpl.format(c=c, n=11 + j), "source": "e2e",
                    "published_at": (burst + timedelta(seconds=j)).isoformat()})
    for j in range(3):
        c = COMPANIES[-1 - j]
        out.append({"id": f"close-{j}", "text": CALM[j].format(c=c, n=20 + j), "source": "e2e",
                    "published_at": (burst + timedelta(minutes=2, seconds=j)).isoformat()})
    return out


def _spikes(rx: Receiver, path: str) -> list[tuple[dict, object]]:
    out = []
    for r in rx.received:
        if r.path != path:
            continue
        body = r.json()
        for a in body["alerts"]:
            if a["labels"].get("alertname") == "NegativeSentimentSpike" and a["status"] == "firing":
                out.append((a, r))
    return out


def _wait(pred, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not pred():
        if proc is not None and proc.poll() is not None:
            return
        time.sleep(0.25)


@pytest.mark.slow
@needs_prometheus
@needs_alertmanager
def test_spike_through_kafka_service_prometheus_alertmanager(tmp_path: Path, tansu, make_topic, unique_name) -> None:
    if not (SHIPPED / "card.json").exists() and not os.environ.get("FINSENTRY_MODEL_PATH"):
        pytest.skip(f"no shipped model at {SHIPPED} yet")
    from ingest.kafka_io import Sink

    topic = make_topic(partitions=1)  # one partition: event time arrives in order
    rx = Receiver().start()
    metrics_port = free_port()
    am = start_alertmanager(tmp_path / "am", f"http://127.0.0.1:{rx.port}/am")
    prom = start_prometheus(tmp_path / "prom", RULES, [f"127.0.0.1:{metrics_port}"], am.url.split("//")[1])
    env = {
        **os.environ,
        "FINSENTRY_KAFKA_BOOTSTRAP": tansu.bootstrap,
        "FINSENTRY_TOPIC": topic,
        "FINSENTRY_GROUP": unique_name("e2e"),
        "FINSENTRY_OUTPUT_TOPIC": "",
        "FINSENTRY_STORE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "FINSENTRY_METRICS_HOST": "127.0.0.1",
        "FINSENTRY_METRICS_PORT": str(metrics_port),
        "FINSENTRY_ALERT_WEBHOOK_URLS": f"http://127.0.0.1:{rx.port}/direct",
        "FINSENTRY_ALERT_WEBHOOK_SECRET": SECRET,
        "FINSENTRY_LOG_FORMAT": "json",
    }
    env.pop("FINSENTRY_ALERTMANAGER_URL", None)  # AM must get this alert from Prometheus only
    log_path = tmp_path / "service.log"
    with log_path.open("wb") as log:
        svc = subprocess.Popen([sys.executable, "-m", "finsentry", "run"], env=env, cwd=tmp_path,
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        t_produce = time.monotonic()
        sink = Sink(tansu.bootstrap)
        for msg in _stream(datetime.now(UTC)):
            sink.send(topic, json.dumps(msg).encode())
        sink.flush()
        sink.close()

        # 1. The service's own signed webhook (pushed by the Notifier through the outbox).
        _wait(lambda: _spikes(rx, "/direct"), 60, svc)
        assert svc.poll() is None, f"service exited: {log_path.read_text()[-3000:]}"
        direct = _spikes(rx, "/direct")
        assert direct, f"no direct webhook; service log tail: {log_path.read_text()[-3000:]}"
        alert, req = direct[0]
        assert verify(req.body, req.headers, SECRET)
        assert req.json()["version"] == "4"
        assert float(alert["annotations"]["negative_share"]) > float(alert["annotations"]["baseline_negative_share"])
        evidence = json.loads(alert["annotations"]["evidence"])
        assert evidence and evidence[0]["id"].startswith("neg-")  # the most negative headline first
        pushed_keys = {(a["labels"]["key_type"], a["labels"]["key"]) for a, _ in direct}
        t_direct = time.monotonic()
        print(f"service start + produce -> signed direct webhook: {t_direct - t_produce:.1f} s")

        # 2. Prometheus scraped the service, the shipped rule fired (for: 30s), Alertmanager delivered.
        _wait(lambda: _spikes(rx, "/am"), 60, svc)
        via_am = _spikes(rx, "/am")
        assert via_am, f"no alert via Prometheus; prometheus alerts: {prom.get('/api/v1/alerts')}"
        print(f"direct webhook -> alert via prometheus/alertmanager: +{time.monotonic() - t_direct:.1f} s")
        am_keys = {(a["labels"]["key_type"], a["labels"]["key"]) for a, _ in via_am}
        assert am_keys & pushed_keys, (am_keys, pushed_keys)
        a, _ = via_am[0]
        assert set(a["labels"]) == {"alertname", "key_type", "key", "severity"}
        assert float(a["annotations"]["negative_share"]) > float(a["annotations"]["baseline_negative_share"])
    finally:
        svc.terminate()
        try:
            svc.wait(15)
        except subprocess.TimeoutExpired:
            svc.kill()
        prom.stop()
        am.stop()
        rx.stop()
    assert svc.returncode == 0, log_path.read_text()[-3000:]
