"""Webhook signatures after the Standard Webhooks scheme (standardwebhooks.com, spec 1.0.0).

Every signed webhook carries three headers::

    webhook-id: msg_...             stable per notification (the same on every retry): dedupe on it
    webhook-timestamp: 1700000000   unix seconds at send time
    webhook-signature: v1,<b64> v1,<b64>   base64 HMAC-SHA256 of "{id}.{timestamp}.{body}", one per secret

The timestamp is inside the signed content, so a captured request cannot be replayed later than the
receiver's tolerance (5 min); within it, the receiver drops a ``webhook-id`` it has already seen.
Several secrets may be active at once (key rotation): each one adds a signature and a receiver
accepts the request when any signature matches any of *its* secrets. A secret of the form
``whsec_<base64>`` is the spec's: its key is the base64-decoded rest; any other string is used as
its UTF-8 bytes.

:func:`verify` is self-contained so it can be copied as is (docs/alerting.md has a runnable receiver
around it; ``docker/receiver.py`` is another). There is no body-only signature: it could be replayed
for ever.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence

WEBHOOK_ID = "webhook-id"
WEBHOOK_TIMESTAMP = "webhook-timestamp"
WEBHOOK_SIGNATURE = "webhook-signature"
TOLERANCE_S = 300
SECRET_PREFIX = "whsec_"


def secret_key(secret: str) -> bytes:
    """The HMAC key of one secret: ``whsec_<base64>`` decoded, anything else as UTF-8 bytes."""
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
        except binascii.Error as exc:
            raise ValueError("a whsec_ secret must be base64 after the prefix") from exc
    return secret.encode()


def sign(msg_id: str, timestamp: int, body: bytes, secrets: Sequence[str]) -> str:
    """The ``webhook-signature`` value: ``v1,<base64>`` per secret, space-separated."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(secret_key(s), content, hashlib.sha256).digest()).decode()
        for s in secrets
    )


def signature_headers(msg_id: str, body: bytes, secrets: Sequence[str], now: float | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers of one request."""
    ts = int(time.time() if now is None else now)
    return {
        WEBHOOK_ID: msg_id,
        WEBHOOK_TIMESTAMP: str(ts),
        WEBHOOK_SIGNATURE: sign(msg_id, ts, body, secrets),
    }


def verify(body: bytes, headers: Mapping[str, str], secrets: str | Sequence[str],
           tolerance_s: int = 300, now: float | None = None) -> bool:
    """True when ``headers`` hold a valid Standard Webhooks signature of ``body`` under any of
    ``secrets``, with a timestamp no more than ``tolerance_s`` from ``now`` (past or future).
    Self-contained: copy this function with the imports ``base64, hashlib, hmac, time``.
    Replays inside the tolerance are the receiver's to drop: remember ``webhook-id``s for it."""
    h = {k.lower(): v for k, v in headers.items()}
    msg_id, ts, sigs = h.get("webhook-id"), h.get("webhook-timestamp"), h.get("webhook-signature")
    if not msg_id or not ts or not sigs or not (ts.isascii() and ts.isdigit()) or len(ts) > 12:
        return False
    if abs((time.time() if now is None else now) - int(ts)) > tolerance_s:
        return False  # stale (a replay) or from the future
    content = f"{msg_id}.{ts}.".encode() + body
    offered = [s[3:] for s in sigs.split() if s.startswith("v1,")]
    for secret in [secrets] if isinstance(secrets, str) else secrets:
        key = base64.b64decode(secret[6:]) if secret.startswith("whsec_") else secret.encode()
        expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
        if any(hmac.compare_digest(expected, sig) for sig in offered):
            return True
    return False
