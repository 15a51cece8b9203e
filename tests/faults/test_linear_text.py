"""Issue 12: text processing does linear work on hostile texts and the same work on real ones.

No wall clock: work is counted in steps of a backtracking model of ``re`` (``backtrack.py``),
which agrees with ``re`` on every match (checked here) and, like ``re``, keeps no memo.
"""

from __future__ import annotations

import gzip
import json
import re
import string
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor import syndication, tickers
from monitor.syndication import is_near_duplicate, normalise, story_hash
from monitor.tickers import extract_tickers
from tests.faults import legacy
from tests.faults.backtrack import Program, TooManySteps

ROOT = Path(__file__).resolve().parents[2]
N = 10_000
PER_CHAR = 1_000  # steps per character; the worst linear case is ~600 (``<[^>]{0,200}>`` on "<<<<...")


def _fill(unit: str, head: str = "", tail: str = "") -> Callable[[int], str]:
    def make(n: int) -> str:
        body = (unit * (n // len(unit) + 1))[: max(0, n - len(head) - len(tail))]
        return head + body + tail

    return make


FAMILIES: dict[str, Callable[[int], str]] = {
    "spaces": _fill(" ", "a", "b"),
    "mixed_whitespace": _fill(" \t\n\u00a0\u2003", "a", "b"),
    "outlet_then_spaces": _fill(" ", "Banks fall - Reuters", "x"),
    "outlet_then_mixed": _fill(" ).! ", "Banks fall (Reuters", "x"),
    "pipe_then_spaces": _fill(" ", "a |", "x|"),
    "paren_then_spaces": _fill(" ", "(", "x"),
    "exchange_then_spaces": _fill(" ", "(NYSE", ": x"),
    "parens": _fill("("),
    "pipes": _fill("| "),
    "dashes": _fill(" -"),
    "colons": _fill(": "),
    "dollars": _fill("$"),
    "cashtags": _fill("$A"),
    "outlets": _fill("reuters "),
    "wire_prefixes": _fill("UPDATE 2-"),
    "exchanges": _fill("NYSE "),
    "punctuation": _fill(".,;:!?'\"-—"),
    "angle_brackets": _fill("<"),
    "www": _fill("www."),
    "digits": _fill("1"),
    "names": _fill("Apple "),
    "entities": _fill("&amp;"),
}


def _module_patterns() -> dict[str, re.Pattern[str]]:
    out = {}
    for mod in (syndication, tickers):
        for name, value in vars(mod).items():
            if isinstance(value, re.Pattern):
                out[f"{mod.__name__}.{name}"] = value
    return out


PATTERNS = _module_patterns()


def test_the_model_agrees_with_re() -> None:
    """The step counter is only a proxy if it finds exactly what ``re`` finds."""
    pieces = [" ", "  ", "\t", "\n", "-", "|", "(", ")", ":", ".", "!", "$", "reuters", "CNBC", "NYSE",
              "Nasdaq", "UPDATE 2", "a", "B", "1", "<b>", ">", "'", "www.x", "shares", "AAPL", "$AAPL", "—", "é"]
    texts = [" ".join(pieces), "".join(pieces), *(f(40) for f in FAMILIES.values())]
    for name, pattern in {**PATTERNS, **{str(k): v for k, v in legacy.REPLACED.items()}}.items():
        prog = Program(pattern)
        for t in texts:
            assert prog.finditer_steps(t, 10**7)[0] == [m.span() for m in pattern.finditer(t)], (name, t)


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_every_pattern_is_linear_on_10k_adversarial_texts(name: str) -> None:
    prog = Program(PATTERNS[name])
    for family, make in FAMILIES.items():
        text = make(N)
        assert len(text) == N
        try:
            _, steps = prog.finditer_steps(text, PER_CHAR * N)
        except TooManySteps:
            pytest.fail(f"{name} on {family!r}: more than {PER_CHAR} steps per character")
        assert steps <= PER_CHAR * N


def _growth(pattern: re.Pattern[str], make: Callable[[int], str], n: int) -> float:
    """Steps at 2n over steps at n: about 2 for linear work, 4 for quadratic, 8 for cubic."""
    prog = Program(pattern)
    return prog.finditer_steps(make(2 * n), 10**8)[1] / prog.finditer_steps(make(n), 10**8)[1]


@pytest.mark.parametrize(("where", "family", "n", "old_growth"), [
    (("monitor.syndication", "_TRAILING_TAG"), "spaces", 300, 3.5),  # quadratic
    (("monitor.syndication", "_TRAILING_TAG"), "outlet_then_spaces", 100, 6.0),  # cubic
    (("monitor.syndication", "_PIPE_TAIL"), "spaces", 300, 3.5),
    (("monitor.tickers", "_EXCHANGE"), "spaces", 300, 3.5),
])
def test_the_proxy_flags_the_old_patterns_and_passes_the_new(where: tuple[str, str], family: str, n: int,
                                                            old_growth: float) -> None:
    """The old patterns grow quadratically (or worse) in the model, the new ones linearly."""
    old, new = legacy.REPLACED[where], PATTERNS[".".join(where)]
    assert _growth(old, FAMILIES[family], n) > old_growth
    assert _growth(new, FAMILIES[family], n) < 2.3


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_text_functions_on_10k_adversarial_texts(family: str) -> None:
    text = FAMILIES[family](N)
    assert len(story_hash(text)) == 32
    assert is_near_duplicate(text, text)
    found = extract_tickers(text)
    assert all(t == t.upper() and len(t) <= 32 for t in found)


def test_lone_surrogates_do_not_crash() -> None:
    text = "SVB \ud800 shares halt \udfff - Reuters"
    assert story_hash(text) == story_hash(text) and len(story_hash(text)) == 32
    assert extract_tickers(text + " $SCHW") == ["SIVB", "SCHW"]


# --- the same results on real text -------------------------------------------------------------
def _real_texts() -> list[str]:
    texts = []
    for path in sorted((ROOT / "data" / "streams").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            texts += [json.loads(line)["text"] for line in fh if line.strip()]
    labelled = ROOT / "data" / "eval" / "tickers_labelled.jsonl"
    texts += [json.loads(line)["text"] for line in labelled.read_text(encoding="utf-8").splitlines() if line.strip()]
    return texts


def _old_normalise(text: str) -> str:
    with mock.patch.object(syndication, "_TRAILING_TAG", legacy.TRAILING_TAG), \
            mock.patch.object(syndication, "_PIPE_TAIL", legacy.PIPE_TAIL):
        return normalise(text)


def _old_tickers(text: str) -> list[str]:
    with mock.patch.object(tickers, "_EXCHANGE", legacy.EXCHANGE):
        return extract_tickers(text)


def test_same_results_as_before_on_the_bundled_headlines() -> None:
    texts = _real_texts()
    assert len(texts) > 11_000
    # the tail patterns see the text at that stage of normalise(); run them on raw texts too
    for t in texts:
        assert legacy.TRAILING_TAG.sub("", t) == syndication._TRAILING_TAG.sub("", t), t
        assert legacy.PIPE_TAIL.sub("", t) == syndication._PIPE_TAIL.sub("", t), t
        assert ([(m.span(), m.groupdict()) for m in legacy.EXCHANGE.finditer(t)]
                == [(m.span(), m.groupdict()) for m in tickers._EXCHANGE.finditer(t)]), t
    with mock.patch.object(syndication, "_TRAILING_TAG", legacy.TRAILING_TAG), \
            mock.patch.object(syndication, "_PIPE_TAIL", legacy.PIPE_TAIL), \
            mock.patch.object(tickers, "_EXCHANGE", legacy.EXCHANGE):
        before = [(normalise(t), extract_tickers(t)) for t in texts]
    assert [(normalise(t), extract_tickers(t)) for t in texts] == before


_TOKENS = [" ", "  ", "\t", "\n", " \n", "\u00a0", "-", " - ", "–", "—", "|", " | ", "(", ")", ":", ": ", ".", "!",
           "$", "Reuters", "reuters", "CNBC", "Bloomberg News", "the Guardian", "Yahoo! Finance", ".com", "NYSE",
           "Nasdaq", "NASDAQ", "NYSE American", "OTC Markets", "TSX-V", "LSE", "UPDATE 2", "REFILE", "JPM",
           "BRK.B", "RY", "AAPL", "$SCHW", "Apple", "Inc", "shares", "SVB", "x", "X1", "7", "'s", "é", ",", ";"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS) | st.text(alphabet=string.printable, max_size=3), max_size=40))
def test_same_results_as_before_on_tricky_token_soup(parts: list[str]) -> None:
    t = "".join(parts)
    assert legacy.TRAILING_TAG.sub("", t) == syndication._TRAILING_TAG.sub("", t)
    assert legacy.PIPE_TAIL.sub("", t) == syndication._PIPE_TAIL.sub("", t)
    assert ([(m.span(), m.groupdict()) for m in legacy.EXCHANGE.finditer(t)]
            == [(m.span(), m.groupdict()) for m in tickers._EXCHANGE.finditer(t)])
    assert normalise(t) == _old_normalise(t)
    assert extract_tickers(t) == _old_tickers(t)
