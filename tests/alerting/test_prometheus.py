"""Real Prometheus evaluating the shipped rules on a scraped metrics endpoint, real
Alertmanager delivering the resulting NegativeSentimentSpike to a webhook receiver."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from finsentry.metrics import Metrics
from monitor.alerting import fingerprint
from monitor.exposition import MetricsServer
from tests.alerting.receiver import Receiver
from tests.alerting.servers import (
    needs_alertmanager,
    needs_prometheus,
    start_alertmanager,
    start_prometheus,
)

RULES = Path(__file__).resolve().parents[2] / "monitor" / "rules" / "finsentry.rules.yml"


def _spike_alerts(rx: Receiver, status: str) -> list[dict]:
    return [
        a
        for r in rx.received
        for a in r.json()["alerts"]
        if a["labels"]["alertname"] == "NegativeSentimentSpike" and a["status"] == status
    ]


def _wait(pred, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.25)


@pytest.mark.slow
@needs_prometheus
@needs_alertmanager
def test_shipped_rules_fire_through_prometheus_and_alertmanager(tmp_path: Path) -> None:
    metrics = Metrics(CollectorRegistry())
    key = {"key_type": "ticker", "key": "SIVB"}
    metrics.negative_share.labels(**key).set(0.1)
    metrics.baseline_negative_share.labels(**key).set(0.18)
    metrics.spike_score.labels(**key).set(0.3)
    metrics.window_items.labels(**key).set(30)
    metrics.spike_active.labels(**key, severity="critical").set(0)
    calm = {"key_type": "topic", "key": "Earnings"}
    metrics.spike_active.labels(**calm, severity="warning").set(0)

    server = MetricsServer.start(metrics.registry, "127.0.0.1", 0)
    rx = Receiver().start()
    am = start_alertmanager(tmp_path / "am", f"http://127.0.0.1:{rx.port}/am")
    prom = start_prometheus(tmp_path / "prom", RULES, [f"127.0.0.1:{server.port}"], am.url.split("//")[1])
    try:
        _wait(lambda: prom.get("/api/v1/query", query='up{job="finsentry"}')["data"]["result"], 15)
        # The spike: the detector flags the key and exports its figures.
        metrics.negative_share.labels(**key).set(0.72)
        metrics.spike_score.labels(**key).set(6.25)
        metrics.window_items.labels(**key).set(41)
        metrics.spike_active.labels(**key, severity="critical").set(1)
        t0 = time.monotonic()
        _wait(lambda: _spike_alerts(rx, "firing"), 60)  # `for: 30s` + evaluation + group_wait
        fired_after = time.monotonic() - t0
        print(f"gauge spike -> prometheus -> alertmanager -> receiver: {fired_after:.1f} s")
        alerts = _spike_alerts(rx, "firing")
        assert alerts, f"no alert within 60 s; prometheus alerts: {prom.get('/api/v1/alerts')}"
        assert 30 <= fired_after < 45, fired_after
        (alert,) = {a["fingerprint"]: a for a in alerts}.values()  # only SIVB, never the calm key
        labels = {"alertname": "NegativeSentimentSpike", **key, "severity": "critical"}
        assert alert["labels"] == labels
        # Same identity as the alert the service pushes itself: Alertmanager deduplicates them.
        assert alert["fingerprint"] == fingerprint(labels)
        ann = alert["annotations"]
        assert ann["negative_share"] == "0.72" and ann["baseline_negative_share"] == "0.18"
        assert ann["spike_score"] == "6.25" and ann["window_items"] == "41"
        assert ann["description"] == "ticker SIVB: negative share 72% vs baseline 18%, spike score 6.25."
        assert alert["generatorURL"].startswith(prom.url)

        # The detector resolves: Prometheus sends the resolve, Alertmanager forwards it.
        metrics.spike_active.labels(**key, severity="critical").set(0)
        t1 = time.monotonic()
        _wait(lambda: _spike_alerts(rx, "resolved"), 20)
        print(f"resolve forwarded in {time.monotonic() - t1:.1f} s")
        assert _spike_alerts(rx, "resolved"), "resolve not delivered"
    finally:
        prom.stop()
        am.stop()
        rx.stop()
        server.close()
