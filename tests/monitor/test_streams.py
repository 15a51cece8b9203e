"""Synthetic streams through buckets + detector: bursts of several shapes over a calm baseline.

Eight hours of calm history (30 items/min, 15 % negative, five topics, three sources, four
tickers), then a burst starting at minute ``ONSET``. Every burst must fire on its key within
2 buckets of its onset; the calm stream must not fire at all; syndicated copies of one story
must not fire on their own; the same stream replayed gives the same alerts.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitor.buckets import ALL
from monitor.detector import DetectorConfig
from tests.monitor.synthetic import T0, fired, item, run_detector, stream

CFG = DetectorConfig()
ONSET = 8 * 60

SHAPES = {
    # name: (negative share by minute, topic-only, extra burst items/min, key that must fire)
    "step": (lambda m: 0.6 if m >= ONSET else None, None, 0, ALL),
    "ramp": (lambda m: min(0.6, 0.15 + 0.15 * (m - ONSET + 1)) if m >= ONSET else None, None, 0, ALL),
    "short_sharp": (lambda m: 0.85 if ONSET <= m < ONSET + 2 else None, None, 0, ALL),
    "sector_only": (lambda m: 0.8 if m >= ONSET else None, "Banks", 6, ("topic", "Banks")),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("seed", [1, 2])
def test_every_burst_is_detected_within_two_buckets(shape: str, seed: int) -> None:
    fn, topic, extra, key = SHAPES[shape]
    items = stream(ONSET + 15, shape=fn, shape_topic=topic, shape_extra=extra, seed=seed)
    alerts = [(k, b) for k, b, _ in fired(run_detector(items, CFG)) if k == key]
    assert alerts, f"{shape}: no alert on {key}"
    delay = (alerts[0][1] - (T0 + timedelta(minutes=ONSET))).total_seconds() / 60
    assert 0 <= delay <= 2, f"{shape}: fired {delay} buckets after onset"


def test_sector_burst_fires_on_the_sector_before_the_whole_stream() -> None:
    fn, topic, extra, _ = SHAPES["sector_only"]
    alerts = fired(run_detector(stream(ONSET + 15, shape=fn, shape_topic=topic, shape_extra=extra, seed=3), CFG))
    first = alerts[0]
    assert first[0] == ("topic", "Banks")
    assert all(k[1] not in {"Tech", "Energy", "Earnings"} for k, _, _ in alerts)


@pytest.mark.parametrize("seed", [11, 12])
def test_calm_stream_never_fires(seed: int) -> None:
    evals = run_detector(stream(ONSET + 120, seed=seed), CFG)
    assert fired(evals) == []
    tested = {e.key for e in evals if e.baseline is not None}
    assert ALL in tested and ("topic", "Banks") in tested and ("ticker", "AAPL") in tested


def test_syndicated_copies_of_one_negative_story_do_not_fire() -> None:
    calm = stream(ONSET + 15, seed=5)
    at = T0 + timedelta(minutes=ONSET, seconds=10)
    first = item(10**6, at, "negative", "Banks", "wire-a", ["JPM"])
    copies = [
        item(10**6 + i, at + timedelta(seconds=i), "negative", "Banks", f"outlet-{i}", ["JPM"], dup_of=first.id)
        for i in range(1, 60)
    ]
    assert fired(run_detector(calm + [first, *copies], CFG)) == []
    # The same 60 items as independent stories would be a spike: the linking is what stops it.
    for c in copies:
        c.duplicate_of = None
    assert fired(run_detector(calm + [first, *copies], CFG))


def test_replay_is_deterministic_and_batching_of_closed_buckets_does_not_matter() -> None:
    fn, topic, extra, _ = SHAPES["step"]
    items = stream(ONSET + 40, shape=fn, seed=9)
    one = [(e.key, e.bucket_start, e.event) for e in run_detector(items, CFG) if e.event]
    again = [(e.key, e.bucket_start, e.event) for e in run_detector(list(reversed(items)), CFG, batch_minutes=7) if e.event]
    assert one and one == again
    ids = [ev.alert_id for _, _, ev in one if ev.status == "firing"]
    assert ids[0] == f"all:*:{(T0 + timedelta(minutes=ONSET)).strftime('%Y-%m-%dT%H:%M:%SZ')}"


def test_burst_resolves_after_it_ends_and_cools_down() -> None:
    fn = lambda m: 0.85 if ONSET <= m < ONSET + 3 else None  # noqa: E731
    evals = run_detector(stream(ONSET + 60, shape=fn, seed=4), CFG)
    events = [e.event for e in evals if e.event and e.key == ALL]
    assert [ev.status for ev in events][:1] == ["firing"]
    resolved = [ev for ev in events if ev.status == "resolved"]
    assert resolved and resolved[0].alert_id == events[0].alert_id
    assert resolved[0].resolved_at - (T0 + timedelta(minutes=ONSET + 3)) >= timedelta(seconds=CFG.resolve_s)
