"""The HTTP edge of alert delivery: POST a webhook body or an Alertmanager v2 alert list.

Every failure (connection refused, timeout, non-2xx) is translated into
:class:`finsentry.errors.DeliveryError`; the outbox decides when to try again, so the HTTP
client itself makes exactly one attempt per call.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import requests
from requests.adapters import HTTPAdapter

from finsentry.errors import DeliveryError
from finsentry.redact import redact_text
from monitor.alerting.payload import encode
from monitor.alerting.signing import SIGNATURE_HEADER, sign

USER_AGENT = "finsentry-alerting/1"
_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\"()]+")


def _reason(exc: requests.RequestException) -> str:
    """Short reason: the exception type and, when there is one, the OS error text."""
    m = _ERRNO.search(str(exc))
    return f"{type(exc).__name__} ({m.group(0).strip()})" if m else type(exc).__name__


class Sender(Protocol):
    def post_webhook(self, url: str, body: object, secret: str | None) -> int: ...

    def post_alertmanager(self, base_url: str, alerts: list[dict[str, Any]]) -> int: ...

    def close(self) -> None: ...


class HttpSender:
    """`requests`-based sender with (connect, read) timeouts; returns the HTTP status."""

    def __init__(self, connect_timeout_s: float = 3.0, read_timeout_s: float = 5.0) -> None:
        self._timeout = (connect_timeout_s, read_timeout_s)
        self._session = requests.Session()
        adapter = HTTPAdapter(max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers["User-Agent"] = USER_AGENT

    def _post(self, url: str, data: bytes, headers: dict[str, str]) -> int:
        try:
            resp = self._session.post(url, data=data, headers=headers, timeout=self._timeout)
        except requests.RequestException as exc:
            raise DeliveryError(redact_text(f"POST {url}: {_reason(exc)}", [url])) from exc
        if not 200 <= resp.status_code < 300:
            raise DeliveryError(redact_text(f"POST {url}: HTTP {resp.status_code} {resp.text[:200]!r}", [url]))
        return resp.status_code

    def post_webhook(self, url: str, body: object, secret: str | None) -> int:
        data = encode(body)
        headers = {"Content-Type": "application/json"}
        if secret:
            headers[SIGNATURE_HEADER] = sign(data, secret)
        return self._post(url, data, headers)

    def post_alertmanager(self, base_url: str, alerts: list[dict[str, Any]]) -> int:
        url = base_url.rstrip("/") + "/api/v2/alerts"
        return self._post(url, encode(alerts), {"Content-Type": "application/json"})

    def close(self) -> None:
        self._session.close()
