"""A minimal alert webhook receiver (stdlib only): the compose stack's Alertmanager target, and the
reference for verifying finsentry's signed direct webhooks.

    POST /alerts     Alertmanager webhook (version "4" payload), unsigned
    POST /finsentry  finsentry direct webhook: body signed with HMAC-SHA256, header
                     ``X-Finsentry-Signature: sha256=<hex>``; 401 when the signature does not match
    GET  /healthz    200

Each accepted notification is logged as one JSON line on stdout (receiver, status, alert names and
keys). The shared secret comes from ``FINSENTRY_ALERT_WEBHOOK_SECRET`` (the same variable the service
signs with). Listens on ``RECEIVER_PORT`` (default 8080).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SIGNATURE_HEADER = "X-Finsentry-Signature"


def verify_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """True when ``header`` is ``sha256=<hex>`` of HMAC-SHA256(secret, raw body), compared in constant time."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256="))


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
    secret: bytes = b""

    def _reply(self, code: int, text: str = "") -> None:
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        self._reply(200, "ok\n") if self.path == "/healthz" else self._reply(404)

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/finsentry":
            if not self.secret or not verify_signature(self.secret, body, self.headers.get(SIGNATURE_HEADER)):
                self._reply(401, "bad signature\n")
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


def main() -> None:
    Handler.secret = os.environ.get("FINSENTRY_ALERT_WEBHOOK_SECRET", "").encode()
    port = int(os.environ.get("RECEIVER_PORT", "8080"))
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)  # noqa: S104 - a container's own port
    print(json.dumps({"event": "receiver.started", "port": port, "signed": bool(Handler.secret)}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
