"""Story fingerprints for syndicated copies (the same story carried by several outlets).

Pure functions. ``story_hash`` is an exact-match key over a normalised text: outlets re-publish a
wire story with different case, punctuation, whitespace, HTML entities, links, source tags
("... - Reuters", "... | CNBC", "(Reuters) -") and wire prefixes ("UPDATE 2-", "REFILE-"), and all
of those normalise away. ``is_near_duplicate`` is the second stage for copies that were lightly
edited (a word added or swapped): Jaccard similarity of character 5-shingles of the normalised
texts (word shingles are too harsh on 10-word headlines: one changed word breaks two bigrams).

The monitor stores ``story_hash`` in ``items.story_hash`` and links an item to the first item with
the same hash (or a near duplicate) within ``settings.syndication_window_s``.

    >>> story_hash("UPDATE 2-SVB shares halted - Reuters") == story_hash("SVB Shares Halted | CNBC")
    True
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from datetime import timedelta
from typing import TYPE_CHECKING

from finsentry.logs import get_logger
from finsentry.records import ScoredItem
from finsentry.timeutil import as_utc

if TYPE_CHECKING:
    from store.protocol import Transaction

log = get_logger(__name__)

__all__ = ["normalise", "story_hash", "shingles", "similarity", "is_near_duplicate"]

_OUTLETS = (
    r"reuters|bloomberg(?: news)?|cnbc|ap|associated press|afp|ft|financial times|wsj|"
    r"(?:the )?wall street journal|marketwatch|yahoo(?:!)? finance|(?:the )?guardian|bbc(?: news)?|"
    r"cnn(?: business)?|business insider|insider|forbes|barron'?s|seeking alpha|investing\.com|"
    r"(?:the )?washington post|nyt|(?:the )?new york times|axios|fox business|benzinga|"
    r"(?:the )?motley fool|fortune|(?:the )?economist|wired|bankier\.pl|dow jones(?: newswires)?|"
    r"thestreet|zacks|nasdaq(?:\.com)?|politico|sky news|the telegraph|the times|nikkei(?: asia)?"
)
# Linear-time patterns (a backtracking engine tries every start position):
# * a search never starts inside a whitespace run, ``(?<!\s)``: from the run's first character
#   the leading ``\s*``/``\s+`` absorbs the run, so the leftmost match (and the result) is the
#   same, while starting at each of k blanks cost O(k) each: O(k^2) on long runs;
# * no two adjacent quantifiers over whitespace (``\s*\)?\s*[.!]?\s*$`` tried every split of a
#   run: O(k^3)); each optional piece now starts with its own character, the same language.
_TRAILING_TAG = re.compile(
    r"(?<!\s)(?:\s+[-–—|:]\s*|\s*[|]\s*|\s*\(\s*)(?:" + _OUTLETS + r")(?:\.com)?\s*(?:\)\s*)?(?:[.!]\s*)?$",
    re.IGNORECASE,
)
_PIPE_TAIL = re.compile(r"(?<!\s)\s+\|\s+[^|]{1,40}$")  # "headline | Any Outlet": a pipe tail is a tag
_DATELINE = re.compile(
    r"^\s*(?:[A-Z][A-Za-z .,'/]{0,40})?\((?:" + _OUTLETS + r")\)\s*[-–—:]\s*", re.IGNORECASE
)
_WIRE_PREFIX = re.compile(
    r"^\s*(?:(?:UPDATE|REFILE|CORRECTED|CORRECTION|RPT|REPEAT|EXCLUSIVE|BREAKING|WRAPUP|"
    r"RECAST|INSTANT VIEW|ADVISORY)(?:\s*\d+)?\s*[-–—:]+\s*)+",
    re.IGNORECASE,
)
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]{0,200}>")
_INWORD = re.compile(r"(?<=\w)['’.](?=\w)")  # U.S. -> US, SVB's -> SVBs
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalise(text: str) -> str:
    """Lower-case word string of ``text`` without markup, links, wire prefixes and source tags."""
    t = html.unescape(html.unescape(text or ""))
    t = unicodedata.normalize("NFKC", t)
    t = _TAGS.sub(" ", t)
    t = _URL.sub(" ", t)
    t = t.strip()
    t = _WIRE_PREFIX.sub("", t)
    t = _DATELINE.sub("", t)
    for _ in range(2):  # "headline - Reuters | Yahoo Finance"
        t = _TRAILING_TAG.sub("", t)
        t = _PIPE_TAIL.sub("", t)
    t = _INWORD.sub("", t)
    t = _NON_WORD.sub(" ", t.casefold())
    return " ".join(t.split())


def story_hash(text: str) -> str:
    """32-hex-char fingerprint of the normalised text: equal for syndicated copies."""
    # surrogatepass: a lone surrogate ("\ud800") is hashed, not a crash; other text is unchanged
    return hashlib.blake2b(normalise(text).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def shingles(text: str, k: int = 5) -> frozenset[str]:
    """Character k-shingles of the normalised text (robust to one-word edits in short headlines)."""
    norm = normalise(text)
    if len(norm) <= k:
        return frozenset([norm]) if norm else frozenset()
    return frozenset(norm[i : i + k] for i in range(len(norm) - k + 1))


def similarity(a: str, b: str, k: int = 5) -> float:
    """Jaccard similarity of character 5-shingles of the normalised texts, 0..1 (1.0 for two empty texts)."""
    sa, sb = shingles(a, k), shingles(b, k)
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def is_near_duplicate(a: str, b: str, threshold: float = 0.8) -> bool:
    """Same story, lightly edited: identical fingerprints or shingle Jaccard >= ``threshold``."""
    na, nb = normalise(a), normalise(b)
    if na == nb:
        return True
    if not na or not nb:
        return False
    return similarity(a, b) >= threshold


def link_syndicated(txn: Transaction, new_items: list[ScoredItem], window_s: int) -> None:
    """Inside the write transaction: each new item whose story hash an earlier item (stored, or
    earlier in the batch) carried within ``window_s`` becomes a copy of the first one
    (``duplicate_of``): copies count once for spikes."""
    hashed = sorted((it for it in new_items if it.story_hash), key=lambda it: (as_utc(it.published_at), it.id))
    if not hashed:
        return
    window = timedelta(seconds=window_s)
    lo = min(as_utc(it.published_at) for it in hashed) - window
    hi = max(as_utc(it.published_at) for it in hashed)
    hashes = sorted({it.story_hash for it in hashed if it.story_hash})
    firsts = txn.first_copies(hashes, lo, hi)
    linked: set[str] = set()
    updates: dict[str, str] = {}  # copy id -> first item id
    for it in hashed:
        t = as_utc(it.published_at)
        candidates = [
            (ts, cid)
            for ts, cid in firsts.get(it.story_hash or "", [])
            if cid not in linked and (ts, cid) < (t, it.id) and ts >= t - window
        ]
        if candidates:
            it.duplicate_of = min(candidates)[1]
            linked.add(it.id)
            updates[it.id] = it.duplicate_of
    if updates:
        txn.link_syndicated(updates)
        log.debug("monitor.syndicated", linked=len(updates))
