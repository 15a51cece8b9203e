from __future__ import annotations

import collections

from hypothesis import given, settings
from hypothesis import strategies as st

from model.data import load_split
from model.splits import split_rows, story_key


def test_story_key_merges_link_only_duplicates():
    assert story_key("Fed hikes  https://t.co/abc") == story_key("fed hikes https://t.co/XYZ ")


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), st.sampled_from("abc"), min_size=1, max_size=100),
       st.lists(st.integers(0, 99), max_size=100))
def test_split_is_a_deterministic_grouped_partition(strata, dup_idx):
    keys = sorted(strata)
    rows = [(k, strata[k]) for k in keys] + [(keys[i % len(keys)], strata[keys[i % len(keys)]]) for i in dup_idx]
    a = split_rows(rows, group=lambda r: r[0], stratum=lambda r: r[1], seed=3)
    b = split_rows(list(reversed(rows)), group=lambda r: r[0], stratum=lambda r: r[1], seed=3)
    assert sorted(a["train"] + a["val"] + a["test"]) == sorted(rows)
    owner = {}
    for part, members in a.items():
        for r in members:
            assert owner.setdefault(r[0], part) == part  # a group never straddles splits
    assert {p: sorted(v) for p, v in a.items()} == {p: sorted(v) for p, v in b.items()}


def test_committed_topic_splits_do_not_leak_stories():
    keys = {part: {story_key(e.text) for e in load_split("topic", part)} for part in ("train", "val", "test")}
    assert not keys["train"] & keys["test"] and not keys["train"] & keys["val"] and not keys["val"] & keys["test"]


def test_committed_fpb_test_is_stratified():
    train = collections.Counter(e.label for e in load_split("fpb", "train"))
    test = collections.Counter(e.label for e in load_split("fpb", "test"))
    for lab in ("negative", "neutral", "positive"):
        assert abs(train[lab] / sum(train.values()) - test[lab] / sum(test.values())) < 0.02
    assert all(e.agreement == "100" for e in load_split("fpb", "allagree_test"))


def test_extra_sentiment_rows_never_repeat_an_evaluation_sentence():
    from model.splits import sentence_key

    extra = load_split("extra_sentiment", "train")
    assert len(extra) > 1000 and {e.label for e in extra} == {"negative", "neutral", "positive"}
    held_out = {sentence_key(e.text) for name, part in [("fpb", "val"), ("fpb", "test"), ("twitter_sentiment", "val"),
                                                         ("twitter_sentiment", "test")] for e in load_split(name, part)}
    assert not {sentence_key(e.text) for e in extra} & held_out
