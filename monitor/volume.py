"""Volume statistics (pure): is a key's *count* of negative items surprising for its own rate?

The share test (``monitor.stats``) misses a crisis whose negative share stays near the baseline
while the key's news volume jumps 5-40x. This module scores the count of negatives in a window
against the key's expected count, so a surge of volume is visible by itself.

Model: a key's rate of negative items per (effective) hour is ``lambda ~ Gamma(shape=a, rate=b)``
with a prior from the whole stream, updated by the key's own history (``k_h`` negatives over ``T_h``
effective hours: ``a + k_h``, ``b + T_h``). The count in a window of ``w`` effective hours is then
negative binomial (Gamma-Poisson): ``P(X = x) = C(x + a - 1, x) p^a (1 - p)^x`` with
``p = b / (b + w)``. Over-dispersion comes for free: a young key (small ``a``, ``b``) has a wide
predictive distribution, so its first few items are not surprising, while an overwhelming cluster
is. *Effective hours* weigh each hour by the stream's time-of-week profile, so the quiet night or
weekend does not make Monday morning's normal volume look like a surge.

The score is the mid-p upper tail ``P(X > k) + P(X = k) / 2`` mapped to a normal z, like the share
test, so both read on one scale.

    >>> round(count_score(12, RateBelief(shape=1.0, rate=24.0), window_h=1.0), 1)  # ~1/day, 12 in an hour
    8.5
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

_NORMAL = statistics.NormalDist()
HOURS_PER_WEEK = 168


@dataclass(frozen=True, slots=True)
class RateBelief:
    """Gamma belief about a rate per effective hour: mean ``shape / rate``; ``rate`` is in hours of evidence."""

    shape: float
    rate: float

    @property
    def mean(self) -> float:
        return self.shape / self.rate

    def updated(self, count: float, exposure_h: float) -> RateBelief:
        """Posterior after ``count`` events over ``exposure_h`` effective hours."""
        return RateBelief(self.shape + count, self.rate + exposure_h)


def prior_for_key(stream_rate_per_key_h: float, strength_h: float) -> RateBelief:
    """A key's prior: the stream's typical per-key rate, worth ``strength_h`` hours of evidence."""
    rate = max(strength_h, 1e-9)
    return RateBelief(max(stream_rate_per_key_h, 1e-9) * rate, rate)


def _log_pmf(x: int, shape: float, p: float) -> float:
    return (math.lgamma(x + shape) - math.lgamma(shape) - math.lgamma(x + 1)
            + shape * math.log(p) + x * math.log1p(-p))


def upper_tail(k: int, belief: RateBelief, window_h: float) -> float:
    """``P(X >= k)`` for the negative-binomial predictive count in ``window_h`` effective hours."""
    if k <= 0:
        return 1.0
    if window_h <= 0:
        return 0.0
    p = belief.rate / (belief.rate + window_h)
    q = 1.0 - p
    term = total = 1.0
    x = k
    while True:  # P(x+1)/P(x) = (x + a) / (x + 1) * q: sum upwards until the terms vanish
        term *= (x + belief.shape) / (x + 1) * q
        total += term
        x += 1
        if term < total * 1e-15 or x - k > 100_000:
            break
    return min(1.0, math.exp(_log_pmf(k, belief.shape, p)) * total)


def count_score(k: int, belief: RateBelief, window_h: float) -> float:
    """How surprising ``k`` events in ``window_h`` effective hours are, as a z value (0 at or below the mean)."""
    if window_h <= 0 or k <= belief.mean * window_h:
        return 0.0
    p = belief.rate / (belief.rate + window_h)
    tail = upper_tail(k, belief, window_h) - 0.5 * math.exp(_log_pmf(k, belief.shape, p))
    return max(0.0, -_NORMAL.inv_cdf(min(max(tail, 1e-300), 0.5)))


def week_profile(counts_by_hour_of_week: Sequence[float], smoothing: float = 1.0) -> list[float]:
    """Weights of the 168 hours of the week (Monday 00:00 UTC first), mean 1, from the stream's counts.

    ``smoothing`` pseudo-counts per hour keep an hour never seen from getting weight 0.
    """
    if len(counts_by_hour_of_week) != HOURS_PER_WEEK:
        raise ValueError(f"need {HOURS_PER_WEEK} hourly counts, got {len(counts_by_hour_of_week)}")
    smoothed = [c + smoothing for c in counts_by_hour_of_week]
    mean = sum(smoothed) / HOURS_PER_WEEK
    return [c / mean for c in smoothed]
