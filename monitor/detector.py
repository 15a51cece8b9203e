"""Negative-spike detector: per key, recent negative share vs a robust baseline (pure).

Event time only: the detector is advanced to the end of the newest *closed* bucket and sees
bucket counts, never the wall clock, so replaying a stream gives the same alerts. The maths
(every parameter is a ``detector_*`` setting; docs/monitor.md has the long form):

* **Window.** At bucket ``b`` (ending at ``t``) the window starts as ``[t - window_min, t)``
  and grows back bucket by bucket until it holds ``min_items`` unique items or would pass
  ``window_max``. Dense keys get a one-minute window (fast detection); sparse keys a longer
  one. Fewer than ``min_items`` within ``window_max``: no test (score 0).
* **Baseline.** The key's history before the window (``baseline_s``) is cut into absolute
  ``block_s`` blocks; blocks with ``>= block_min_items`` give shares ``s_j``. The baseline is
  the pooled share of the blocks left after dropping the 10 % highest and lowest shares
  (robust to earlier spikes, unbiased for sparse keys) and ``tau`` the Pearson
  over-dispersion of those blocks, at least ``noise_floor``. With fewer than
  ``min_blocks`` blocks the key borrows the whole-stream baseline, shrunk towards its own
  pooled history older than ``window_max`` (a new name's first items are the story itself):
  ``p0 = (k_h + m p_all) / (n_h + m)`` with ``m = PRIOR_ITEMS``.
* **Score.** ``z = -Phi^-1(P)`` with ``P`` the exact upper mid-p tail ``P(X > k) + P(X = k)/2`` of
  ``k`` negatives in ``n`` items under a beta-binomial with mean ``p0`` and share variance
  ``p0 (1 - p0) / n + tau^2`` (:func:`monitor.stats.spike_score`); the window is also tested at
  longer multiples (``WINDOW_SCALES``) and the strongest window that could fire sets ``z``.
* **Volume.** For ``volume_key_types`` (companies by default) the count of negatives in 1 h /
  6 h / 24 h windows is also tested against the key's own Gamma-Poisson rate in effective
  (time-of-week weighted) hours (:class:`monitor.volume.VolumeTest`); the stronger test sets ``z``.
* **Warm-up.** Until the whole stream has ``min_blocks`` blocks, its baseline is its young history
  pooled with the shipped prior ``warmup_prior_share`` (spread ``warmup_prior_noise``).
* **Decision.** Fire when ``z >= z_on`` and ``p - p0 >= min_delta`` and ``k >= min_negative``
  and the key is out of its cooldown; critical when ``z >= z_critical`` (an episode may
  escalate once). Resolve once ``z < z_off`` has held for ``resolve_s``; then the key is
  quiet for ``cooldown_s``.

    >>> d = SpikeDetector(DetectorConfig())
    >>> d.advance(closed_end, {("all", "*"): {bucket: counts}})  # doctest: +SKIP
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, cast

from finsentry.records import AlertEvent, KeyType
from finsentry.timeutil import as_utc
from monitor.buckets import ALL, Counts, KeyId
from monitor.detector_config import DetectorConfig as DetectorConfig  # re-exported: the detector's API
from monitor.episodes import Episode, KeyState, Severity, alert_id_for
from monitor.history import KeyHistory
from monitor.stats import Baseline, baseline_from_blocks, spike_score
from monitor.volume import NegativesByType, VolumeTest

WINDOW_SCALES = (1, 2, 4, 16, 64)  # the adaptive window and longer multiples are all tested
PRIOR_ITEMS = 50  # strength (in items) of the whole-stream prior for keys with little history


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One test of one key at one closed bucket (what the gauges show)."""

    key: KeyId
    bucket_start: datetime
    window_start: datetime
    window_end: datetime
    n: int
    k: int
    baseline: Baseline | None
    z: float
    active: bool
    severity: Severity | None
    event: AlertEvent | None = None
    expected: float | None = None  # negatives the volume test expected in the window (when it set the score)

    @property
    def share(self) -> float:
        return self.k / self.n if self.n else 0.0

    def figures(self) -> dict[str, float]:
        b = self.baseline
        extra = {"expected_negative_count": round(self.expected, 4)} if self.expected is not None else {}
        return extra | {
            "negative_share": round(self.share, 6),
            "baseline_negative_share": round(b.share, 6) if b else 0.0,
            "baseline_noise": round(b.noise, 6) if b else 0.0,
            "baseline_blocks": float(b.blocks) if b else 0.0,
            "negative_count": float(self.k),
            "window_items": float(self.n),
            "window_seconds": (self.window_end - self.window_start).total_seconds(),
            "z": round(self.z, 4),
        }


