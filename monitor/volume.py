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

:class:`VolumeTest` applies this to the detector's key histories: the week profile from the whole
stream, the prior from the stream's typical key of the type, the key's own week, the gates
(docs/monitor.md, "Volume test").

    >>> round(count_score(12, RateBelief(shape=1.0, rate=24.0), window_h=1.0), 1)  # ~1/day, 12 in an hour
    8.5
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from monitor.buckets import ALL, Counts, KeyId

if TYPE_CHECKING:
    from monitor.detector_config import DetectorConfig
    from monitor.history import KeyHistory

_NORMAL = statistics.NormalDist()
HOURS_PER_WEEK = 168
VOLUME_WARMUP_S = 2 * 3600  # stream seen before the volume test runs (its prior comes from the stream)


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


_EPOCH_MONDAY_OFFSET_H = 72  # 1970-01-01 00:00 UTC was a Thursday: 72 h after Monday 00:00


@dataclass(frozen=True, slots=True)
class TimeProfile:
    """How busy each hour of the week is (168 weights, Monday 00:00 UTC first, mean 1).

    ``exposure_h(start, end)`` is the window's length in *effective hours*: a quiet night hour
    counts less than a Monday-morning hour, so a rate learned over a week applies to any window.
    """

    weights: tuple[float, ...]
    prefix: tuple[float, ...]  # prefix[i] = sum(weights[:i]); prefix[168] == 168

    @classmethod
    def from_weights(cls, weights: Sequence[float]) -> TimeProfile:
        if len(weights) != HOURS_PER_WEEK:
            raise ValueError(f"need {HOURS_PER_WEEK} weights, got {len(weights)}")
        mean = sum(weights) / HOURS_PER_WEEK
        w = tuple(x / mean for x in weights) if mean > 0 else (1.0,) * HOURS_PER_WEEK
        prefix = [0.0]
        for x in w:
            prefix.append(prefix[-1] + x)
        return cls(w, tuple(prefix))

    @classmethod
    def uniform(cls) -> TimeProfile:
        return cls.from_weights([1.0] * HOURS_PER_WEEK)

    def _cumulative(self, epoch_s: float) -> float:
        hours = epoch_s / 3600.0 + _EPOCH_MONDAY_OFFSET_H
        whole = math.floor(hours)
        week, pos = divmod(whole, HOURS_PER_WEEK)
        return week * HOURS_PER_WEEK + self.prefix[pos] + (hours - whole) * self.weights[pos]

    def exposure_h(self, start_s: float, end_s: float) -> float:
        """Effective hours between two epoch times (seconds)."""
        return max(0.0, self._cumulative(end_s) - self._cumulative(start_s))


def day_type_profile(hourly: dict[int, int], first_hour: int, last_hour: int, pseudo_days: float = 2.0) -> TimeProfile:
    """A week profile from a key's item counts per hour (epoch hour -> items) over ``[first_hour, last_hour)``.

    Hours are pooled by (weekday or weekend, hour of day): 48 slots, so one week of history is
    five samples per weekday slot. Each slot's rate is shrunk towards the overall rate by
    ``pseudo_days`` days of it, so a short or empty history gives a flat profile.
    """
    sums = [0.0] * 48
    seen = [0] * 48
    total = 0.0
    for h in range(first_hour, last_hour):
        week_hour = (h + _EPOCH_MONDAY_OFFSET_H) % HOURS_PER_WEEK
        slot = (24 if week_hour >= 120 else 0) + week_hour % 24
        c = hourly.get(h, 0)
        sums[slot] += c
        seen[slot] += 1
        total += c
    hours = last_hour - first_hour
    if hours <= 0 or total <= 0:
        return TimeProfile.uniform()
    overall = total / hours
    rates = [(sums[i] + pseudo_days * overall) / (seen[i] + pseudo_days) for i in range(48)]
    return TimeProfile.from_weights([rates[(24 if wh >= 120 else 0) + wh % 24] for wh in range(HOURS_PER_WEEK)])


NegativesByType = Callable[[str, datetime, datetime], tuple[int, int]]
"""(key type, start, end) -> (negatives of all keys of that type in [start, end), keys with any)."""


