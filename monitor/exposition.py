"""Serve a metrics registry on ``/metrics`` and the loop's health on ``/healthz`` (one WSGI server
on its own threads).

    server = MetricsServer.start(metrics.registry, "127.0.0.1", 0, health=HealthCheck(progress, 120))
    server.port; server.close()                                      # 0 = a free port

``/healthz`` answers JSON (``finsentry.progress.LoopProgress.health``): 200 while the consumer loop
moves (or holds no partitions), 503 before its first iteration and when it has held partitions
without moving for longer than ``stall_after_s``. Without a ``health`` it answers 200
``{"status": "ok"}`` (the server is up; nothing else to report). Every other path is ``/metrics``.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from finsentry.errors import ConfigError
from finsentry.progress import LoopProgress

StartResponse = Callable[..., Any]
HEALTH_PATH = "/healthz"


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """What ``/healthz`` reports: the loop's progress and when a quiet loop counts as stalled."""

    progress: LoopProgress
    stall_after_s: float = 120.0


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _app(registry: CollectorRegistry, health: HealthCheck | None) -> Callable[[dict[str, Any], StartResponse],
                                                                               Iterable[bytes]]:
    metrics_app = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH:
            code, body = (200, {"status": "ok"}) if health is None else health.progress.health(health.stall_after_s)
            data = json.dumps(body).encode()
            reason = "OK" if code == 200 else "Service Unavailable"
            start_response(f"{code} {reason}", [("Content-Type", "application/json"),
                                                ("Content-Length", str(len(data))),
                                                ("Cache-Control", "no-store")])
            return [data]
        return metrics_app(environ, start_response)  # type: ignore[no-any-return]  # untyped library

    return app


def _family(host: str, port: int) -> socket.AddressFamily:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    return infos[0][0]


@dataclass
class MetricsServer:
    server: WSGIServer
    thread: threading.Thread
    host: str

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    @property
    def health_url(self) -> str:
        return f"http://{self.host}:{self.port}{HEALTH_PATH}"

    @classmethod
    def start(cls, registry: CollectorRegistry, host: str = "127.0.0.1", port: int = 0,
              health: HealthCheck | None = None) -> MetricsServer:
        try:
            server_class = type("MetricsWSGIServer", (_Server,), {"address_family": _family(host, port)})
            server: WSGIServer = make_server(host, port, _app(registry, health), server_class,
                                             handler_class=_QuietHandler)
        except OSError as exc:
            raise ConfigError(f"cannot serve metrics on {host}:{port}: {exc}") from exc
        thread = threading.Thread(target=server.serve_forever, name="finsentry-metrics", daemon=True)
        thread.start()
        return cls(server, thread, host)  # the caller logs where it serves

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
