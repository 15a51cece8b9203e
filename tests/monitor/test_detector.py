"""Detector units: the score, the robust baseline, the prior for young keys, hysteresis,
cooldown, restored episodes and alert ids."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

import pytest

from monitor.buckets import ALL, Counts
from monitor.detector import DetectorConfig, SpikeDetector
from monitor.episodes import alert_id_for
from monitor.stats import baseline_from_blocks, spike_score, upper_tail
from tests.monitor.synthetic import T0

CFG = DetectorConfig(block_s=600, min_blocks=3, baseline_s=6 * 3600, window_max_s=3600)
MIN = timedelta(minutes=1)


def calm(neg: int = 3, n: int = 20) -> Counts:
    return Counts(n_negative=neg, n_neutral=n - neg - 5, n_positive=5, score_sum=0.0)


def test_upper_tail_matches_the_exact_binomial() -> None:
    exact = sum(math.comb(20, x) * 0.15**x * 0.85 ** (20 - x) for x in range(10, 21))
    assert upper_tail(10, 20, 0.15, 0.0) == pytest.approx(exact, rel=1e-9)
    assert upper_tail(0, 20, 0.15, 0.0) == 1.0 and upper_tail(21, 20, 0.15, 0.0) == 0.0
    # Over-dispersion fattens the tail: the same count is less surprising.
    assert upper_tail(10, 20, 0.15, 0.05) > exact


@pytest.mark.parametrize(
    ("k", "n", "expect"),
    [(3, 20, (0.0, 1.0)), (10, 20, (3.0, 3.6)), (30, 60, (5.0, 6.0)), (300, 300, (20.0, 40.0))],
)
def test_spike_score_is_a_calibrated_z(k: int, n: int, expect: tuple[float, float]) -> None:
    z = spike_score(k, n, 0.15, 0.02)
    assert expect[0] <= z <= expect[1]
    assert spike_score(0, 20, 0.15, 0.02) == 0.0  # calmer than usual is not a spike


def test_trimmed_baseline_ignores_an_earlier_spike_block_and_sparse_keys_are_not_zero() -> None:
    shares = [0.14, 0.15, 0.16, 0.15, 0.9, 0.13, 0.15]
    b = baseline_from_blocks(shares, [100] * len(shares), noise_floor=0.02)
    assert b.share == pytest.approx(0.15, abs=0.003) and b.noise < 0.05 and b.blocks == 7
    # Sparse key: 5-item blocks at 12 % negative are mostly 0/5 -- a median would say 0.
    sparse = [0.0] * 11 + [0.2] * 6 + [0.4] * 2 + [0.6]
    b = baseline_from_blocks(sparse, [5] * len(sparse), noise_floor=0.02)
    assert 0.08 < b.share < 0.16
    # Blocks far more scattered than binomial sampling explains raise the noise term.
    wild = [0.05, 0.3, 0.1, 0.35, 0.02, 0.28, 0.12, 0.33]
    assert baseline_from_blocks(wild, [200] * 8, noise_floor=0.02).noise > 0.08


def feed(det: SpikeDetector, start, minutes: int, counts_for) -> list:
    out = []
    for m in range(minutes):
        t = start + m * MIN
        series = {key: {t: c} for key, c in counts_for(m).items()}
        out.extend(det.advance(t + MIN, series, refresh_from=t))
    return out


def test_hysteresis_cooldown_and_deterministic_alert_id() -> None:
    det = SpikeDetector(CFG)
    feed(det, T0, 120, lambda m: {ALL: calm()})
    onset = T0 + 120 * MIN
    evs = feed(det, onset, 3, lambda m: {ALL: calm(neg=15)})  # 3 minutes at 75 % negative
    fired = [e.event for e in evs if e.event]
    assert fired and fired[0].status == "firing" and fired[0].started_at == onset
    assert fired[0].alert_id == alert_id_for(ALL, onset) == "all:*:2024-01-08T02:00:00Z"
    assert fired[0].figures["negative_share"] == 0.75 and fired[0].figures["z"] >= CFG.z_on
    evs = feed(det, onset + 3 * MIN, 30, lambda m: {ALL: calm()})
    resolved = [e for e in evs if e.event and e.event.status == "resolved"]
    assert len(resolved) == 1 and resolved[0].event.alert_id == fired[0].alert_id
    quiet_from = resolved[0].window_end
    # The same burst again inside the cooldown does not fire; after it, it does.
    evs = feed(det, onset + 33 * MIN, 3, lambda m: {ALL: calm(neg=15)})
    assert not [e for e in evs if e.event]
    after = quiet_from + timedelta(seconds=CFG.cooldown_s) + 30 * MIN
    feed(det, onset + 36 * MIN, int((after - (onset + 36 * MIN)) / MIN), lambda m: {ALL: calm()})
    evs = feed(det, after, 3, lambda m: {ALL: calm(neg=15)})
    assert [e.event.status for e in evs if e.event][:1] == ["firing"]


def test_no_test_without_volume_or_history() -> None:
    det = SpikeDetector(replace(CFG, warmup_prior_share=0.0))  # no shipped prior: no test before history
    evs = feed(det, T0, 5, lambda m: {ALL: calm(neg=15)})  # a burst with no history at all
    assert all(e.baseline is None and e.z == 0.0 and not e.event for e in evs)
    det = SpikeDetector(CFG)
    feed(det, T0, 120, lambda m: {ALL: calm()})
    thin = feed(det, T0 + 120 * MIN, 1, lambda m: {ALL: Counts(n_negative=1)})
    assert thin[-1].n < CFG.min_items or thin[-1].event is None


def test_a_fresh_deployment_alerts_on_an_overwhelming_surge_but_not_on_a_busy_calm_start() -> None:
    det = SpikeDetector(CFG)
    evs = feed(det, T0, 10, lambda m: {ALL: calm(neg=17)})  # 85 % negative from the first minute
    assert evs[0].baseline is not None and evs[0].baseline.source == "warmup"
    assert any(e.event and e.event.status == "firing" for e in evs)
    det = SpikeDetector(CFG)
    calm_start = feed(det, T0, 120, lambda m: {ALL: calm(neg=3 + m % 4)})  # 15-30 %: an ordinary stream
    assert not any(e.event for e in calm_start)


def test_young_key_borrows_the_whole_stream_baseline() -> None:
    det = SpikeDetector(CFG)
    feed(det, T0, 120, lambda m: {ALL: calm()})
    key = ("ticker", "NEWCO")
    evs = feed(det, T0 + 120 * MIN, 2, lambda m: {ALL: calm(neg=3, n=20), key: Counts(n_negative=12, n_neutral=3)})
    mine = [e for e in evs if e.key == key]
    assert mine[-1].baseline is not None and mine[-1].baseline.source == "prior"
    assert 0.15 <= mine[-1].baseline.share < 0.4
    assert any(e.event and e.event.key == "NEWCO" for e in mine)


def test_restored_episode_resolves_instead_of_firing_again() -> None:
    det = SpikeDetector(CFG)
    feed(det, T0, 120, lambda m: {ALL: calm()})
    onset = T0 + 100 * MIN
    det.restore_episode(ALL, onset, "warning")
    evs = feed(det, T0 + 120 * MIN, 15, lambda m: {ALL: calm()})
    statuses = [e.event.status for e in evs if e.event]
    assert statuses == ["resolved"]
    assert [e.event.alert_id for e in evs if e.event] == [alert_id_for(ALL, onset)]


# --- the volume test: a surge of negatives about a key whose share barely moves -------------------

HOUR = timedelta(hours=1)
VOL = DetectorConfig(block_s=3600, min_blocks=6, baseline_s=7 * 86400, window_max_s=86400)


def hourly(det: SpikeDetector, start, hours: int, counts_for) -> list:
    """One closed bucket per hour (sparse news): ALL keeps a steady calm volume, a ticker what counts_for says."""
    out = []
    for h in range(hours):
        t = start + h * HOUR
        series = {ALL: {t: Counts(n_negative=6, n_neutral=14, n_positive=10)}}
        c = counts_for(h)
        if c is not None:
            series[("ticker", "ACME")] = {t: c}
        out.extend(det.advance(t + MIN, series, refresh_from=t))
    return out


def _fired(evs: list, key) -> list:
    return [e.event for e in evs if e.event and e.event.status == "firing" and e.key == key]


def surge(h: int) -> Counts:  # 6 hours of 4 items an hour, 40 % negative (the stream's usual share)
    return (
        Counts(n_negative=2, n_neutral=1, n_positive=1)
        if h % 2 == 0
        else Counts(n_negative=1, n_neutral=2, n_positive=1)
    )


@pytest.mark.parametrize("volume_on", [True, False])
def test_a_quiet_names_surge_alerts_by_volume_though_its_share_is_usual(volume_on: bool) -> None:
    cfg = VOL if volume_on else replace(VOL, volume_key_types=())
    det = SpikeDetector(cfg)
    acme = ("ticker", "ACME")
    # A week and a half of a name seen about once a day, a third of it negative.
    calm_evs = hourly(
        det,
        T0,
        240,
        lambda h: Counts(n_negative=1, n_neutral=2) if h % 72 == 0 else (Counts(n_neutral=1) if h % 24 == 0 else None),
    )
    assert not _fired(calm_evs, acme)
    evs = hourly(det, T0 + 240 * HOUR, 6, surge)
    fired = _fired(evs, acme)
    if volume_on:
        assert fired and fired[0].figures["z"] >= VOL.volume_z_on
        assert fired[0].started_at <= T0 + 244 * HOUR  # within hours of the surge's start
    else:
        assert not fired  # the share test alone misses it: 40 % is about its usual share


def test_the_same_negatives_spread_over_two_weeks_do_not_alert() -> None:
    det = SpikeDetector(VOL)
    evs = hourly(det, T0, 14 * 24, lambda h: Counts(n_negative=1, n_neutral=1) if h % 37 == 0 else None)
    assert not _fired(evs, ("ticker", "ACME"))


def test_no_volume_test_before_the_stream_is_known() -> None:
    det = SpikeDetector(VOL)
    evs = hourly(det, T0, 1, lambda h: Counts(n_negative=9, n_neutral=1))  # first hour: no prior yet
    assert not _fired(evs, ("ticker", "ACME"))
