"""The time-of-week profile: effective hours, and a calm daily cycle on a dense key never alerts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from monitor.buckets import ALL, Counts
from monitor.detector import DetectorConfig, SpikeDetector
from monitor.volume import HOURS_PER_WEEK, TimeProfile, day_type_profile

MONDAY = datetime(2023, 3, 6, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _hour(ts: datetime) -> int:
    return int(ts.timestamp()) // 3600


def test_uniform_profile_counts_wall_hours() -> None:
    p = TimeProfile.uniform()
    assert p.exposure_h(MONDAY.timestamp(), (MONDAY + 30 * HOUR).timestamp()) == pytest.approx(30.0)
    assert p.exposure_h(0.0, 7 * 86400.0) == pytest.approx(HOURS_PER_WEEK)


def test_day_cycle_profile_weighs_busy_hours_and_is_flat_without_history() -> None:
    start = _hour(MONDAY)
    hourly = {start + h: (12 if 8 <= h % 24 < 20 and h % 168 < 120 else 1) for h in range(2 * HOURS_PER_WEEK)}
    p = day_type_profile(hourly, start, start + 2 * HOURS_PER_WEEK)
    assert sum(p.weights) / HOURS_PER_WEEK == pytest.approx(1.0)
    assert p.weights[10] > 2 > 0.5 > p.weights[3]  # Monday 10:00 busy, 03:00 quiet
    assert p.weights[5 * 24 + 10] < 1  # Saturday 10:00 quiet
    night = p.exposure_h((MONDAY + 2 * HOUR).timestamp(), (MONDAY + 4 * HOUR).timestamp())
    day = p.exposure_h((MONDAY + 10 * HOUR).timestamp(), (MONDAY + 12 * HOUR).timestamp())
    assert day > 4 * night
    assert day_type_profile({}, start, start + 48).weights == TimeProfile.uniform().weights


def _cycle(h: int) -> Counts:
    """A topic with a strong daily and weekly cycle: busy weekday hours, quiet nights and weekends."""
    weekday = (h % HOURS_PER_WEEK) < 120
    if weekday and 8 <= h % 24 < 20:
        return Counts(n_negative=3, n_neutral=6, n_positive=3)
    return Counts(n_negative=0 if h % 3 else 1, n_neutral=1)


def _replay(surge_at: int | None) -> list:
    cfg = replace(DetectorConfig(block_s=3600, window_max_s=86400), volume_key_types=("topic", "all"))
    det = SpikeDetector(cfg)
    fired = []
    for h in range(3 * HOURS_PER_WEEK):
        t = MONDAY - 2 * HOURS_PER_WEEK * HOUR + h * HOUR  # start on a Monday two weeks back
        c = _cycle(h)
        topic = Counts(n_negative=12, n_neutral=4) if surge_at is not None and surge_at <= h < surge_at + 3 else c
        evs = det.advance(t + timedelta(minutes=1), {ALL: {t: c}, ("topic", "Markets"): {t: topic}}, refresh_from=t)
        fired += [e.event for e in evs if e.event and e.event.status == "firing"]
    return fired


def test_a_calm_week_with_a_daily_cycle_on_a_topic_does_not_alert() -> None:
    assert not _replay(None)


def test_a_market_surge_on_a_topic_alerts_within_the_hour() -> None:
    at = 2 * HOURS_PER_WEEK + 24 + 9  # the third Tuesday, 09:00 (busy hours: not by the clock alone)
    fired = [e for e in _replay(at) if e.key == "Markets"]
    onset = MONDAY - 2 * HOURS_PER_WEEK * HOUR + at * HOUR
    assert fired and onset <= fired[0].started_at <= onset + HOUR
