"""Exponential backoff, in one place: the delay policy and the per-dependency outage state.

Hand-written rather than ``tenacity``/``backoff``: the loop must stay interruptible by its stop event,
keep one delay state per dependency across loop iterations, and log an outage once when it starts
and once when it ends; the libraries' decorator model wraps a single call instead.

    >>> Backoff(base_s=0.5, cap_s=10).delay_s(3)
    2.0
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from finsentry.logs import get_logger

T = TypeVar("T")
log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Backoff:
    """``min(cap, base * 2**(attempt-1))`` seconds; with an ``rng``, scaled by a random factor in [1-jitter, 1]
    (alert delivery spreads retries of many targets; the ingest loop's own waits need no jitter)."""

    base_s: float = 1.0
    cap_s: float = 300.0
    jitter: float = 0.5

    def delay_s(self, attempt: int, rng: random.Random | None = None) -> float:
        raw: float = min(self.cap_s, self.base_s * 2 ** max(0, attempt - 1))
        if self.jitter and rng is not None:
            raw *= 1 - self.jitter * rng.random()
        return raw

    def delay(self, attempt: int, rng: random.Random | None = None) -> timedelta:
        return timedelta(seconds=self.delay_s(attempt, rng))


class Outage:
    """One dependency's failure state: growing delays, and whether a call starts or ends an outage."""

    def __init__(self, policy: Backoff) -> None:
        self.policy = policy
        self.attempts = 0

    @property
    def failing(self) -> bool:
        return self.attempts > 0

    def fail(self) -> float:
        """Count a failure; the delay (s) before the next try."""
        self.attempts += 1
        return self.policy.delay_s(self.attempts)

    def ok(self) -> bool:
        """Reset; True if this ends an outage."""
        was, self.attempts = self.failing, 0
        return was


_RETRY_POLICY = Backoff(base_s=0.5, cap_s=10.0)  # frozen: one shared default is safe


def retry_until(what: str, fn: Callable[[], T], stop: threading.Event, exc_types: tuple[type[Exception], ...],
                policy: Backoff = _RETRY_POLICY) -> T:
    """Call ``fn`` until it works (re-raising once ``stop`` is set), logging when it starts and stops failing."""
    outage = Outage(policy)
    while True:
        try:
            out = fn()
        except exc_types as exc:
            if not outage.failing:
                log.warning(f"{what}.unreachable", error=str(exc), retry="with backoff")
            if stop.wait(outage.fail()):
                raise
            continue
        if outage.ok():
            log.info(f"{what}.reachable")
        return out
