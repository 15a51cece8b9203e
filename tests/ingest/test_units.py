"""Pure pieces of the ingest path: triage, scored items, offsets, replay schedule, language routing."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ingest.kafka_io import Record
from ingest.produce import read_rows, schedule
from ingest.records import (
    dlq_headers,
    first_offsets,
    next_offsets,
    scored_item,
    scored_payload,
    triage,
)
from model.languages import LanguageDetector, ModelRouter, normalize_lang

NOW = datetime(2023, 3, 10, 15, tzinfo=UTC)


def rec(value: bytes | None, part: int = 0, off: int = 0) -> Record:
    return Record("news", part, off, b"k", value, [("trace", b"1")], 1_678_450_000_000)


def test_triage_splits_and_keeps_order():
    recs = [rec(b'{"text": "a"}', 0, 5), rec(b"nope", 0, 6), rec(b'{"text": "b"}', 1, 3)]
    valid, rejected = triage(recs, 10_000)
    assert [m.text for _, m in valid] == ["a", "b"]
    assert [(r.record.offset, r.reason) for r in rejected] == [(6, "not_json")]
    hdr = dict(dlq_headers(rejected[0]))
    assert hdr["finsentry-reason"] == b"not_json" and hdr["finsentry-source-offset"] == b"6"
    assert hdr["finsentry-source-topic"] == b"news" and hdr["trace"] == b"1"


def test_offsets():
    recs = [rec(b"x", 0, 5), rec(b"x", 0, 9), rec(b"x", 2, 1)]
    assert next_offsets(recs) == {("news", 0): 10, ("news", 2): 2}
    assert first_offsets(recs) == {("news", 0): 5, ("news", 2): 1}


@dataclass
class P:
    label: str = "negative"
    probs: dict = field(default_factory=lambda: {"negative": 0.8, "neutral": 0.15, "positive": 0.05})
    score: float = -0.75
    topics: list = field(default_factory=lambda: [("Banking", 0.7)])


def test_scored_item_and_payload():
    r = rec(b'{"text": "Bank fails", "tickers": ["sivb"]}', 1, 4)
    (_, msg), = triage([r], 100)[0]
    it = scored_item(r, msg, "en", P(), "m1", NOW)
    assert (it.label, it.p_negative, it.score, it.topic, it.tickers) == ("negative", 0.8, -0.75, "Banking", ["SIVB"])
    assert (it.kafka_partition, it.kafka_offset, it.model_version, it.ingested_at) == (1, 4, "m1", NOW)
    body = json.loads(scored_payload(it))
    assert body["probs"]["negative"] == 0.8 and body["label"] == "negative"
    unscored = scored_item(r, msg, "pl", None, None, NOW)
    assert unscored.label is None and unscored.score is None and json.loads(scored_payload(unscored))["probs"] is None


def test_schedule_rate_speedup_and_gap_cap():
    rows = [{"published_at": "2023-03-10T10:00:00Z"}, {"published_at": "2023-03-10T10:01:40Z"},
            {"published_at": "bad"}, {"published_at": "2023-03-10T12:00:00Z"}]
    assert schedule(rows, rate=2) == [0, 0.5, 1.0, 1.5]
    assert schedule(rows, speedup=100) == [0, 1.0, 1.0, 72.0]
    assert schedule(rows, speedup=100, max_gap_s=5) == [0, 1.0, 1.0, 6.0]
    assert schedule(rows) == [0.0] * 4


def test_bundled_streams_follow_the_contract():
    from ingest.contract import decode
    from ingest.produce import BUNDLED

    for name, n in (("svb_2023.jsonl.gz", 7592), ("covid_2020.jsonl.gz", 3542)):
        rows = list(read_rows(BUNDLED / name))
        assert len(rows) == n
        times = [decode(json.dumps(r).encode()).published_at for r in rows[:: 50]]
        assert times == sorted(times)


def test_csv_rows(tmp_path):
    p = tmp_path / "n.csv"
    p.write_text("text,source,published_at\nFed hikes,FT,2023-03-10T10:00:00Z\nx,,\n")
    assert list(read_rows(p)) == [{"text": "Fed hikes", "source": "FT", "published_at": "2023-03-10T10:00:00Z"},
                                  {"text": "x"}]


def test_language_detection_and_normalisation():
    d = LanguageDetector()
    assert normalize_lang("en-US") == "en" and normalize_lang("PL") == "pl" and normalize_lang("") is None
    assert d.language_of("Goldman's big bet. Nigerian opposition parties call for an election rerun", None) == "en"
    assert d.language_of("Akcje banków spadają po upadku SVB, inwestorzy wycofują pieniądze", None) == "pl"
    assert d.language_of("anything", "de-DE") == "de"
    # Ambiguous short text: a language with a model wins when it is nearly as likely.
    assert LanguageDetector().detect("Jack Welch obituary") == "de"
    assert LanguageDetector(preferred=["en"]).detect("Jack Welch obituary") == "en"


class FakeModel:
    """A stand-in classifier for routing only (counts calls; never used by product code)."""

    def __init__(self, name: str) -> None:
        self.version, self.provider, self.calls = name, "cpu", []

    def classify(self, texts):
        self.calls.append(list(texts))
        return [P() for _ in texts]


def test_router_loads_each_model_once_and_leaves_uncovered_languages_unscored():
    loaded = {}

    def loader(path):
        loaded.setdefault(path, FakeModel(str(path)))
        return loaded[path]

    r = ModelRouter({"en": "shipped", "en-GB": "shipped", "de": "/m/de"}, loader, model_path=None)
    assert sorted(map(str, loaded)) == ["/m/de", "None"]
    out = r.classify(["a", "b", "c", "d"], ["en", "pl", "de", None])
    assert [v for _, v in out] == ["None", None, "/m/de", None]
    assert out[1][0] is None and out[3][0] is None
    assert loaded[None].calls == [["a"]] and loaded["/m/de"].calls == [["c"]]


def test_unscored_language_label_is_bounded_whatever_the_producer_declares():
    from prometheus_client import CollectorRegistry

    from finsentry.metrics import Metrics
    from finsentry.records import ScoredItem
    from ingest.batch import Batch, count_durable
    from model.languages import CANDIDATES, metric_label

    now = datetime(2023, 3, 10, tzinfo=UTC)
    items = [ScoredItem(id=f"i{n}", text="t", published_at=now, ingested_at=now, lang=f"x{n}") for n in range(2000)]
    items += [ScoredItem(id="pl", text="t", published_at=now, ingested_at=now, lang="pl"),
              ScoredItem(id="none", text="t", published_at=now, ingested_at=now, lang=None)]
    registry = CollectorRegistry()
    count_durable(Metrics(registry), Batch([], [], [], now, 0.0), items, items)
    series = {s.labels["lang"]: s.value for fam in registry.collect() for s in fam.samples
              if s.name == "finsentry_unscored_items_total"}
    assert series == {"other": 2000.0, "pl": 1.0, "und": 1.0}
    assert {metric_label(c) for c in CANDIDATES} == set(CANDIDATES)