class VolumeTest:
    """The detector's volume test over its key histories (pure; caches per hour).

    ``score`` is called by :class:`monitor.detector.SpikeDetector` for each tested key; ``first`` is
    the oldest bucket the detector has seen (where the stream starts), so an empty past before a
    fresh deployment is not taken for silence.
    """

    def __init__(self, config: DetectorConfig, histories: Mapping[KeyId, KeyHistory],
                 negatives_by_type: NegativesByType | None = None) -> None:
        self.config = config
        self.histories = histories  # the detector's own dict: read, never written
        # Where a typical key's negatives come from: the store (the service) — every key, so a
        # restarted instance with few keys loaded tests like an in-order one — or, without a store
        # (pure use, tests), the keys loaded here.
        self.negatives_by_type = negatives_by_type
        self._rate_cache: dict[tuple[str, int], float] = {}  # (key type, hour) -> typical negatives per eff. hour
        self._profile_cache: dict[int, TimeProfile] = {}  # hour -> the stream's week profile before it

    def score(
        self, key: KeyId, hist: KeyHistory, end: datetime, first: datetime | None
    ) -> tuple[float, datetime, Counts, float] | None:
        """The strongest volume test of ``key`` over the trailing windows ending at ``end``.

        Negatives in the window against a Gamma-Poisson belief about the key's own rate: the
        prior (``volume_prior_per_day``, worth ``volume_prior_days`` of evidence) updated by the
        key's negatives in the ``baseline_s`` before the window. A window qualifies only with at
        least ``volume_min_negative`` negatives, a negative share of ``volume_min_share`` and
        ``volume_min_ratio`` times the expected count.
        """
        cfg = self.config
        if key[0] not in cfg.volume_key_types:
            return None
        best: tuple[float, datetime, Counts, float] | None = None
        dense = key[0] in cfg.volume_dense_key_types
        warmup = cfg.volume_dense_warmup_s if dense else VOLUME_WARMUP_S
        if first is None or (end - first).total_seconds() < warmup:
            return None  # too little of the stream seen to know what a typical key's volume is
        profile: TimeProfile | None = None
        for length_s in cfg.volume_windows_s:
            start = end - timedelta(seconds=length_s)
            counts = hist.sum_range(start, end)
            if counts.n_negative < cfg.volume_min_negative or counts.negative_share < cfg.volume_min_share:
                continue
            if profile is None:  # only windows that pass the gate need the stream's profile
                profile = self._profile(end - timedelta(seconds=min(cfg.volume_windows_s)), first)
            prior = prior_for_key(self._typical_rate_h(key[0], start, profile, first), cfg.volume_prior_days * 24.0)
            h_start = start - timedelta(seconds=cfg.baseline_s)
            if first is not None:
                h_start = max(h_start, min(first, start))
            past = hist.sum_range(h_start, start)
            belief = prior.updated(past.n_negative, profile.exposure_h(h_start.timestamp(), start.timestamp()))
            hours = profile.exposure_h(start.timestamp(), end.timestamp())
            ratio = cfg.volume_dense_min_ratio if dense else cfg.volume_min_ratio
            if counts.n_negative < ratio * belief.mean * hours:
                continue
            z = count_score(counts.n_negative, belief, hours)
            if dense:
                z *= cfg.volume_z_on / cfg.volume_dense_z_on  # dense keys fire at their own threshold
            if best is None or z > best[0]:
                best = (z, start, counts, belief.mean * hours)
        return best

    def _profile(self, before: datetime, first: datetime | None) -> TimeProfile:
        """The whole stream's time-of-week profile over the ``baseline_s`` before ``before`` (flat
        when ``volume_profile`` is off or little is known): news has a daily and weekly cycle."""
        cfg = self.config
        hour = int(before.timestamp()) // 3600
        cached = self._profile_cache.get(hour)
        if cached is not None:
            return cached
        profile = TimeProfile.uniform()
        hist = self.histories.get(ALL)
        if cfg.volume_profile and hist is not None and first is not None:
            first_hour = max(hour - cfg.baseline_s // 3600, int(first.timestamp()) // 3600)
            lo = bisect.bisect_left(hist.starts, datetime.fromtimestamp(first_hour * 3600, tz=before.tzinfo))
            hi = bisect.bisect_left(hist.starts, datetime.fromtimestamp(hour * 3600, tz=before.tzinfo))
            hourly: dict[int, int] = {}
            for ts in hist.starts[lo:hi]:
                h = int(ts.timestamp()) // 3600
                hourly[h] = hourly.get(h, 0) + hist.counts[ts].total
            profile = day_type_profile(hourly, first_hour, hour, cfg.volume_profile_pseudo_days)
        if len(self._profile_cache) > 64:
            self._profile_cache.clear()
        self._profile_cache[hour] = profile
        return profile

    def _typical_rate_h(self, key_type: str, before: datetime, profile: TimeProfile, first: datetime | None) -> float:
        """Negatives per hour of a typical key of ``key_type`` in the baseline before ``before``: the
        stream's negatives over the keys of that type seen, never below ``volume_prior_per_day``.

        A busy feed's keys start from the feed's own scale (a fresh deployment does not alert on
        every busy name in its first hours); a quiet feed's from the configured floor.
        """
        cfg = self.config
        block = int(before.timestamp()) // 3600
        cached = self._rate_cache.get((key_type, block))
        if cached is not None:
            return cached
        lo = before - timedelta(seconds=cfg.baseline_s)
        if first is not None:
            lo = max(lo, min(first, before))
        hours = profile.exposure_h(lo.timestamp(), before.timestamp())
        floor = cfg.volume_prior_per_day / 24.0
        rate = floor
        if hours >= 1.0:
            negatives, keys = self._negatives(key_type, lo, before)
            if keys:
                rate = max(floor, negatives / keys / hours)
        if len(self._rate_cache) > 256:
            self._rate_cache.clear()
        self._rate_cache[(key_type, block)] = rate
        return rate

    def _negatives(self, key_type: str, lo: datetime, hi: datetime) -> tuple[int, int]:
        if self.negatives_by_type is not None:
            return self.negatives_by_type(key_type, lo, hi)
        negatives, keys = 0, 0
        for (kt, _), h in self.histories.items():
            if kt != key_type:
                continue
            n = h.sum_range(lo, hi).n_negative
            if n:
                negatives += n
                keys += 1
        return negatives, keys
