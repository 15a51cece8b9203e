"""The detector's statistics (pure): beta-binomial tails, the spike score, the robust baseline.

Every function here is a plain function of counts and shares, tested against exact values in
tests/monitor/test_detector.py; docs/monitor.md has the long form.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

_P_CLIP = (0.005, 0.995)


@dataclass(frozen=True, slots=True)
class Baseline:
    share: float
    noise: float  # tau: extra-binomial standard deviation of the share
    blocks: int  # blocks of the key's own history used (0 = borrowed prior only)
    source: Literal["own", "prior", "warmup"]  # warmup: the whole stream's young history + the shipped prior


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
    step: Callable[[int], float]
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
