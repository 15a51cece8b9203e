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
* **Score.** ``z = sign(p - p0) sqrt(D) / sqrt(phi)``: ``D`` the binomial deviance of ``k``
  negatives in ``n`` items against ``p0`` (signed-root likelihood ratio: close to normal in
  the tail, unlike the Wald z) and ``phi = 1 + n tau^2 / (p0 (1 - p0))`` the over-dispersion.
* **Decision.** Fire when ``z >= z_on`` and ``p - p0 >= min_delta`` and ``k >= min_negative``
  and the key is out of its cooldown; critical when ``z >= z_critical`` (an episode may
  escalate once). Resolve once ``z < z_off`` has held for ``resolve_s``; then the key is
  quiet for ``cooldown_s``.

    >>> d = SpikeDetector(DetectorConfig())
    >>> d.advance(closed_end, {("all", "*"): {bucket: counts}})  # doctest: +SKIP
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from finsentry.records import AlertEvent
from finsentry.timeutil import as_utc
from monitor.buckets import ALL, EMPTY, Counts, KeyId, merge

if TYPE_CHECKING:
    from finsentry.settings import Settings

WINDOW_SCALES = (1, 2, 4, 16, 64)  # the adaptive window and longer multiples are all tested
PRIOR_ITEMS = 50  # strength (in items) of the whole-stream prior for keys with little history
_P_CLIP = (0.005, 0.995)

Severity = Literal["warning", "critical"]


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    bucket_s: int = 60
    window_min_s: int = 60
    window_max_s: int = 3 * 86_400
    min_items: int = 10
    min_negative: int = 5
    min_delta: float = 0.10
    baseline_s: int = 7 * 86_400
    block_s: int = 3600
    block_min_items: int = 5
    min_blocks: int = 6
    noise_floor: float = 0.02
    z_on: float = 4.5
    z_off: float = 2.0
    z_critical: float = 7.0
    resolve_s: int = 600
    cooldown_s: int = 1800

    @classmethod
    def from_settings(cls, s: Settings) -> DetectorConfig:
        return cls(
            bucket_s=s.bucket_seconds,
            window_min_s=s.detector_window_min_s,
            window_max_s=s.detector_window_max_s,
            min_items=s.detector_min_items,
            min_negative=s.detector_min_negative,
            min_delta=s.detector_min_delta,
            baseline_s=s.detector_baseline_s,
            block_s=s.detector_block_s,
            block_min_items=s.detector_block_min_items,
            min_blocks=s.detector_min_blocks,
            noise_floor=s.detector_noise_floor,
            z_on=s.detector_z_on,
            z_off=s.detector_z_off,
            z_critical=s.detector_z_critical,
            resolve_s=s.detector_resolve_s,
            cooldown_s=s.detector_cooldown_s,
        )

    @property
    def horizon_s(self) -> int:
        """How much history the detector needs behind the newest closed bucket."""
        return self.window_max_s + self.baseline_s + self.block_s


@dataclass(frozen=True, slots=True)
class Baseline:
    share: float
    noise: float  # tau: extra-binomial standard deviation of the share
    blocks: int  # blocks of the key's own history used (0 = borrowed prior only)
    source: Literal["own", "prior"]


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

    @property
    def share(self) -> float:
        return self.k / self.n if self.n else 0.0

    def figures(self) -> dict[str, float]:
        b = self.baseline
        return {
            "negative_share": round(self.share, 6),
            "baseline_negative_share": round(b.share, 6) if b else 0.0,
            "baseline_noise": round(b.noise, 6) if b else 0.0,
            "baseline_blocks": float(b.blocks) if b else 0.0,
            "negative_count": float(self.k),
            "window_items": float(self.n),
            "window_seconds": (self.window_end - self.window_start).total_seconds(),
            "z": round(self.z, 4),
        }


