"""Real Alertmanager: the Notifier pushes firing/resolved alerts through the v2 API and
Alertmanager delivers them to a webhook receiver in the test."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from finsentry.metrics import Metrics
from monitor.alerting import Notifier, fingerprint
from store import Store
from tests.alerting.conftest import firing, make_settings, resolved
from tests.alerting.receiver import Receiver
from tests.alerting.servers import needs_alertmanager, start_alertmanager


def _am_alerts(am) -> list[dict]:
    return am.get("/api/v2/alerts")


@needs_alertmanager
def test_notifier_to_alertmanager_to_receiver(tmp_path: Path, sqlite_engine: Engine) -> None:
    rx = Receiver().start()
    am = start_alertmanager(tmp_path / "am", f"http://127.0.0.1:{rx.port}/am")
    try:
        n = Notifier.from_settings(
            make_settings(alertmanager_url=am.url, alert_resend_s=5), Store.from_engine(sqlite_engine),
            Metrics(CollectorRegistry()),
        )
        onset = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
        ev = firing(onset=onset)
        with Store.from_engine(sqlite_engine).transaction() as txn:
            n.record(txn, [ev])
        t0 = time.monotonic()
        assert n.deliver_due() == 1

        (got,) = rx.wait_for(1, timeout=15)
        print(f"push -> alertmanager -> receiver: {time.monotonic() - t0:.2f} s")
        body = got.json()
        assert body["version"] == "4" and body["status"] == "firing" and body["receiver"] == "test"
        (alert,) = body["alerts"]
        labels = {"alertname": "NegativeSentimentSpike", "key_type": "ticker", "key": "SIVB", "severity": "critical"}
        assert alert["labels"] == labels
        assert alert["fingerprint"] == fingerprint(labels)  # our fingerprint is Alertmanager's
        assert alert["annotations"]["summary"] == "Negative news spike for ticker SIVB"
        assert "SVB shares plunge" in alert["annotations"]["evidence"]
        assert alert["generatorURL"] == "http://dash.local:8501"
        assert alert["startsAt"].startswith(onset.strftime("%Y-%m-%dT%H:%M:%S"))

        # Re-send: a fresh endsAt pushed forward, so Alertmanager does not auto-resolve.
        (before,) = _am_alerts(am)
        assert before["status"]["state"] == "active"
        n.deliver_due(datetime.now(UTC) + timedelta(seconds=30))
        (after,) = _am_alerts(am)
        assert after["endsAt"] > before["endsAt"]
        assert after["fingerprint"] == alert["fingerprint"]

        with Store.from_engine(sqlite_engine).transaction() as txn:
            n.record(txn, [resolved(ev, after=timedelta(minutes=2))])
        assert n.deliver_due() == 1
        msgs = rx.wait_for(2, timeout=15)
        assert len(msgs) >= 2
        last = msgs[-1].json()
        assert last["status"] == "resolved" and last["alerts"][0]["labels"] == labels
        n.close()
    finally:
        am.stop()
        rx.stop()
