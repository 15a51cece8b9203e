"""Serve a metrics registry on ``/metrics`` (prometheus_client's WSGI server in a thread).

    server = MetricsServer.start(metrics.registry, "127.0.0.1", 0)   # 0 = a free port
    server.port; server.close()
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from finsentry.errors import ConfigError


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

    @classmethod
    def start(cls, registry: CollectorRegistry, host: str = "127.0.0.1", port: int = 0) -> MetricsServer:
        try:
            server, thread = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            raise ConfigError(f"cannot serve metrics on {host}:{port}: {exc}") from exc
        return cls(server, thread, host)  # the caller logs where it serves

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
