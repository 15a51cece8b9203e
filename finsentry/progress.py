"""The consumer loop's liveness, shared between the loop (writer) and ``/healthz`` (reader).

    progress = LoopProgress()                       # app.root builds one and hands it to both
    progress.beat(assigned=4)                       # the loop, once per iteration
    progress.set_lag(120); progress.error("store.unavailable", "connection refused")
    code, body = progress.health(stall_after_s=120) # (200 | 503, JSON-ready dict)

Healthy (200) means the loop completed an iteration within ``stall_after_s`` (or has no partitions
to work on). Unhealthy (503): it has never started an iteration, or it holds partitions and has
not moved for longer than ``stall_after_s`` (stuck in a call that does not return). A loop that
iterates while the store or the broker is down stays 200: it is alive and backing off, and
``last_error`` says why nothing is stored; restarting it would not help. Except a *fault*
(:meth:`LoopProgress.fault`): a condition an operator must fix, e.g. the store refuses writes
for lack of permission; health is 503 ("faulted") until the loop clears it.

Base layer: no import of ``ingest`` or ``monitor``, so both can use it. Time is an injected clock
(seconds, monotonic by default), so tests move it by hand.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from finsentry.redact import redact_url

_ERROR_CHARS = 300


@dataclass(frozen=True, slots=True)
class ProgressSnapshot:
    """One consistent reading of :class:`LoopProgress` (times on its clock)."""

    now: float
    last_beat: float | None
    iterations: int
    assigned: int
    lag: int | None
    last_error: str | None
    last_error_at: float | None
    fault: str | None = None


class LoopProgress:
    """Thread-safe progress of one consumer loop. Example: ``LoopProgress(clock=lambda: 0.0)``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._last_beat: float | None = None
        self._iterations = 0
        self._assigned = 0
        self._lag: int | None = None
        self._error: str | None = None
        self._error_at: float | None = None
        self._fault: str | None = None

    def beat(self, assigned: int) -> None:
        """The loop completed (or began) one more iteration and holds ``assigned`` partitions."""
        now = self.clock()
        with self._lock:
            self._last_beat = now
            self._iterations += 1
            self._assigned = assigned

    def set_lag(self, lag: int) -> None:
        with self._lock:
            self._lag = lag

    def error(self, event: str, detail: str = "") -> None:
        """The latest error the loop met (``event`` is its log event name); secrets masked."""
        # "event - detail" never parses as one URL (the space comes before any colon), so
        # redact_url masks loosely: user:password@, token=..., token-like words.
        text = redact_url(f"{event} - {detail}" if detail else event)
        now = self.clock()
        with self._lock:
            self._error = text[:_ERROR_CHARS]
            self._error_at = now

    def fault(self, reason: str | None) -> None:
        """Set (or clear, with None) a fault an operator must fix: /healthz answers 503 meanwhile."""
        with self._lock:
            self._fault = None if reason is None else redact_url(reason)[:_ERROR_CHARS]

    def snapshot(self) -> ProgressSnapshot:
        now = self.clock()
        with self._lock:
            return ProgressSnapshot(now, self._last_beat, self._iterations, self._assigned, self._lag,
                                    self._error, self._error_at, self._fault)

    def health(self, stall_after_s: float) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body) for ``/healthz``; see the module docstring for the rule."""
        s = self.snapshot()
        age = None if s.last_beat is None else round(max(0.0, s.now - s.last_beat), 3)
        if s.fault is not None:
            status = "faulted"
        elif age is None:
            status = "starting"
        elif s.assigned and age > stall_after_s:
            status = "stalled"
        else:
            status = "ok" if s.assigned else "idle"
        body: dict[str, Any] = {
            "status": status,
            "progress_age_s": age,
            "stall_after_s": stall_after_s,
            "iterations": s.iterations,
            "assigned_partitions": s.assigned,
            "lag": s.lag,
            "last_error": s.last_error,
            "last_error_age_s": None if s.last_error_at is None else round(max(0.0, s.now - s.last_error_at), 3),
            "fault": s.fault,
        }
        return (200 if status in ("ok", "idle") else 503), body
