"""Organisations beyond the ticker dictionary: found from how news names companies, aliases merged."""

from __future__ import annotations

import pytest

from finsentry.records import ScoredItem
from monitor.buckets import keys_of
from monitor.entities import EntityExtractor, canonical, extract_entities
from monitor.tickers import default_extractor, extract_tickers
from tests.monitor.synthetic import T0

NONE_KNOWN = EntityExtractor(known=lambda name: False)


@pytest.mark.parametrize(("text", "expected"), [
    ("UK airline Flybe collapses after rescue talks fail", ["Flybe"]),
    ("Flybe Group plc shares suspended", ["Flybe"]),
    ("Flybe's creditors meet as the airline goes bust", ["Flybe"]),
    ("Payments firm Wirecard files for insolvency", ["Wirecard"]),
    ("Greensill Capital files for insolvency in Britain", ["Greensill Capital"]),
    ("Luckin Coffee shares plunge 80% on fraud probe", ["Luckin Coffee"]),
    ("Markets slide as oil falls and the dollar rises", []),
    ("The Fed holds rates as Powell warns on inflation", []),
])
def test_organisations_found_by_suffix_descriptor_or_cue(text: str, expected: list[str]) -> None:
    assert NONE_KNOWN.extract(text) == expected


def test_aliases_merge_into_one_canonical_name() -> None:
    assert {canonical(n) for n in ("Flybe", "Flybe Group", "Flybe's", "Flybe Group plc", "Flybe Ltd")} == {"Flybe"}
    # Dictionary companies key on their ticker, which already merges their names and symbol.
    assert {tuple(extract_tickers(t)) for t in (
        "SVB shares fall", "Silicon Valley Bank collapses", "SVB Financial raises cash", "$SIVB halted",
    )} == {("SIVB",)}
    assert default_extractor().display_name("SIVB") == "SVB Financial Group"


def test_dictionary_names_are_left_to_the_ticker_key() -> None:
    assert extract_entities("Silicon Valley Bank shares collapse; Signature Bank shares halted") == []
    assert extract_entities("Apple shares drop after coronavirus warning") == []


def test_an_item_counts_in_its_entity_keys() -> None:
    it = ScoredItem(id="x", text="UK airline Flybe collapses", published_at=T0, ingested_at=T0, label="negative")
    it.entities = extract_entities(it.text)
    assert ("entity", "Flybe") in keys_of(it)


@pytest.mark.parametrize(("split", "min_precision", "min_recall"), [
    ("dev", 0.8, 0.5),  # measured 1.00 (10 of 10) and 0.56 (10 of 18); the rules were written against it
    ("test", 0.5, 0.25),  # held out, labelled after the rules were frozen: measured 0.67 (4/6), 0.33 (4/12)
])
def test_precision_and_recall_on_the_labelled_headlines(split: str, min_precision: float, min_recall: float) -> None:
    """data/eval/entities_labelled.jsonl: every company each headline names, labelled by hand; the
    extractor is scored on the names the ticker dictionary does not know (docs/monitor.md)."""
    import json
    from pathlib import Path

    tickers = default_extractor()
    tp = fp = fn = 0
    path = Path(__file__).resolve().parents[2] / "data" / "eval" / "entities_labelled.jsonl"
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["split"] != split:
            continue
        gold = {canonical(o) for o in row["organisations"] if not (tickers.knows_name(o) or tickers.extract(o))}
        found = set(extract_entities(row["headline"]))
        tp, fp, fn = tp + len(found & gold), fp + len(found - gold), fn + len(gold - found)
    assert tp + fn >= 12  # enough names beyond the dictionary to mean something
    assert tp / (tp + fp) >= min_precision
    assert tp / (tp + fn) >= min_recall
