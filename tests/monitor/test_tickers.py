"""Ticker extraction: unit cases, the bundled dictionary, and P/R on the hand-labelled headlines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finsentry.errors import DataError
from monitor.tickers import TickerExtractor, default_extractor, extract_tickers

ROOT = Path(__file__).resolve().parents[2]
LABELLED = ROOT / "data" / "eval" / "tickers_labelled.jsonl"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # cashtags
        ("$AAPL and $msft lead; $BRK.B flat", ["AAPL", "MSFT", "BRK.B"]),
        ("Coffee costs $5, the deal $1.2bn, and the $US slides", []),
        ("$$AAPL is not a cashtag, nor is a$AAPL", []),
        ("$xyzzq lower-case unknown symbols are ignored", []),
        # exchange-qualified symbols
        ("Acme Corp (NASDAQ: ACME) and (NYSE:JPM) report", ["ACME", "JPM"]),
        ("NYSE: BRK.B rises; LON: BARC falls; TSX: RY flat", ["BRK.B", "BARC.L", "RY.TO"]),
        ("Nasdaq: AI stocks rally", []),
        # names
        ("Silicon Valley Bank collapses; SVB Financial halted", ["SIVB"]),
        ("Credit Suisse shares plunge as UBS weighs deal", ["CS", "UBS"]),
        ("First Republic and Signature Bank fall", ["FRC", "SBNY"]),
        ("JPMorgan sounds out banks about shoring up First Republic", ["JPM", "FRC"]),
        ("Apple Inc shares slip", ["AAPL"]),
        ("Apple unveils new iPhone", ["AAPL"]),
        ("Tesla’s Mexico Plant Means $10 Billion Investment", ["TSLA"]),
        ("Amazon to hire 100,000 workers", ["AMZN"]),
        ("Target shares fall after earnings", ["TGT"]),
        ("Google’s $168 Billion in Ad Revenue at Risk", ["GOOGL"]),
        # common words and look-alikes: no hits
        ("Apple pie recipes for autumn", []),
        ("apple harvest hit by frost", []),
        ("Target practice at the range", []),
        ("Visa requirements eased for students", []),
        ("General strike called in France", []),
        ("Fed Misses Target As Prices Climb", []),
        ("the Amazon rainforest is burning", []),
        ("Amazon fires spread in Brazil", []),
        ("Apple Daily shut down in Hong Kong", []),
        ("Gary Lineker to return to ‘Match of the Day’ after BBC ends stand-off", []),
        ("From quills to qwerty: Lloyd's underwriters adapt to home working", []),
        ("Dow falls 500 points as Nasdaq tumbles", []),
        ("Silicon Valley Will Still Need A Bank", []),
        ("Critics of Biden’s Antitrust Push Target FTC’s Lina Khan", []),
        ("", []),
    ],
)
def test_extract_cases(text: str, expected: list[str]) -> None:
    assert extract_tickers(text) == expected


def test_given_first_then_order_of_appearance_deduplicated() -> None:
    text = "UBS to buy Credit Suisse; UBS shares jump, $CS halted"
    assert extract_tickers(text) == ["UBS", "CS"]
    assert extract_tickers(text, given=["cs", " $AAPL ", "CS"]) == ["CS", "AAPL", "UBS"]
    assert extract_tickers("", given=["msft"]) == ["MSFT"]


def test_longest_name_wins() -> None:
    assert extract_tickers("Siemens Energy gets new CEO") == ["ENR.DE"]
    assert extract_tickers("Bank of America raises forecast") == ["BAC"]


def test_bundled_dictionary_covers_the_demo_names() -> None:
    ex = default_extractor()
    assert ex is default_extractor()  # loaded once
    for t in ("SIVB", "SBNY", "FRC", "CS", "AAPL", "JPM", "BRK.B", "GOOGL", "META"):
        assert t in ex.known_tickers
    assert len(ex.known_tickers) > 800


def test_custom_dictionary_and_context_kind(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"aliases": {"Widget Works": ["WDGT", "strong"], "Pear": ["PEAR", "context"]}}))
    ex = TickerExtractor.from_file(path)
    assert ex.extract("Widget Works beats estimates") == ["WDGT"]
    assert ex.extract("Pear shares jump") == ["PEAR"]
    assert ex.extract("Pear crumble wins prize") == []
    with pytest.raises(DataError):
        TickerExtractor.from_file(tmp_path / "missing.json")


def _labelled() -> list[dict]:
    return [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines() if line.strip()]


def _micro_pr(rows: list[dict]) -> tuple[float, float, int]:
    tp = fp = fn = 0
    for r in rows:
        pred, gold = set(extract_tickers(r["text"])), set(r["tickers"])
        tp += len(pred & gold)
        fp += len(pred - gold)
        fn += len(gold - pred)
    return tp / max(1, tp + fp), tp / max(1, tp + fn), tp + fn


def test_labelled_set_is_what_the_docs_describe() -> None:
    rows = _labelled()
    assert len(rows) == 240
    assert {r["split"] for r in rows} == {"dev", "test"}
    assert sum(1 for r in rows if r["tickers"]) >= 75
    assert all(t == t.upper() for r in rows for t in r["tickers"])


@pytest.mark.parametrize(("split", "min_p", "min_r"), [("dev", 0.95, 0.90), ("test", 0.93, 0.82), (None, 0.95, 0.86)])
def test_precision_recall_on_hand_labelled_headlines(split: str | None, min_p: float, min_r: float) -> None:
    """Floors sit just below the measured figures (docs/tickers.md): a regression fails here."""
    rows = [r for r in _labelled() if split is None or r["split"] == split]
    p, r, n_gold = _micro_pr(rows)
    assert n_gold > 30
    assert p >= min_p, f"precision {p:.3f}"
    assert r >= min_r, f"recall {r:.3f}"
