"""Hostile HTTP receivers on loopback (raw sockets): they read the request, then answer as slowly
as they like, and report what happened through events, so tests wait on events, not on clocks."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator


def trickle(head: bytes, pad: bytes = b"x", limit: int = 60,
            head_at_once: bool = False) -> Callable[[TrickleReceiver], Iterator[bytes]]:
    """An answer that starts with ``head`` (byte by byte, or in one piece) and then goes on one
    ``pad`` at a time (``limit`` pads)."""

    def chunks(_rx: TrickleReceiver) -> Iterator[bytes]:
        if head_at_once:
            yield head
        else:
            for i in range(len(head)):
                yield head[i:i + 1]
        for _ in range(limit):
            yield pad

    return chunks


class TrickleReceiver:
    """Accepts POSTs; answers with the chunks of ``answer``, one every ``every_s`` seconds.

    ``in_flight`` is set once a request has been read (the client now waits for the answer),
    ``hung_up`` once a send failed (the client gave up), ``release`` ends the answer early (the
    server closes the connection), ``done`` when the handler returned.
    """

    def __init__(self, answer: Callable[[TrickleReceiver], Iterator[bytes]], every_s: float = 1.0) -> None:
        self.answer, self.every_s = answer, every_s
        self.requests: list[bytes] = []
        self.in_flight, self.hung_up = threading.Event(), threading.Event()
        self.release, self.done = threading.Event(), threading.Event()
        self.sent = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _read_request(self, conn: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        return head + b"\r\n\r\n" + body

    def _handle(self, conn: socket.socket) -> None:
        try:
            with conn:
                self.requests.append(self._read_request(conn))
                self.in_flight.set()
                for chunk in self.answer(self):
                    if self.release.is_set():
                        return
                    try:
                        conn.sendall(chunk)
                    except OSError:
                        self.hung_up.set()
                        return
                    self.sent += len(chunk)
                    if self.release.wait(self.every_s):
                        return
                # The whole answer went out: the client may still read; wait for it to hang up.
                conn.settimeout(30)
                try:
                    while conn.recv(1024):
                        pass
                except OSError:
                    pass
                self.hung_up.set()
        finally:
            self.done.set()

    def stop(self) -> None:
        self.release.set()
        self._sock.close()
