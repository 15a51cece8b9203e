"""Payload shape (Alertmanager webhook version "4", v2 alerts) (signatures: test_signing.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from monitor.alerting.payload import (
    ZERO_TIME,
    alertmanager_alert,
    fingerprint,
    rfc3339,
    webhook_body,
    with_ends_at,
)
from tests.alerting.conftest import firing, resolved


def test_webhook_body_has_the_alertmanager_v4_shape() -> None:
    body = webhook_body([firing()], "http://dash.local:8501")
    assert set(body) == {
        "version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels",
        "commonLabels", "commonAnnotations", "externalURL", "alerts",
    }
    assert body["version"] == "4" and body["status"] == "firing" and body["truncatedAlerts"] == 0
    assert body["externalURL"] == "http://dash.local:8501"
    (alert,) = body["alerts"]
    assert set(alert) == {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}
    assert alert["labels"] == {
        "alertname": "NegativeSentimentSpike", "key_type": "ticker", "key": "SIVB", "severity": "critical",
    }
    assert alert["startsAt"] == "2023-03-10T14:00:00.000Z" and alert["endsAt"] == ZERO_TIME
    ann = alert["annotations"]
    assert ann["summary"] == "Negative news spike for ticker SIVB"
    assert "72% vs baseline 18%" in ann["description"] and "spike score 6.3" in ann["description"]
    assert ann["negative_share"] == "0.72" and ann["z"] == "6.3"
    assert all(isinstance(v, str) for v in ann.values())  # Alertmanager annotations are strings
    assert json.loads(ann["evidence"]) == [
        {"id": "n1", "text": "SVB shares plunge after capital raise", "source": "CNBC", "score": -0.93}
    ]
    assert body["groupLabels"] == {"alertname": "NegativeSentimentSpike", "key_type": "ticker", "key": "SIVB"}
    assert body["commonLabels"] == alert["labels"] and body["commonAnnotations"] == ann
    assert body["groupKey"] == '{}:{alertname="NegativeSentimentSpike", key="SIVB", key_type="ticker"}'


def test_resolved_body_carries_the_event_time_end() -> None:
    body = webhook_body([resolved(firing())], "x")
    assert body["status"] == "resolved"
    assert body["alerts"][0]["endsAt"] == "2023-03-10T14:30:00.000Z"


def test_fingerprint_matches_alertmanager() -> None:
    # Reference values computed by Alertmanager 0.25 (GET /api/v2/alerts) for these label sets;
    # the real-Alertmanager test checks the same property live.
    assert fingerprint({}) == "cbf29ce484222325"
    labels = {"alertname": "NegativeSentimentSpike", "key_type": "ticker", "key": "SIVB", "severity": "critical"}
    assert fingerprint(labels) == fingerprint(dict(reversed(labels.items())))
    assert fingerprint(labels) != fingerprint({**labels, "severity": "warning"})


def test_alertmanager_alert_gets_ends_at_at_send_time_and_never_starts_after_it() -> None:
    alert = alertmanager_alert(firing(), "http://d")
    assert "endsAt" not in alert and alert["generatorURL"] == "http://d"
    later = with_ends_at(alert, datetime(2023, 3, 10, 15, tzinfo=UTC))
    assert later["endsAt"] == "2023-03-10T15:00:00.000Z" and later["startsAt"] == alert["startsAt"]
    earlier = with_ends_at(alert, datetime(2023, 3, 10, 13, tzinfo=UTC))
    assert earlier["startsAt"] == earlier["endsAt"] == "2023-03-10T13:00:00.000Z"


def test_rfc3339_treats_naive_as_utc() -> None:
    assert rfc3339(datetime(2020, 3, 9, 13, 30))  # noqa: DTZ001 - naive on purpose: read as UTC == "2020-03-09T13:30:00.000Z"