class KeyHistory:
    """Closed bucket counts of one key (sparse), with absolute block sums kept incrementally."""

    def __init__(self, bucket_s: int, block_s: int) -> None:
        self.bucket_s = bucket_s
        self.block_s = block_s
        self.starts: list[datetime] = []
        self.counts: dict[datetime, Counts] = {}
        self.blocks: dict[int, Counts] = {}
        # Baselines only read whole blocks before the window: cache them per last block and
        # forget the cache when an older block changes (late items, refreshes).
        self.baseline_cache: dict[int, object] = {}

    def _block(self, ts: datetime) -> int:
        return int(ts.timestamp()) // self.block_s

    def _touch(self, block: int) -> None:
        if self.baseline_cache and block <= max(self.baseline_cache):
            self.baseline_cache.clear()

    def put(self, ts: datetime, c: Counts) -> None:
        self._touch(self._block(ts))
        old = self.counts.get(ts)
        if old is None:
            bisect.insort(self.starts, ts)
        else:
            b = self._block(ts)
            self.blocks[b] = _sub(self.blocks[b], old)
        self.counts[ts] = c
        b = self._block(ts)
        self.blocks[b] = merge(self.blocks.get(b, EMPTY), c)

    def drop(self, ts: datetime) -> None:
        old = self.counts.pop(ts, None)
        if old is None:
            return
        self._touch(self._block(ts))
        self.starts.pop(bisect.bisect_left(self.starts, ts))
        b = self._block(ts)
        self.blocks[b] = _sub(self.blocks[b], old)

    def replace_range(self, start: datetime, end: datetime, fresh: Mapping[datetime, Counts]) -> None:
        """Make ``[start, end)`` equal to ``fresh`` (a re-read from the store)."""
        lo = bisect.bisect_left(self.starts, start)
        hi = bisect.bisect_left(self.starts, end)
        for ts in self.starts[lo:hi]:
            if ts not in fresh:
                self.drop(ts)
        for ts, c in fresh.items():
            if start <= ts < end and self.counts.get(ts) != c:
                self.put(ts, c)

    def prune(self, before: datetime) -> None:
        cut = bisect.bisect_left(self.starts, before)
        for ts in self.starts[:cut]:
            self.drop(ts)

    def window(self, end: datetime, cfg: DetectorConfig) -> tuple[datetime, Counts, bool]:
        """(window start, counts, enough volume) for the trailing window ending at ``end``."""
        wmin = end - timedelta(seconds=cfg.window_min_s)
        wmax = end - timedelta(seconds=cfg.window_max_s)
        i = bisect.bisect_left(self.starts, end) - 1
        acc = EMPTY
        start = wmin
        while i >= 0 and self.starts[i] >= wmin:
            acc = merge(acc, self.counts[self.starts[i]])
            i -= 1
        while acc.total < cfg.min_items and i >= 0 and self.starts[i] >= wmax:
            start = self.starts[i]
            acc = merge(acc, self.counts[start])
            i -= 1
        return start, acc, acc.total >= cfg.min_items

    def sum_range(self, start: datetime, end: datetime) -> Counts:
        lo = bisect.bisect_left(self.starts, start)
        hi = bisect.bisect_left(self.starts, end)
        neg = neu = pos = dup = 0
        score = 0.0
        counts = self.counts
        for ts in self.starts[lo:hi]:  # plain ints: this is the detector's innermost loop
            c = counts[ts]
            neg += c.n_negative
            neu += c.n_neutral
            pos += c.n_positive
            dup += c.n_duplicates
            score += c.score_sum
        return Counts(neg, neu, pos, dup, score)

    def block_shares(
        self, before: datetime, cfg: DetectorConfig
    ) -> tuple[list[float], list[int], Counts, int]:
        """Shares and sizes of qualifying whole blocks before ``before`` within the baseline,
        and the pooled counts of the blocks older than ``before - window_max`` (the key's
        settled history, for the prior of young keys)."""
        last = self._block(before) - 1  # the block holding ``before`` overlaps the window
        first = last - cfg.baseline_s // cfg.block_s + 1
        shares: list[float] = []
        sizes: list[int] = []
        pooled = EMPTY
        settled = self._block(before - timedelta(seconds=cfg.window_max_s))
        for j in range(first, last + 1):
            c = self.blocks.get(j)
            if c is None or c.total == 0:
                continue
            if j < settled:
                pooled = merge(pooled, c)
            if c.total >= cfg.block_min_items:
                shares.append(c.negative_share)
                sizes.append(c.total)
        return shares, sizes, pooled


def _sub(a: Counts, b: Counts) -> Counts:
    return Counts(
        a.n_negative - b.n_negative,
        a.n_neutral - b.n_neutral,
        a.n_positive - b.n_positive,
        a.n_duplicates - b.n_duplicates,
        a.score_sum - b.score_sum,
    )