@dataclass
class SpikeDetector:
    """Holds per-key history and episode state; :meth:`advance` is the only driver."""

    config: DetectorConfig = field(default_factory=DetectorConfig)
    negatives_by_type: NegativesByType | None = None  # the volume test's prior source (the store)

    def __post_init__(self) -> None:
        self.histories: dict[KeyId, KeyHistory] = {}
        self.states: dict[KeyId, KeyState] = {}
        self.closed_end: datetime | None = None
        self._first: datetime | None = None  # the oldest bucket ever loaded: where the stream starts
        self._volume_test = VolumeTest(self.config, self.histories, self.negatives_by_type)

    # --- state ---------------------------------------------------------------------------
    def knows(self, key: KeyId) -> bool:
        return key in self.histories

    def history(self, key: KeyId) -> KeyHistory:
        h = self.histories.get(key)
        if h is None:
            h = self.histories[key] = KeyHistory(self.config.block_s)
        return h

    def load(self, key: KeyId, series: Mapping[datetime, Counts], start: datetime, end: datetime) -> None:
        """(Re)load ``[start, end)`` of a key's closed buckets (restart rebuild, refresh)."""
        self.history(key).replace_range(as_utc(start), as_utc(end), {as_utc(t): c for t, c in series.items()})
        if series:
            oldest = as_utc(min(series))
            self._first = oldest if self._first is None else min(self._first, oldest)

    def restore_episode(self, key: KeyId, onset: datetime, severity: Severity) -> None:
        """Resume an episode that was firing before a restart (no second onset for it)."""
        state = self.states.setdefault(key, KeyState())
        state.episode = Episode(alert_id_for(key, onset), as_utc(onset), severity)

    def active_keys(self) -> list[KeyId]:
        return sorted(k for k, s in self.states.items() if s.episode is not None)

    def prune(self) -> None:
        if self.closed_end is None:
            return
        before = self.closed_end - timedelta(seconds=self.config.horizon_s)
        for key in list(self.histories):
            h = self.histories[key]
            h.prune(before)
            state = self.states.get(key)
            if not h.starts and (state is None or state.episode is None):
                del self.histories[key]
                self.states.pop(key, None)

    # --- the test ------------------------------------------------------------------------
    def baseline(self, key: KeyId, window_start: datetime) -> Baseline | None:
        cfg = self.config
        hist = self.history(key)
        last = hist.block_of(window_start) - 1
        if last in hist.baseline_cache:
            return hist.baseline_cache[last]
        shares, sizes, pooled = hist.block_shares(window_start, cfg)
        result: Baseline | None = None
        if len(shares) >= cfg.min_blocks:
            result = baseline_from_blocks(shares, sizes, cfg.noise_floor)
        elif key != ALL:
            prior = self.baseline(ALL, window_start)
            if prior is not None:
                # Only history older than window_max is the key's usual tone: a new name's
                # first items are usually the story itself (SVB, 9-10 March 2023).
                share = (pooled.n_negative + PRIOR_ITEMS * prior.share) / (pooled.total + PRIOR_ITEMS)
                result = Baseline(share, max(prior.noise, cfg.noise_floor), len(shares), "prior")
        elif cfg.warmup_prior_share > 0:
            # A fresh deployment: the whole stream's own young history pooled with the shipped
            # prior, wide (warmup_prior_noise), so only an overwhelming surge can fire.
            own = hist.sum_range(window_start - timedelta(seconds=cfg.baseline_s), window_start)
            share = (own.n_negative + PRIOR_ITEMS * cfg.warmup_prior_share) / (own.total + PRIOR_ITEMS)
            result = Baseline(share, max(cfg.warmup_prior_noise, cfg.noise_floor), len(shares), "warmup")
        if len(hist.baseline_cache) > 64:
            hist.baseline_cache.clear()
        hist.baseline_cache[last] = result
        return result

    def evaluate(self, key: KeyId, bucket: datetime) -> Evaluation:
        """Test ``key`` at the closed bucket starting at ``bucket`` and update its episode."""
        cfg = self.config
        end = bucket + timedelta(seconds=cfg.bucket_s)
        hist = self.history(key)
        wstart, counts, enough = hist.window(end, cfg)
        base = self.baseline(key, wstart) if enough else None
        z = spike_score(counts.n_negative, counts.total, base.share, base.noise) if base else 0.0
        if base is not None:
            # Longer windows accumulate evidence of ramps and sustained shifts; the strongest
            # one that could fire (excess >= min_delta) sets the score.
            span = end - wstart
            for scale in WINDOW_SCALES[1:]:
                if (span * scale).total_seconds() > cfg.window_max_s:
                    break
                s_start = end - span * scale
                s_counts = hist.sum_range(s_start, end)
                if s_counts.negative_share - base.share < cfg.min_delta:
                    continue  # a window that cannot fire does not set the score either
                s_z = spike_score(s_counts.n_negative, s_counts.total, base.share, base.noise)
                if s_z > z:
                    wstart, counts, z = s_start, s_counts, s_z
        share_fires = (base is not None and z >= cfg.z_on and counts.n_negative >= cfg.min_negative
                       and counts.negative_share - base.share >= cfg.min_delta)
        volume = self._volume_test.score(key, hist, end, self._first)
        volume_fires = volume is not None and volume[0] >= cfg.volume_z_on
        expected = None
        if volume is not None and volume[0] > z and (volume_fires or not share_fires):
            z, wstart, counts, expected = volume  # the stronger test sets the score and the window shown
        state = self.states.setdefault(key, KeyState())
        ev = Evaluation(key, bucket, wstart, end, counts.total, counts.n_negative, base, z, False, None, None, expected)
        ep, status = state.step(key, bucket, end, z, share_fires or volume_fires, cfg)
        event = (
            self._event(ev, ep, status, resolved_at=end if status == "resolved" else None)
            if ep is not None and status is not None
            else None
        )  # step() returns an episode exactly when it returns a status
        active = state.episode
        ev = Evaluation(
            key, bucket, wstart, end, ev.n, ev.k, base, z,
            active is not None, active.severity if active else None, event, expected,
        )  # fmt: skip
        state.last = ev
        return ev

    def _event(
        self,
        ev: Evaluation,
        ep: Episode,
        status: Literal["firing", "resolved"],
        resolved_at: datetime | None = None,
    ) -> AlertEvent:
        return AlertEvent(
            alert_id=ep.alert_id,
            status=status,
            key_type=cast(KeyType, ev.key[0]),  # keys are built from the KeyType values
            key=ev.key[1],
            severity=ep.severity,
            started_at=ep.onset,
            resolved_at=resolved_at,
            figures=ev.figures(),
        )

    def advance(
        self,
        closed_end: datetime,
        fresh: Mapping[KeyId, Mapping[datetime, Counts]] | None = None,
        refresh_from: datetime | None = None,
    ) -> list[Evaluation]:
        """Take in closed buckets up to ``closed_end`` and test what changed.

        ``fresh`` holds each touched key's buckets in ``[refresh_from, closed_end)`` (re-read
        from the store, so other instances' counts and late items are in). Keys are tested
        at each of their non-empty buckets newer than the previous ``closed_end``, and keys
        in an episode at every bucket (so they can resolve). The whole stream goes first.
        """
        closed_end = as_utc(closed_end)
        prev = self.closed_end
        if fresh:
            since = as_utc(refresh_from) if refresh_from is not None else None
            for key, series in fresh.items():
                start = since if since is not None else min(series, default=closed_end)
                self.load(key, series, start, closed_end)
        if prev is not None and closed_end <= prev:
            return []
        step = timedelta(seconds=self.config.bucket_s)
        first = prev if prev is not None else self._earliest(closed_end)
        todo: dict[datetime, set[KeyId]] = {}
        for key, h in self.histories.items():
            lo = bisect.bisect_left(h.starts, first)
            hi = bisect.bisect_left(h.starts, closed_end)
            for ts in h.starts[lo:hi]:
                todo.setdefault(ts, set()).add(key)
        out: list[Evaluation] = []
        order = sorted(todo)
        t = first
        active = set(self.active_keys())
        while t < closed_end:
            keys = todo.get(t, set()) | active
            if keys:
                for key in sorted(keys, key=lambda k: (k != ALL, k)):
                    ev = self.evaluate(key, t)
                    out.append(ev)
                    if ev.active:
                        active.add(key)
                    else:
                        active.discard(key)
            if not active:
                # Jump to the next bucket that has data (sparse streams skip empty hours).
                i = bisect.bisect_right(order, t)
                t = order[i] if i < len(order) else closed_end
            else:
                t += step
        self.closed_end = closed_end
        return out

    def _earliest(self, closed_end: datetime) -> datetime:
        return min((h.starts[0] for h in self.histories.values() if h.starts), default=closed_end)
