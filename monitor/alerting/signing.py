"""HMAC-SHA256 signatures of webhook bodies (header ``X-Finsentry-Signature: sha256=<hex>``).

The signature covers the raw request body, byte for byte. Receivers verify it *before*
parsing the JSON; :func:`verify_signature` is self-contained so it can be copied as is::

    import hashlib, hmac

    def verify_signature(body: bytes, header: str | None, secret: str) -> bool:
        if not header or not header.startswith("sha256="):
            return False
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(header[len("sha256="):], expected)
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Finsentry-Signature"
_PREFIX = "sha256="


def sign(body: bytes, secret: str) -> str:
    """Header value for ``body``: ``sha256=<hex digest>``."""
    return _PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, secret: str) -> bool:
    """True when ``header`` is the HMAC-SHA256 of ``body`` under ``secret`` (constant time)."""
    if not header or not header.startswith(_PREFIX):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header[len(_PREFIX) :], expected)
