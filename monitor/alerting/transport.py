"""The HTTP edge of alert delivery: POST a webhook body or an Alertmanager v2 alert list.

Every failure (connection refused, TLS, deadline, non-2xx, redirect) is translated into
:class:`finsentry.errors.DeliveryError`; the outbox decides when to try again, so the client makes
exactly one attempt per call.

**A total deadline per POST.** Socket timeouts are per read: a receiver that trickles one byte a
second never trips a 5 s read timeout, and so would hold the delivery thread for ever. Here a
watchdog shuts the socket down once ``total_timeout_s`` has passed since the call began (connect,
TLS handshake, sending, status line, headers and the error body alike), which unblocks any read or
write at once; the call then fails with ``deadline of N s exceeded``. Only the name lookup before
the connect is outside it (the resolver's own timeouts bound it). A 2xx answer's body is never
read; of an error answer at most 200 bytes are, for the message.

**No redirects.** A 3xx is a failed delivery that says where it pointed: following it would
re-send the signed body (or resend it as a GET) to a URL nobody configured.

Direct connections only: ``HTTP(S)_PROXY`` is not honoured (receivers are usually inside the
deployment; route through a proxy by pointing the URL at it).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

from finsentry.errors import DeliveryError
from finsentry.redact import redact_text, redact_url
from monitor.alerting.payload import encode
from monitor.alerting.signing import signature_headers

USER_AGENT = "finsentry-alerting/1"
_ERROR_BODY_BYTES = 200


class Sender(Protocol):
    def post_webhook(self, url: str, body: object, secrets: Sequence[str], msg_id: str | None = None) -> int: ...

    def post_alertmanager(self, base_url: str, alerts: list[dict[str, Any]]) -> int: ...

    def close(self) -> None: ...


class _Watchdog:
    """Shuts the watched socket down when ``seconds`` have passed (unblocks its reader/writer)."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._timer.cancel()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            expired = self.expired
        if expired:
            _shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sock = self._sock
        if sock is not None:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    try:
        # The plain socket call also for an SSLSocket: its own shutdown() tears the TLS object down
        # under the thread that is reading it.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed or never connected


def _reason(exc: BaseException) -> str:
    """Short reason: the exception type and, when there is one, the OS error text."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__} ([Errno {exc.errno}] {exc.strerror})"
    detail = str(exc).strip()
    return f"{type(exc).__name__} ({detail[:120]})" if detail and isinstance(exc, ssl.SSLError) else type(exc).__name__


class HttpSender:
    """Stdlib HTTP(S) sender: one connection per POST, a total deadline, no redirects.

    ``HttpSender(total_timeout_s=5).post_webhook("http://127.0.0.1:8080/hook", {"a": 1}, ["s3cret"])``
    returns the HTTP status or raises :class:`DeliveryError`. ``total_timeout_s`` defaults to the
    larger of 5 s and the read timeout.
    """

    def __init__(self, connect_timeout_s: float = 3.0, read_timeout_s: float = 5.0,
                 total_timeout_s: float | None = None) -> None:
        self._connect_s = connect_timeout_s
        self._read_s = read_timeout_s
        self._total_s = total_timeout_s if total_timeout_s is not None else max(5.0, read_timeout_s)
        self._tls: ssl.SSLContext | None = None

    @property
    def total_timeout_s(self) -> float:
        return self._total_s

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            ctx = ssl.create_default_context()  # the system trust store (and SSL_CERT_FILE)
            try:
                import certifi

                ctx.load_verify_locations(certifi.where())  # ... plus the bundle requests used
            except (ImportError, OSError):
                pass
            self._tls = ctx
        return self._tls

    def _post(self, url: str, data: bytes, headers: dict[str, str]) -> int:
        def fail(what: str) -> DeliveryError:
            return DeliveryError(redact_text(f"POST {url}: {what}", [url]))

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise fail("not an http(s) URL")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise fail("bad port") from exc
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        t0 = time.monotonic()
        with _Watchdog(self._total_s) as dog:
            try:
                status, location, snippet = self._exchange(parts.scheme, parts.hostname, port, target, data,
                                                           headers, dog, t0)
            except (OSError, http.client.HTTPException, ValueError) as exc:
                if dog.expired:
                    raise fail(f"deadline of {self._total_s:g} s exceeded") from exc
                raise fail(_reason(exc)) from exc
        if 300 <= status < 400:
            where = f" to {redact_url(location)}" if location else ""
            raise fail(f"HTTP {status} redirect{where} not followed (configure the final URL)")
        if not 200 <= status < 300:
            raise fail(f"HTTP {status} {snippet!r}")
        return status

    def _exchange(self, scheme: str, host: str, port: int, target: str, data: bytes, headers: dict[str, str],
                  dog: _Watchdog, t0: float) -> tuple[int, str | None, str]:
        """One request on a fresh connection under the watchdog: (status, Location, error body start)."""
        left = max(0.001, self._total_s - (time.monotonic() - t0))
        sock = socket.create_connection((host, port), timeout=min(self._connect_s, left))
        dog.watch(sock)
        conn: http.client.HTTPConnection | None = None
        try:
            if scheme == "https":
                sock = self._tls_context().wrap_socket(sock, server_hostname=host)
                dog.watch(sock)
                conn = http.client.HTTPSConnection(host, port, timeout=self._read_s)
            else:
                conn = http.client.HTTPConnection(host, port, timeout=self._read_s)
            sock.settimeout(self._read_s)
            conn.sock = sock
            conn.request("POST", target, body=data,
                         headers={"User-Agent": USER_AGENT, "Connection": "close", **headers})
            resp = conn.getresponse()
            try:
                snippet = ""
                if not 200 <= resp.status < 400:
                    try:
                        snippet = resp.read(_ERROR_BODY_BYTES).decode("utf-8", "replace")
                    except (OSError, http.client.HTTPException):
                        snippet = "(body not read)"
                return resp.status, resp.getheader("Location"), snippet
            finally:
                resp.close()
        finally:
            if conn is not None:
                conn.close()
            sock.close()

    def post_webhook(self, url: str, body: object, secrets: Sequence[str], msg_id: str | None = None) -> int:
        """POST ``body`` signed with every one of ``secrets`` (none: unsigned). ``msg_id`` is the
        ``webhook-id``: pass the same one on every retry of a notification (default: a new one)."""
        data = encode(body)
        headers = {"Content-Type": "application/json"}
        if secrets:
            headers.update(signature_headers(msg_id or f"msg_{uuid.uuid4().hex}", data, list(secrets)))
        return self._post(url, data, headers)

    def post_alertmanager(self, base_url: str, alerts: list[dict[str, Any]]) -> int:
        url = base_url.rstrip("/") + "/api/v2/alerts"
        return self._post(url, encode(alerts), {"Content-Type": "application/json"})

    def close(self) -> None:
        """Nothing pooled: every POST has its own connection."""
