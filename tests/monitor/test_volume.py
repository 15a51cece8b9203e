"""Volume statistics: the negative-binomial tail against an independent implementation, the score's
shape (a young key's first items are not a surge, an overwhelming cluster is), the week profile."""

from __future__ import annotations

import math

import pytest

from monitor.volume import RateBelief, count_score, prior_for_key, upper_tail, week_profile


def _tail_by_summation(k: int, belief: RateBelief, w: float) -> float:
    p = belief.rate / (belief.rate + w)
    pmf = [math.exp(math.lgamma(x + belief.shape) - math.lgamma(belief.shape) - math.lgamma(x + 1)
                    + belief.shape * math.log(p) + x * math.log1p(-p)) for x in range(k)]
    return 1.0 - sum(pmf)


@pytest.mark.parametrize(("k", "shape", "rate", "w"), [
    (1, 3.5, 10.0, 2.0), (3, 3.5, 10.0, 2.0), (8, 3.5, 10.0, 2.0), (5, 0.2, 24.0, 1.0), (2, 40.0, 2.0, 0.5),
])
def test_upper_tail_matches_direct_summation(k: int, shape: float, rate: float, w: float) -> None:
    belief = RateBelief(shape, rate)
    assert upper_tail(k, belief, w) == pytest.approx(_tail_by_summation(k, belief, w), rel=1e-9, abs=1e-12)


def test_posterior_and_prior() -> None:
    prior = prior_for_key(stream_rate_per_key_h=0.05, strength_h=48)
    assert prior.mean == pytest.approx(0.05) and prior.rate == 48
    post = prior.updated(count=10, exposure_h=100)
    assert (post.shape, post.rate) == (pytest.approx(12.4), 148)


def test_a_surge_scores_high_and_normal_volume_does_not() -> None:
    quiet_key = prior_for_key(0.02, 48).updated(count=2, exposure_h=7 * 24)  # ~1 negative every 3 days
    assert count_score(1, quiet_key, window_h=1) < 2.5  # one item: not a surge
    assert count_score(2, quiet_key, window_h=1) < 4.5
    assert count_score(8, quiet_key, window_h=3) > 6  # eight in three hours: a surge
    busy_key = prior_for_key(0.02, 48).updated(count=7 * 24 * 2, exposure_h=7 * 24)  # 2 an hour, always
    assert count_score(3, busy_key, window_h=1) < 2
    assert count_score(0, busy_key, window_h=1) == 0.0


def test_more_history_sharpens_the_same_count() -> None:
    young = prior_for_key(0.1, 24)
    old = young.updated(count=0.1 * 24 * 30, exposure_h=24 * 30)  # same mean, a month of evidence
    assert young.mean == pytest.approx(old.mean)
    assert count_score(6, old, window_h=2) > count_score(6, young, window_h=2)


def test_week_profile() -> None:
    counts = [10.0 if h % 24 in range(8, 20) else 0.0 for h in range(168)]
    prof = week_profile(counts)
    assert len(prof) == 168 and sum(prof) / 168 == pytest.approx(1.0)
    assert prof[9] > 1 > prof[2] > 0
    with pytest.raises(ValueError):
        week_profile([1.0] * 24)
