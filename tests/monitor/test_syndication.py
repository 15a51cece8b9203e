"""Syndication fingerprint: real-looking copies collide, different stories do not."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from monitor.syndication import is_near_duplicate, normalise, similarity, story_hash

SAME_STORY = [
    (
        "UPDATE 2-Credit Suisse shares slump 24% as top investor rules out more help",
        "Credit Suisse shares slump 24% as top investor rules out more help - Reuters",
    ),
    (
        "Credit Suisse shares slump 24% as top investor rules out more help | CNBC",
        "credit suisse SHARES slump 24%  as top investor rules out more help.",
    ),
    (
        "ZURICH (Reuters) - UBS agrees to buy Credit Suisse for $3.2 billion",
        "UBS agrees to buy Credit Suisse for $3.2 billion (Reuters)",
    ),
    (
        "U.S. regulators close SVB&#8217;s bank &amp; take control of deposits https://t.co/x1y2",
        "US regulators close SVB’s bank & take control of deposits",
    ),
    (
        "<b>Signature Bank</b> closed by New York regulators",
        "REFILE-Signature Bank closed by New York regulators — Bloomberg",
    ),
    (
        "Silicon Valley Bank's collapse: what we know - The Washington Post",
        "Silicon Valley Bank’s collapse — what we know",
    ),
]

DIFFERENT_STORIES = [
    ("Fed raises rates by 25 basis points", "Fed holds rates steady"),
    ("Credit Suisse shares slump 24%", "Credit Suisse shares soar 30%"),
    ("UBS agrees to buy Credit Suisse", "Credit Suisse agrees to buy UBS stake in fund"),
    ("Regulators seize Signature Bank", "Regulators seize Silicon Valley Bank"),
    ("UBS buys Credit Suisse", "Credit Suisse buys UBS"),
    ("Fed raises rates by 25 basis points", "Fed raises rates by 50 basis points"),
]


def test_syndicated_copies_share_a_hash() -> None:
    for a, b in SAME_STORY:
        assert story_hash(a) == story_hash(b), (normalise(a), normalise(b))
        assert is_near_duplicate(a, b)


def test_different_stories_differ() -> None:
    for a, b in DIFFERENT_STORIES:
        assert story_hash(a) != story_hash(b)
        assert not is_near_duplicate(a, b)


def test_light_edits_are_near_duplicates_not_hash_equal() -> None:
    a = "Fed raises rates by 25 basis points as inflation persists despite bank turmoil"
    b = "Fed raises rates by 25 basis points as inflation persists despite banking turmoil"
    assert story_hash(a) != story_hash(b)
    assert is_near_duplicate(a, b)
    assert 0.8 <= similarity(a, b) < 1.0
    assert not is_near_duplicate(a, "Oil falls as demand worries mount")


def test_hash_shape_fits_the_store_column() -> None:
    h = story_hash("anything")
    assert len(h) == 32 and all(c in "0123456789abcdef" for c in h)
    assert story_hash("") == story_hash("   ") == story_hash("!!!")


_words = st.lists(
    st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=8), min_size=1, max_size=12
)
# Separators that carry no meaning (no dots/apostrophes: "U.S." -> "US" on purpose; no parentheses,
# dashes, colons or pipes: those mark source tags such as "(AP)" or "- FT").
_SEP = ' \t\n,;!?"'


@given(_words, st.data())
def test_hash_stable_under_case_whitespace_and_punctuation(words: list[str], data: st.DataObject) -> None:
    base = " ".join(words)
    seps = [data.draw(st.text(alphabet=_SEP, min_size=1, max_size=3)) for _ in words]
    # any mix of whitespace/punctuation between words, random case per word, trailing punctuation
    variant = "".join(
        (w.upper() if data.draw(st.booleans()) else w.lower()) + s for w, s in zip(words, seps, strict=True)
    )
    assert story_hash(variant) == story_hash(base)
    assert is_near_duplicate(variant, base)


@given(_words, _words)
def test_hash_equality_matches_normalised_text(a: list[str], b: list[str]) -> None:
    ta, tb = " ".join(a), " ".join(b)
    assert (story_hash(ta) == story_hash(tb)) == (normalise(ta) == normalise(tb))


@given(st.text(max_size=200))
def test_never_crashes_and_is_deterministic(text: str) -> None:
    assert story_hash(text) == story_hash(text)
    assert is_near_duplicate(text, text)
