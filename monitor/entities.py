"""Organisations named in news text beyond the ticker dictionary (pure, one regex scan per cue).

The ticker dictionary (``monitor.tickers``) covers index constituents and a curated list; a
crisis often hits a name outside it (a regional airline, a private lender, a payments firm).
This extractor finds such names from the way news writes about companies, precision first:

* a capitalised name ending in an organisation word ("Greensill Capital", "Flybe Group plc");
* a capitalised name right after a descriptor ("UK airline Flybe", "payments firm Wirecard");
* a capitalised name right before a corporate cue ("Flybe collapses", "Luckin shares", "Hertz's CEO").

Names the dictionary knows are left to it (they key on their ticker, which already merges the
dictionary's aliases: SVB = Silicon Valley Bank = SVB Financial = SIVB). The canonical name drops
legal suffixes and a possessive, so "Flybe", "Flybe Group" and "Flybe's" are one entity.
Measured on ``data/eval/entities_labelled.jsonl`` (docs/monitor.md).

    >>> ents = EntityExtractor(known=lambda name: False)
    >>> ents.extract("UK airline Flybe collapses; Greensill Capital files for insolvency")
    ['Flybe', 'Greensill Capital']
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

__all__ = ["EntityExtractor", "canonical", "default_entity_extractor", "extract_entities"]

_WORD = r"[A-Z][A-Za-z0-9&'’.\-]*[A-Za-z0-9]|[A-Z]"
_NAME = rf"(?:{_WORD})(?:\s(?:{_WORD}|&|of|de|du)){{0,3}}"
# Words that end an organisation's name.
_ORG_END = (
    "Bank|Capital|Airlines|Airways|Air|Group|Holdings|Inc|Corp|Corporation|plc|PLC|Ltd|Limited|AG|SA|SE|NV|"
    "LLC|Financial|Partners|Motors|Pharmaceuticals|Technologies|Insurance|Securities|Investments|Bancorp|"
    "Entertainment|Resorts|Cruises|Brands"
)
_LEGAL = frozenset(
    "Inc Inc. Corp Corp. Corporation plc PLC Ltd Ltd. Limited AG SA SE NV LLC Group Holdings Co Co.".split()
)
_DESCRIPTOR = (
    r"(?:airline|carrier|lender|bank|insurer|retailer|carmaker|automaker|chipmaker|start-?up|fintech|firm|"
    r"company|conglomerate|developer|broker|brokerage|operator|giant|maker|supplier|owner|chain|"
    r"payments? (?:firm|company|processor|provider)|travel (?:firm|group|company)|tour operator|"
    r"cryptocurrency exchange|crypto exchange|exchange|hedge fund|fund|group)"
)
_CUE = (
    r"(?:'s|’s)?\s(?:shares?|stock|bonds?|CEO|chief executive|collapses|collapsed|"
    r"collapse|goes bust|went bust|bankruptcy|insolvency|administration|creditors|bondholders|auditors?|"
    r"files for|filed for|defaults?|defaulted|rescue|bailout|fraud|scandal|grounds|suspends|halts|"
    r"lays off|cuts \d|warns|sinks|slumps|plunges|tumbles)\b"
)
_BY_SUFFIX = re.compile(rf"(?<![\w’'])((?:{_WORD})(?:\s(?:{_WORD}|&|of))*?\s(?:{_ORG_END}))\b(?!\s[A-Z])")
_BY_DESCRIPTOR = re.compile(rf"\b{_DESCRIPTOR}\s({_NAME})(?=[\s,.;:'’)]|$)")  # lower-case descriptors
_BY_CUE = re.compile(rf"(?<![\w’'])({_NAME}){_CUE}")
_LEADING = frozenset({"The", "A", "An"})
# A headline that opens with a name and a business verb ("Bridgewater to cut jobs", "Virgin Orbit
# scrambles to avoid bankruptcy"); "says"/"warns" are left out: people say and warn as much as firms.
_OPENING_VERB = (
    r"(?:to|set to|in talks|sees|makes|cuts|buys|sells|plans|faces|posts|reports|scrambles|seeks|wins|loses|"
    r"agrees|launches|shuts|closes|files|raises|hires|sues|slashes|suspends|halts|grounds|collapses|"
    r"owner|boss|chief|shares|stock|profit|profits|sales|revenue|delays|cancels|recalls|axes|drops|hoards|"
    r"pays|misses|beats|lays|considers|nears|taps|names|appoints|exits|quits|rescues|merges|"
    r"fined|probed|sued|hit|hits|slumps|slides|falls|plunges|tumbles|sinks|soars|jumps|rises|rallies)\b"
)
_BY_OPENING = re.compile(rf"^(?:[A-Z][a-z]+:\s)?({_NAME})(?:'s|’s)?\s{_OPENING_VERB}")  # the headline's start only
# First words that make a capitalised run something other than a company.
_STOP = frozenset(
    """The A An This That These Those It Its In On At For From By With As Of And Or But If When While After Before
    Why How What Who Where Here There US U.S. UK U.K. EU E.U. UN Fed ECB IMF Treasury Congress Senate House
    White Wall Street Government Parliament Ministry Commission Federal Central Reserve National State
    European America American Americans China Chinese Japan Japanese Germany German France French Britain
    British Italy Italian Spain Spanish India Indian Russia Russian Ukraine Ukrainian Europe Asia Asian
    Swiss Switzerland Canada Canadian Australia Australian Brazil Korea Korean Hong Kong Singapore Saudi
    Global World Stocks Stock Shares Markets Market Oil Gold Bitcoin Investors Banks Bank Regional Big Small
    New Top Latest Breaking Business Live Coronavirus Covid COVID Virus Monday Tuesday Wednesday Thursday
    Friday Saturday Sunday January February March April May June July August September October November
    December Biden Trump Powell Yellen Musk Mr Ms Dr President CEO Analysis Opinion Exclusive Update FirstFT
    Dow Nasdaq S&P FTSE DAX Nikkei Its Our Their His Her One Two Three Four Five Many Some All No Not Is Are
    Was Were Be Has Have Had Will Would Could Should Can May Might Must Do Does Did Says Said Say To Up Down
    Out Over Under About Into Against Amid Despite Crypto Tech I He She We They You London Paris Berlin
    Washington Beijing Tokyo Turkey Israel Iran Poland Polish Mexico Africa South North East West Failures
    Obama Republicans Democrats Plc Ltd Inc Corp""".split()
)


MAX_WORDS = 5
MAX_CHARS = 60
_DIGIT = re.compile(r"\d")
_POSSESSIVE = re.compile(r"['’]s$")


def _title_case(text: str) -> bool:
    """Bloomberg-style Title Case: most longer words of the headline are capitalised."""
    words = [w for w in re.findall(r"[A-Za-z][a-z'’]+", text.split(". ", 1)[0]) if len(w) > 3]
    return len(words) >= 3 and sum(1 for w in words if w[0].isupper()) / len(words) >= 0.6


def canonical(name: str) -> str:
    """One spelling per organisation: no possessive, no legal suffix, single spaces."""
    words = re.sub(r"['’]s\b", "", name).replace("’", "'").split()
    while len(words) > 1 and words[-1].rstrip(",") in _LEGAL:
        words.pop()
    return " ".join(words).strip(" ,.;:-")


class EntityExtractor:
    """Organisation names in a text that ``known`` (the ticker dictionary) does not already cover."""

    def __init__(self, known: Callable[[str], bool]) -> None:
        self._known = known
        self._seen: dict[str, str | None] = {}  # raw candidate -> accepted name (names recur)

    def _accept(self, raw: str) -> str | None:
        if raw in self._seen:
            return self._seen[raw]
        if len(self._seen) > 8192:
            self._seen.clear()
        name = self._seen[raw] = self._judge(raw)
        return name

    def _judge(self, name: str) -> str | None:
        words = name.split()
        if words and words[0] in _LEADING:
            words.pop(0)  # "The Hut Group" -> "Hut Group"
        if len(words) > 1 and _POSSESSIVE.search(words[0]) and _POSSESSIVE.sub("", words[0]) in _STOP:
            words.pop(0)  # "Germany's Stada" -> "Stada"
        if not words or words[0].strip("'’") in _STOP or self._known(" ".join(words)):
            return None  # "American Airlines" is the dictionary's; "New York ..." is a place
        name = canonical(" ".join(words))
        if len(name) > MAX_CHARS or len(name.split()) > MAX_WORDS:
            return None  # a run of capitals, not a name (and keys stay short: the store's key is 200 chars)
        if len(name) < 3 or (name.isupper() and len(name) < 4) or name.split()[-1] in _STOP or _DIGIT.search(name):
            return None  # short acronyms are too ambiguous without the dictionary
        if re.fullmatch(_ORG_END, name) or self._known(name):
            return None
        return name

    def extract(self, text: str) -> list[str]:
        """Canonical organisation names, by first appearance, deduplicated."""
        if not text:
            return []
        found: list[tuple[int, str]] = []
        title = _title_case(text)
        # A descriptor may open the text with a capital ("Payments firm Wirecard ..."); elsewhere it
        # must be lower case ("Bank Deposits" in a Title Case headline is not "bank Deposits").
        lowered = text[:1].lower() + text[1:]
        for rx, subject in ((_BY_SUFFIX, text), (_BY_DESCRIPTOR, lowered), (_BY_CUE, text), (_BY_OPENING, text)):
            if title and rx is _BY_OPENING:
                continue  # in Title Case every word opens with a capital: no evidence of a name
            for m in rx.finditer(subject):
                raw = text[m.start(1) : m.end(1)]
                if rx is not _BY_SUFFIX and not raw[:1].isupper():
                    continue
                name = self._accept(raw)
                if name is not None:
                    found.append((m.start(1), name))
        out: list[str] = []
        for _, name in sorted(found):
            if not any(name == o or name.startswith(o + " ") or o.startswith(name + " ") for o in out):
                out.append(name)
        return out


@cache
def default_entity_extractor() -> EntityExtractor:
    from monitor.tickers import default_extractor

    tickers = default_extractor()
    return EntityExtractor(known=lambda name: tickers.knows_name(name) or bool(tickers.extract(name)))


def extract_entities(text: str) -> list[str]:
    """Organisations beyond the ticker dictionary named in ``text`` (see :class:`EntityExtractor`)."""
    return default_entity_extractor().extract(text)
