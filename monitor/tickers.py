"""Ticker extraction from news text: cashtags, exchange-qualified symbols and company names.

Pure logic; the bundled name -> ticker dictionary (``monitor/data/tickers.json``, built by
``scripts/build_ticker_dictionary.py``) is loaded once, lazily, and compiled into one trie-shaped
regular expression, so a headline costs a single regex scan (tens of thousands per second).

Precision first:

* names match case-sensitively on word boundaries ("apple" never matches);
* names that are also ordinary words (kind ``context``: Apple, Target, Visa, Amazon ...) need
  corporate context: a suffix or corporate word right after ("Apple Inc", "Target shares",
  "Visa's"), or a mid-sentence capital in sentence-case text, or a finance cue elsewhere in the
  headline; they are rejected after an article ("the Amazon"), before a word that makes them
  something else ("Apple pie", "Visa requirements") and inside another proper noun
  ("Apple Daily");
* cashtags ignore amounts and currencies (``$5``, ``$1.2bn``, ``$US``).

    >>> extract_tickers("SVB collapse hits $SCHW and (NYSE:JPM); Apple Inc shares slip")
    ['SIVB', 'SCHW', 'JPM', 'AAPL']
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import TypeAlias

from finsentry.errors import DataError

__all__ = ["TickerExtractor", "extract_tickers", "default_extractor"]

# "$US" and friends are currencies, not tickers.
_CASHTAG_STOP = frozenset(
    {"US", "USD", "CAD", "AUD", "NZD", "HKD", "SGD", "CNY", "NZ", "HK", "A", "S", "M", "B", "K", "BN", "MN", "TN"}
)
_CASHTAG = re.compile(r"(?<![\w$])\$([A-Za-z]{1,6}(?:\.[A-Za-z]{1,2})?)(?![\w.$]|\.[A-Za-z])")

# Exchange -> suffix of the ticker we emit (US venues: bare symbol).
_EXCHANGE_SUFFIX = {
    "NASDAQ": "", "NYSE": "", "NYSE AMERICAN": "", "NYSE ARCA": "", "NYSE MKT": "", "AMEX": "",
    "NYSEAMERICAN": "", "NYSEARCA": "", "OTC": "", "OTCQX": "", "OTCQB": "", "OTC MARKETS": "",
    "LSE": ".L", "LON": ".L", "TSX": ".TO", "TSXV": ".V", "TSX-V": ".V", "ASX": ".AX", "HKEX": ".HK",
    "XETRA": ".DE", "FRA": ".F",
}
# ``(?!(?<=\s)\s)``: a search never starts on the second or later blank of a whitespace run (the
# match from the run's first blank is the same one, found first); without it a long run cost
# O(k) at each of its k blanks, O(k^2) in all.
_EXCHANGE = re.compile(
    r"(?!(?<=\s)\s)(?P<paren>\()?\s*(?P<ex>NASDAQ|Nasdaq|NYSE(?:\s?(?:American|AMERICAN|Arca|ARCA|MKT))?|AMEX|"
    r"OTC(?:QX|QB|\sMarkets)?|LSE|LON|TSX(?:V|-V)?|ASX|HKEX|XETRA|Xetra|FRA)\s*:\s*"
    r"(?P<sym>[A-Z0-9]{1,6}(?:[.\-][A-Z]{1,2})?)(?![\w])"
)

# Words after a name that make it corporate ("Apple Inc", "Target shares", "Visa CEO").
_CORP_NEXT = frozenset(
    w.lower()
    for w in (
        "Inc Inc. Corp Corp. Corporation Co Co. Company plc PLC Ltd Limited Group Holdings AG SA NV "
        "shares share stock stocks CEO CFO chief boss executive executives chairman earnings profit "
        "profits revenue revenues sales results quarter quarterly dividend buyback investors "
        "shareholders analysts workers employees staff union stores store customers users app "
        "says said reports reported posts posted beats misses cuts cut raises raised plans sues sued "
        "to will is was has had warns agrees buys sells launches unveils hires fires lays slashes "
        "slumps slips jumps soars surges falls rises tumbles drops gains rallies sinks "
        "iPhone iPhones iPad Mac Pay Watch Music TV Prime Web Services AWS Alexa Store"
    ).split()
)
# Words after a name that make it something else ("Apple pie", "Visa requirements").
_NEG_NEXT = frozenset(
    (
        "pie pies juice juices tree trees orchard orchards cider blossom practice practices range ranges "
        "date dates rate rates requirement requirements rules rule application applications waiver "
        "waivers scheme schemes regime holder holders ban bans applicants free rainforest forest river "
        "basin jungle fires fire deforestation tribe tribes indigenous region delta variant crops crop "
        "food foods mosquito mosquitoes salmon wheat babies strike festival daily"
    ).split()
)
_ARTICLES = frozenset({"the", "a", "an", "this", "that", "its", "their", "our", "his", "her"})
# A finance cue anywhere in the text licenses an ambiguous company name.
_CUE = re.compile(
    r"\b(?:shares?|stocks?|earnings|profits?|revenues?|sales|CEO|chief executive|investors?|"
    r"shareholders?|valuation|market (?:value|cap)|quarter(?:ly)?|results|dividend|buyback|"
    r"takeover|acquisition|acquires?|merger|IPO|antitrust|lawsuit|sues|iPhones?|retailer|"
    r"tech giant|carmaker|automaker|airline|bank|lender|insurer|chipmaker|layoffs|job cuts|"
    r"analysts?|downgrades?|upgrades?|Wall Street|Nasdaq|S&P|Dow|FTSE)\b|[$€£]\s?\d",
    re.IGNORECASE,
)
_WORD_AFTER = re.compile(r"(?:'s\b)?[\s,]*([A-Za-z][\w.&'-]*)?")
_WORD_BEFORE = re.compile(r"([A-Za-z][\w'-]*)[\s]*$")
_SENTENCE_START = re.compile(r"(?:^|[.:;!?\"'“‘|(\[]|\s[-–—])\s*$")
_POSSESSIVE = re.compile(r"'s\b")


def _is_title_case(text: str) -> bool:
    """Bloomberg-style Title Case headlines: capitals tell nothing about proper nouns."""
    words = [w for w in re.findall(r"[A-Za-z][a-z'’]+", text) if len(w) > 3]
    if len(words) < 3:
        return False
    return sum(1 for w in words if w[0].isupper()) / len(words) >= 0.6


_Trie: TypeAlias = dict[str, "_Trie"]  # character -> subtrie; "" marks the end of a word


def _trie_regex(words: Iterable[str]) -> str:
    """Regex alternation shaped as a character trie (fast: no per-alias backtracking)."""
    trie: _Trie = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def render(node: _Trie) -> str:
        end = "" in node
        branches = [re.escape(ch) + render(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if end:
            return "(?:" + body + ")?"
        return body

    return render(trie)


def _normalise_quotes(text: str) -> str:
    return text.replace("’", "'").replace("‘", "'")


@dataclass(frozen=True)
class _Alias:
    ticker: str
    context: bool


class TickerExtractor:
    """Finds tickers in text with one compiled dictionary. Build once, call many times."""

    def __init__(
        self, aliases: dict[str, tuple[str, str]], known: Iterable[str] = (), names: dict[str, str] | None = None
    ) -> None:
        self._aliases: dict[str, _Alias] = {}
        for alias, (ticker, kind) in aliases.items():
            self._aliases[_normalise_quotes(alias)] = _Alias(ticker.upper(), kind == "context")
        self._known = frozenset(t.upper() for t in known) | {a.ticker for a in self._aliases.values()}
        self._names_of = {t.upper(): n for t, n in (names or {}).items()}
        body = _trie_regex(self._aliases)
        self._names = re.compile(r"(?<![\w&$@#])(" + body + r")(?![\w&])") if body else None

    @classmethod
    def from_file(cls, path: Path | str) -> TickerExtractor:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            companies = data.get("companies", {})
            names = {t: str(c.get("name", "")) for t, c in companies.items() if isinstance(c, dict)}
            return cls({a: (v[0], v[1]) for a, v in data["aliases"].items()}, companies, names)
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise DataError(f"ticker dictionary {path} is unreadable: {exc}") from exc

    @property
    def known_tickers(self) -> frozenset[str]:
        return self._known

    def knows_name(self, name: str) -> bool:
        """Whether ``name`` (or its first word) is one of the dictionary's company names."""
        name = _normalise_quotes(name)
        return name in self._aliases or name.split(" ", 1)[0] in self._aliases

    def display_name(self, ticker: str) -> str:
        """The company name of a dictionary ticker ("" when unknown)."""
        return self._names_of.get(ticker.upper(), "")

    def extract(self, text: str, given: Sequence[str] = ()) -> list[str]:
        """Upper-case tickers, message-given first, then by first appearance, deduplicated."""
        out: list[str] = []
        seen: set[str] = set()
        for t in given:
            t = t.strip().lstrip("$").upper()
            if t and t not in seen:
                seen.add(t)
                out.append(t)
        if not text:
            return out
        text = _normalise_quotes(text)
        found: list[tuple[int, str]] = []
        for m in _CASHTAG.finditer(text):
            sym = m.group(1)
            up = sym.upper()
            if up in _CASHTAG_STOP or (sym != up and up not in self._known):
                continue
            found.append((m.start(), up))
        for m in _EXCHANGE.finditer(text):
            ex = re.sub(r"\s+", " ", m.group("ex")).upper()
            if m.group("ex") == "Nasdaq" and not m.group("paren"):
                continue  # "Nasdaq: tech rout" is the index, not a listing
            sym = m.group("sym").replace("-", ".")
            found.append((m.start(), sym + _EXCHANGE_SUFFIX.get(ex, "")))
        if self._names is not None:
            title = None
            has_cue = None
            for m in self._names.finditer(text):
                alias = self._aliases.get(m.group(1))
                if alias is None:
                    continue
                if alias.context:
                    if title is None:
                        title = _is_title_case(text)
                        has_cue = _CUE.search(text) is not None
                    if not self._context_ok(text, m.start(), m.end(), title, bool(has_cue)):
                        continue
                found.append((m.start(), alias.ticker))
        found.sort(key=lambda p: p[0])
        for _, t in found:
            if t not in seen:
                seen.add(t)
                out.append(t)
        return out

    @staticmethod
    def _context_ok(text: str, start: int, end: int, title: bool, has_cue: bool) -> bool:
        before = text[max(0, start - 40) : start]
        wb = _WORD_BEFORE.search(before)
        if wb and wb.group(1).lower() in _ARTICLES:
            return False
        after = text[end : end + 40]
        possessive = _POSSESSIVE.match(after) is not None
        wa = _WORD_AFTER.match(after)
        nxt = (wa.group(1) or "") if wa else ""
        nxt_l = nxt.lower().rstrip(".,")
        if nxt_l in _NEG_NEXT and not possessive:
            return False
        if nxt_l in _CORP_NEXT or possessive:
            return True
        if title:
            return False  # Title Case: capitals and cues are no evidence ("Antitrust Push Target FTC")
        if nxt[:1].isupper() and not nxt.isupper():
            return False  # part of another proper noun: "Apple Daily", "Amazon Rainforest"
        if has_cue:
            return True
        return _SENTENCE_START.search(before) is None  # mid-sentence capital in sentence case


@cache
def default_extractor() -> TickerExtractor:
    """The extractor over the bundled dictionary (loaded on first use)."""
    path = files("monitor").joinpath("data", "tickers.json")
    return TickerExtractor.from_file(str(path))


def extract_tickers(text: str, given: Sequence[str] = ()) -> list[str]:
    """Tickers in ``text`` (cashtags, ``NYSE: X`` symbols, company names), ``given`` ones first."""
    return default_extractor().extract(text, given)