def _log_pmf(x: int, n: int, p0: float, rho: float) -> float:
    """log P(X = x): beta-binomial with mean ``p0`` and intra-class correlation ``rho``
    (``rho`` ~ 0: plain binomial)."""
    log_choose = math.lgamma(n + 1) - math.lgamma(x + 1) - math.lgamma(n - x + 1)
    if rho < 1e-9:
        return log_choose + x * math.log(p0) + (n - x) * math.log1p(-p0)
    ab = 1 / rho - 1
    a, b = p0 * ab, (1 - p0) * ab
    return (
        log_choose
        + math.lgamma(x + a) + math.lgamma(n - x + b) - math.lgamma(n + ab)
        - math.lgamma(a) - math.lgamma(b) + math.lgamma(ab)
    )  # fmt: skip


def upper_tail(k: int, n: int, p0: float, rho: float) -> float:
    """P(X >= k) under the (beta-)binomial: one log-pmf at ``k``, then the pmf ratio upwards."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    term = 1.0
    total = 1.0
    if rho < 1e-9:
        odds = p0 / (1 - p0)
        step = lambda x: (n - x) / (x + 1) * odds  # noqa: E731 - P(x+1)/P(x)
    else:
        ab = 1 / rho - 1
        a, b = p0 * ab, (1 - p0) * ab
        step = lambda x: (n - x) / (x + 1) * (x + a) / (n - x - 1 + b)  # noqa: E731
    for x in range(k, n):
        term *= step(x)
        total += term
        if term < total * 1e-15:
            break
    return min(1.0, math.exp(_log_pmf(k, n, p0, rho)) * total)


_NORMAL = statistics.NormalDist()


def spike_score(k: int, n: int, p0: float, noise: float) -> float:
    """How surprising ``k`` negatives of ``n`` are against baseline share ``p0``, as a z value.

    The exact upper mid-p tail ``P(X > k) + P(X = k)/2`` of a beta-binomial whose share has mean ``p0`` and
    variance ``p0(1-p0)/n + noise^2`` (binomial sampling plus the baseline's over-dispersion),
    mapped to the standard normal scale: ``z = -Phi^-1(P)``. Exact tails keep small windows
    honest (a Wald z overstates 10 of 20 against 15 % by an order of magnitude).
    """
    p0 = min(max(p0, _P_CLIP[0]), _P_CLIP[1])
    if n <= 0 or k <= n * p0:
        return 0.0  # at or below the baseline: no evidence of a spike
    rho = min(0.5, noise * noise / (p0 * (1 - p0)))
    # mid-p: P(X > k) + P(X = k) / 2, the usual correction of a discrete test's conservatism
    tail = upper_tail(k, n, p0, rho) - 0.5 * math.exp(_log_pmf(k, n, p0, rho))
    return max(0.0, -_NORMAL.inv_cdf(min(max(tail, 1e-300), 0.5)))


def baseline_from_blocks(shares: list[float], sizes: list[int], noise_floor: float, trim: float = 0.1) -> Baseline:
    """Trimmed pooled share and Pearson over-dispersion of the history blocks.

    Blocks are ranked by share and the top and bottom ``trim`` fraction dropped (an earlier
    spike cannot lift the baseline; unlike a median of block shares, which sits at 0 for
    sparse keys whose blocks mostly hold no negative at all). ``p0 = sum k / sum n`` over the
    kept blocks; ``phi = sum n_j (s_j - p0)^2 / (p0 (1 - p0) (J - 1))`` is the Pearson
    dispersion, and ``tau^2 = (phi - 1) / (mean n - 1) * p0 (1 - p0)`` the extra variance of
    the share beyond binomial sampling (beta-binomial moment match), floored at noise_floor^2.
    """
    order = sorted(range(len(shares)), key=lambda j: (shares[j], j))
    cut = round(len(order) * trim)
    kept = order[cut : len(order) - cut] if len(order) - 2 * cut >= 2 else order
    n_tot = sum(sizes[j] for j in kept)
    k_tot = sum(shares[j] * sizes[j] for j in kept)
    p0 = k_tot / n_tot if n_tot else 0.0
    pc = min(max(p0, _P_CLIP[0]), _P_CLIP[1])
    tau2 = noise_floor**2
    if len(kept) >= 2:
        chi2 = sum(sizes[j] * (shares[j] - p0) ** 2 for j in kept) / (pc * (1 - pc))
        phi = chi2 / (len(kept) - 1)
        n_bar = n_tot / len(kept)
        if n_bar > 1 and phi > 1:
            tau2 = max(tau2, (phi - 1) / (n_bar - 1) * pc * (1 - pc))
    return Baseline(p0, math.sqrt(tau2), len(shares), "own")


@dataclass(slots=True)
class _Episode:
    alert_id: str
    onset: datetime
    severity: Severity
    below_since: datetime | None = None
    last: Evaluation | None = None


@dataclass(slots=True)
class _KeyState:
    episode: _Episode | None = None
    quiet_until: datetime | None = None
    last: Evaluation | None = None


def alert_id_for(key: KeyId, onset: datetime) -> str:
    return f"{key[0]}:{key[1]}:{as_utc(onset).strftime('%Y-%m-%dT%H:%M:%SZ')}"


@dataclass
class SpikeDetector:
    """Holds per-key history and episode state; :meth:`advance` is the only driver."""

    config: DetectorConfig = field(default_factory=DetectorConfig)

    def __post_init__(self) -> None:
        self.histories: dict[KeyId, KeyHistory] = {}
        self.states: dict[KeyId, _KeyState] = {}
        self.closed_end: datetime | None = None

    # --- state ---------------------------------------------------------------------------
    def knows(self, key: KeyId) -> bool:
        return key in self.histories

    def history(self, key: KeyId) -> KeyHistory:
        h = self.histories.get(key)
        if h is None:
            h = self.histories[key] = KeyHistory(self.config.bucket_s, self.config.block_s)
        return h

    def load(self, key: KeyId, series: Mapping[datetime, Counts], start: datetime, end: datetime) -> None:
        """(Re)load ``[start, end)`` of a key's closed buckets (restart rebuild, refresh)."""
        self.history(key).replace_range(as_utc(start), as_utc(end), {as_utc(t): c for t, c in series.items()})

    def restore_episode(self, key: KeyId, onset: datetime, severity: Severity) -> None:
        """Resume an episode that was firing before a restart (no second onset for it)."""
        state = self.states.setdefault(key, _KeyState())
        state.episode = _Episode(alert_id_for(key, onset), as_utc(onset), severity)

    def active_keys(self) -> list[KeyId]:
        return sorted(k for k, s in self.states.items() if s.episode is not None)

    def last_evaluation(self, key: KeyId) -> Evaluation | None:
        s = self.states.get(key)
        return s.last if s else None

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
        last = hist._block(window_start) - 1
        if last in hist.baseline_cache:
            return hist.baseline_cache[last]  # type: ignore[return-value]
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
        state = self.states.setdefault(key, _KeyState())
        ev = Evaluation(key, bucket, wstart, end, counts.total, counts.n_negative, base, z, False, None)
        ep = state.episode
        event: AlertEvent | None = None
        if ep is None:
            cooling = state.quiet_until is not None and bucket < state.quiet_until
            if (
                base is not None
                and not cooling
                and z >= cfg.z_on
                and ev.share - base.share >= cfg.min_delta
                and ev.k >= cfg.min_negative
            ):
                severity: Severity = "critical" if z >= cfg.z_critical else "warning"
                ep = state.episode = _Episode(alert_id_for(key, bucket), bucket, severity)
                event = self._event(ev, ep, "firing")
        elif z < cfg.z_off:
            ep.below_since = ep.below_since or bucket
            if (end - ep.below_since).total_seconds() >= cfg.resolve_s:
                event = self._event(ev, ep, "resolved", resolved_at=end)
                state.episode = None
                state.quiet_until = end + timedelta(seconds=cfg.cooldown_s)
                ep = None
        else:
            ep.below_since = None
            if z >= cfg.z_critical and ep.severity == "warning":
                ep.severity = "critical"
                event = self._event(ev, ep, "firing")
        ev = Evaluation(
            key, bucket, wstart, end, ev.n, ev.k, base, z,
            ep is not None, ep.severity if ep else None, event,
        )  # fmt: skip
        state.last = ev
        return ev

    def _event(
        self,
        ev: Evaluation,
        ep: _Episode,
        status: Literal["firing", "resolved"],
        resolved_at: datetime | None = None,
    ) -> AlertEvent:
        return AlertEvent(
            alert_id=ep.alert_id,
            status=status,
            key_type=ev.key[0],  # type: ignore[arg-type]
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
            lo = as_utc(refresh_from) if refresh_from is not None else None
            for key, series in fresh.items():
                start = lo if lo is not None else min(series, default=closed_end)
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
