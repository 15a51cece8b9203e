"""Chinese sets: the cleaning rules, and the committed CSVs obey them (no leaks, no header row)."""

from __future__ import annotations

import collections

import pytest

from model.cn_data import CN_FINFE_DIR, CN_FINNSP_DIR, clean_finfe, clean_finnsp
from model.data import load_split, read_csv


def test_finfe_rules():
    train = [["a", 0], ["a", 0], ["a", 2], ["b", 1], ["b", 2], ["c", 2], ["d", 1]]
    evaluation = [["c", 0], ["d", 1], ["d", 1], ["e", 0], ["e", 2]]
    splits, stats = clean_finfe(train, evaluation)
    rows = {t: lab for part in ("train", "val") for t, lab in splits[part]}
    assert rows == {"a": "negative"}  # majority; "b" tied -> dropped; "c","d" are eval texts
    assert splits["test"] == [["c", "negative"], ["d", "neutral"]]  # "e" carries two labels -> dropped
    assert stats["train_texts_in_eval_dropped"] == 2 and stats["train_label_ties_dropped"] == 1


def test_finnsp_rules():
    header = ["\ufeffid", "title", "text", "entity", "negative", "key_entity"]
    train = [["1", "", "甲公司爆雷??? 跑路", "甲公司", "1", "甲公司"], header, ["2", "标题", "正文", "乙", "0", ""],
             ["3", "", "同一条", "丙", "1", "丙"]]
    splits, stats = clean_finnsp(train, [["9", "", "同一条", "丙", "1", "丙"]])
    got = {d["text"]: d["label"] for part in ("train", "val") for d in splits[part]}
    assert got == {"甲公司爆雷 跑路": "negative", "标题 正文": "neutral"}
    assert stats["header_rows_dropped"] == 1 and stats["train_texts_in_eval_dropped"] == 1


@pytest.mark.parametrize("name,directory", [("finfe", CN_FINFE_DIR), ("finnsp", CN_FINNSP_DIR)])
def test_committed_splits_are_disjoint_and_clean(name, directory):
    parts = {p: load_split(name, p, directory) for p in ("train", "val", "test")}
    texts = {p: [e.text for e in v] for p, v in parts.items()}
    for p, ts in texts.items():
        assert len(ts) == len(set(ts)), f"duplicate texts in {p}"
        assert all(t.strip() for t in ts)
    assert not set(texts["train"]) & set(texts["test"]) and not set(texts["val"]) & set(texts["test"])
    assert not set(texts["train"]) & set(texts["val"])
    labels = collections.Counter(e.label for v in parts.values() for e in v)
    assert set(labels) <= {"negative", "neutral", "positive"}
    if name == "finnsp":
        rows = read_csv(directory / "finnsp_train.csv")
        assert all(r["negative"] in ("0", "1") for r in rows)
        assert all((r["label"] == "negative") == (r["negative"] == "1") for r in rows)
