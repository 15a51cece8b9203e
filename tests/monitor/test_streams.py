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
    again = [
        (e.key, e.bucket_start, e.event) for e in run_detector(list(reversed(items)), CFG, batch_minutes=7) if e.event
    ]
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


# --- the real-news replay (monitor/evaluate.py) ------------------------------------------------

import gzip  # noqa: E402
import json  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

from finsentry.settings import Settings  # noqa: E402
from monitor.evaluate import read_stream, replay, shock_for  # noqa: E402


@dataclass
class _Pred:
    label: str
    probs: dict
    score: float
    topics: list = field(default_factory=list)


class _LabelFromText:
    """Test double of the classifier: the label is written in the synthetic text."""

    version = "test"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def classify(self, texts: list[str]) -> list[_Pred]:
        self.seen.extend(texts)
        out = []
        for t in texts:
            label = t.split()[2]
            probs = {k: (0.9 if k == label else 0.05) for k in ("negative", "neutral", "positive")}
            out.append(_Pred(label, probs, probs["positive"] - probs["negative"], [(t.split()[3], 0.9)]))
        return out


def _write_stream(path: Path, items, uncovered_every: int = 10) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for i, it in enumerate(reversed(items)):  # unsorted on purpose
            lang = "de" if i % uncovered_every == 0 else "en"  # German: no model covers it
            fh.write(
                json.dumps(
                    {
                        "id": it.id,
                        "text": it.text,
                        "source": it.source,
                        "lang": lang,
                        "published_at": it.published_at.isoformat().replace("+00:00", "Z"),
                    }
                )
                + "\n"
            )


def test_replay_reports_alerts_delay_and_calm_days(tmp_path: Path) -> None:
    onset = 3 * 60
    fn = lambda m: 0.8 if m >= onset else None  # noqa: E731
    items = stream(onset + 10, per_minute=12, shape=fn, seed=31)
    path = tmp_path / "synthetic_stream.jsonl.gz"
    _write_stream(path, items)
    assert [r.published_at for r in read_stream(path)] == sorted(it.published_at for it in items)
    assert shock_for("data/streams/svb_2023.jsonl.gz") is not None and shock_for(path) is None
    settings = Settings(detector_block_s=600, detector_min_blocks=6, detector_baseline_s=7200,
                        alert_webhook_urls=["http://127.0.0.1:9/never"])  # fmt: skip
    clf = _LabelFromText()
    shock = T0 + timedelta(minutes=onset)
    report = replay(path, settings, classifier=clf, shock=shock, lead=timedelta(0))
    assert len(clf.seen) == len(items) - len(items) // 10 - (1 if len(items) % 10 else 0)  # German: no model
    s = report.summary()
    assert s["items"] == len(items) and s["scored"] == len(clf.seen)
    assert s["alerts"] >= 1 and 0 <= s["delay_all_stream_h"] <= 2 / 60
    assert s["alerts_before_shock"] == 0
    early = replay(path, settings, classifier=_LabelFromText(), shock=shock + timedelta(minutes=5), lead=timedelta(0))
    assert early.summary()["alerts_before_shock"] >= 1  # an alert before the stated shock counts as calm-day noise
    rows = report.table()
    assert rows[0]["phase"] == "shock" and rows[0]["top_headline"].startswith("headline")
