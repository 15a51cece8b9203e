"""A minimal alert webhook receiver (stdlib only): the compose stack's Alertmanager target, and a
reference for verifying finsentry's signed direct webhooks (Standard Webhooks scheme).

    POST /alerts     Alertmanager webhook (version "4" payload), unsigned
    POST /finsentry  finsentry direct webhook, signed: headers ``webhook-id``, ``webhook-timestamp``,
                     ``webhook-signature`` (``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``,
                     one per active secret); 401 when no signature matches or the timestamp is more
                     than 5 min off; a ``webhook-id`` seen before is acknowledged (204) and dropped
    GET  /healthz    200

Each accepted notification is logged as one JSON line on stdout (receiver, status, alert names and
keys). Secrets come from ``FINSENTRY_ALERT_WEBHOOK_SECRET`` and/or ``FINSENTRY_ALERT_WEBHOOK_SECRETS``
(comma-separated, for rotation: the same variables the service signs with). Listens on
``RECEIVER_PORT`` (default 8080).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_S = 300
_SEEN_MAX = 10_000  # webhook-ids remembered for replay protection (far more than 5 min of alerts)


def verify(body: bytes, headers: Mapping[str, str], secrets: Sequence[str], tolerance_s: int = TOLERANCE_S,
           now: float | None = None) -> bool:
    """True when one ``v1`` signature matches ``{id}.{timestamp}.{body}`` under one of ``secrets`` and
    the timestamp is within ``tolerance_s`` of now (same rules as ``monitor.alerting.signing.verify``)."""
    h = {k.lower(): v for k, v in headers.items()}
    msg_id, ts, sigs = h.get("webhook-id"), h.get("webhook-timestamp"), h.get("webhook-signature")
    if not msg_id or not ts or not sigs or not (ts.isascii() and ts.isdigit()) or len(ts) > 12:
        return False
    if abs((time.time() if now is None else now) - int(ts)) > tolerance_s:
        return False
    content = f"{msg_id}.{ts}.".encode() + body
    offered = [s[3:] for s in sigs.split() if s.startswith("v1,")]
    for secret in secrets:
        key = base64.b64decode(secret[6:]) if secret.startswith("whsec_") else secret.encode()
        expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
        if any(hmac.compare_digest(expected, sig) for sig in offered):
            return True
    return False


def summary(payload: dict) -> dict:
    alerts = payload.get("alerts") or []
    return {
        "receiver": payload.get("receiver"),
        "status": payload.get("status"),
        "alerts": [
            {k: (a.get("labels") or {}).get(k) for k in ("alertname", "key_type", "key", "severity")}
            | {"status": a.get("status")}
            for a in alerts
        ],
    }


class Handler(BaseHTTPRequestHandler):
    secrets: tuple[str, ...] = ()
    seen: OrderedDict[str, None] = OrderedDict()
    lock = threading.Lock()

    def _reply(self, code: int, text: str = "") -> None:
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        self._reply(200, "ok\n") if self.path == "/healthz" else self._reply(404)

    def _replayed(self, msg_id: str) -> bool:
        with self.lock:
            if msg_id in self.seen:
                return True
            self.seen[msg_id] = None
            while len(self.seen) > _SEEN_MAX:
                self.seen.popitem(last=False)
            return False

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/finsentry":
            if not self.secrets or not verify(body, dict(self.headers.items()), self.secrets):
                self._reply(401, "bad signature\n")
                return
            if self._replayed(self.headers.get("webhook-id", "")):
                self._reply(204)  # a retry of a notification already handled: acknowledge, do nothing
                return
        elif self.path != "/alerts":
            self._reply(404)
            return
        try:
            payload = json.loads(body)
        except ValueError:
            self._reply(400, "not JSON\n")
            return
        print(json.dumps({"event": "alert.received", "path": self.path, **summary(payload)}), flush=True)
        self._reply(200, "ok\n")

    def log_message(self, *args: object) -> None:  # one line per notification is enough
        pass


def secrets_from_env(env: Mapping[str, str]) -> tuple[str, ...]:
    listed = [env.get("FINSENTRY_ALERT_WEBHOOK_SECRET", ""), *env.get("FINSENTRY_ALERT_WEBHOOK_SECRETS", "").split(",")]
    return tuple(s.strip() for s in listed if s.strip())


def main() -> None:
    Handler.secrets = secrets_from_env(os.environ)
    port = int(os.environ.get("RECEIVER_PORT", "8080"))
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)  # noqa: S104 - a container's own port
    print(json.dumps({"event": "receiver.started", "port": port, "signed": bool(Handler.secrets)}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
