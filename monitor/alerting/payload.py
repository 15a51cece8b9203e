"""Pure builders of alert payloads: Alertmanager v2 alerts and webhook (version "4") bodies.

Labels are exactly ``alertname, key_type, key, severity`` — the same label set the shipped
Prometheus rule ``NegativeSentimentSpike`` produces (it aggregates ``by (key_type, key,
severity)``), so an alert pushed by the service and the one fired by Prometheus share one
Alertmanager fingerprint and are deduplicated there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from finsentry.records import AlertEvent
from finsentry.timeutil import as_utc

ALERTNAME = "NegativeSentimentSpike"
WEBHOOK_RECEIVER = "finsentry-webhook"
# Alertmanager's webhook sends this endsAt for alerts that are still firing.
ZERO_TIME = "0001-01-01T00:00:00Z"

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_MASK = (1 << 64) - 1


def rfc3339(ts: datetime) -> str:
    """UTC RFC 3339 with millisecond precision and a ``Z`` suffix (naive = UTC)."""
    return as_utc(ts).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint of a label set (FNV-1a 64 over sorted name/value pairs)."""
    h = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name.encode(), labels[name].encode()):
            for byte in part + b"\xff":
                h = ((h ^ byte) * _FNV_PRIME) & _MASK
    return f"{h:016x}"


def alert_labels(event: AlertEvent) -> dict[str, str]:
    return {
        "alertname": ALERTNAME,
        "key_type": event.key_type,
        "key": event.key,
        "severity": event.severity,
    }


def _fmt(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def alert_annotations(event: AlertEvent) -> dict[str, str]:
    """summary, description, one annotation per figure, and the evidence as a JSON string."""
    f = event.figures
    share, base = f.get("negative_share"), f.get("baseline_negative_share")
    if share is not None and base is not None:
        detail = f"negative share {share:.0%} vs baseline {base:.0%}"
    else:
        detail = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(f.items())) or "no figures"
    stat = f.get("z", f.get("statistic"))  # the detector's test statistic
    if stat is not None:
        detail += f", spike score {_fmt(stat)}"
    if "window_items" in f:
        detail += f", {int(f['window_items'])} items in window"
    what = "resolved" if event.status == "resolved" else "spike"
    annotations = {
        "summary": f"Negative news {what} for {event.key_type} {event.key}",
        "description": f"{event.key_type} {event.key}: {detail} (onset {rfc3339(event.started_at)}).",
    }
    if event.entity:
        annotations["entity"] = event.entity
        annotations["summary"] += f" ({event.entity})"
    if event.story:
        annotations["story"] = event.story
        annotations["story_headlines"] = str(event.story_size)
    for name, value in sorted(f.items()):
        annotations.setdefault(name, _fmt(value))
    annotations["evidence"] = json.dumps(
        [{"id": e.id, "text": e.text, "source": e.source, "score": round(e.score, 4)} for e in event.evidence],
        ensure_ascii=False,
    )
    return annotations


def webhook_alert(event: AlertEvent, external_url: str) -> dict[str, Any]:
    """One entry of a webhook body's ``alerts`` list (Alertmanager's template.Alert shape)."""
    labels = alert_labels(event)
    ends = ZERO_TIME
    if event.status == "resolved":
        ends = rfc3339(event.resolved_at or event.started_at)
    return {
        "status": event.status,
        "labels": labels,
        "annotations": alert_annotations(event),
        "startsAt": rfc3339(event.started_at),
        "endsAt": ends,
        "generatorURL": external_url,
        "fingerprint": fingerprint(labels),
    }


def _common(dicts: Sequence[Mapping[str, str]]) -> dict[str, str]:
    if not dicts:
        return {}
    first = dicts[0]
    return {k: v for k, v in first.items() if all(d.get(k) == v for d in dicts[1:])}


def webhook_body(
    events: Sequence[AlertEvent], external_url: str, receiver: str = WEBHOOK_RECEIVER
) -> dict[str, Any]:
    """Alertmanager webhook payload, version "4", for alerts of one group (one key)."""
    alerts = [webhook_alert(e, external_url) for e in events]
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    group_labels = {k: v for k, v in _common([a["labels"] for a in alerts]).items() if k != "severity"}
    group_key = "{}:{" + ", ".join(f'{k}="{v}"' for k, v in sorted(group_labels.items())) + "}"
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": group_labels,
        "commonLabels": _common([a["labels"] for a in alerts]),
        "commonAnnotations": _common([a["annotations"] for a in alerts]),
        "externalURL": external_url,
        "alerts": alerts,
    }


def alertmanager_alert(event: AlertEvent, external_url: str) -> dict[str, Any]:
    """One alert of the Alertmanager v2 ``POST /api/v2/alerts`` body, without ``endsAt``.

    ``endsAt`` is set at send time (:func:`with_ends_at`): a horizon in the future for a
    firing alert (re-sent before it passes), the send time for a resolve.
    """
    return {
        "labels": alert_labels(event),
        "annotations": alert_annotations(event),
        "startsAt": rfc3339(event.started_at),
        "generatorURL": external_url,
    }


def with_ends_at(alert: Mapping[str, Any], ends_at: datetime) -> dict[str, Any]:
    """Copy of an Alertmanager alert with ``endsAt``; ``startsAt`` never after it (AM rejects that)."""
    out = dict(alert)
    end = rfc3339(ends_at)
    out["endsAt"] = end
    if out.get("startsAt", "") > end:  # same format, so string order is time order
        out["startsAt"] = end
    return out


def encode(body: object) -> bytes:
    """The exact bytes we POST (and sign): compact UTF-8 JSON."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
