"""Chinese training data: FinFE and FinNSP (BBT-FinCUGE / CFLEB) cleaned into split CSVs.

Run ``python -m model.cn_data --source /path/to/shared/data`` to rebuild
``data/training/cn_finfe/finfe_{train,val,test}.csv`` and ``data/training/cn_finnsp/finnsp_{train,val,test}.csv``
(deterministic: no RNG; validation = texts whose sha256 falls in the first tenth). The files load
with ``model.data.load_split("finfe", "train", CN_FINFE_DIR)``.

FinFE (stock-forum posts, labels 0 negative / 1 neutral / 2 positive):
  * ``eval_list.json`` -> ``test``: exact duplicate texts merged; texts with conflicting labels dropped.
  * ``train_list.json`` -> ``train`` + ``val``: every text that also occurs in eval dropped (1,096 do,
    71 of them with another label), duplicates merged by majority label, ties dropped.
FinNSP (news, ``negative`` 0/1 about listed entities):
  * the stray header row inside ``train_list.json`` is dropped; runs of two or more ``?`` (characters
    lost upstream) become one space; rows with the same text merged (negative if any copy is, entity
    lists unioned); eval texts removed from train.
  * ``label`` is the proposed sentence-level sentiment: ``negative`` when the text is negative news
    for a listed entity (``negative == 1``), else ``neutral`` -- the set has no positive class, so a
    "not negative" text is not evidence of positive sentiment (see :data:`FINNSP_RULE`).
"""

from __future__ import annotations

import argparse
import collections
import csv
import hashlib
import json
import re
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "training"
CN_FINFE_DIR = DATA_DIR / "cn_finfe"
CN_FINNSP_DIR = DATA_DIR / "cn_finnsp"
FINFE_LABELS = {0: "negative", 1: "neutral", 2: "positive"}
FINNSP_RULE = ("label = negative if negative == 1 (the text is negative news about at least one listed entity) "
               "else neutral; FinNSP has no positive class. Recommended training use: a binary loss "
               "(p(negative) vs 1 - p(negative)) for rows with negative == 0 rather than a hard neutral target.")


def in_val(text: str, tenths: int = 1) -> bool:
    """Deterministic validation membership by the text's sha256."""
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16) % 10 < tenths


def _majority(labels: list[int]) -> int | None:
    counts = collections.Counter(labels).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        return None
    return int(counts[0][0])


def clean_finfe(train: list[list[Any]], evaluation: list[list[Any]]
                ) -> tuple[dict[str, list[list[str]]], dict[str, int]]:
    """Rows per split (``[text, label_name]``) and counts of what was dropped."""
    ev: dict[str, list[int]] = collections.defaultdict(list)
    for text, label in evaluation:
        ev[text.strip()].append(int(label))
    test = {t: ls[0] for t, ls in ev.items() if t and len(set(ls)) == 1}
    tr: dict[str, list[int]] = collections.defaultdict(list)
    for text, label in train:
        tr[text.strip()].append(int(label))
    overlap = [t for t in tr if t in ev]
    kept = {}
    ties = 0
    for t, ls in tr.items():
        if not t or t in ev:
            continue
        lab = _majority(ls)
        if lab is None:
            ties += 1
            continue
        kept[t] = lab
    splits: dict[str, list[list[str]]] = {"train": [], "val": [],
                                          "test": [[t, FINFE_LABELS[lab]] for t, lab in test.items()]}
    for t, lab in kept.items():
        splits["val" if in_val(t) else "train"].append([t, FINFE_LABELS[lab]])
    stats = {"train_rows_in": len(train), "eval_rows_in": len(evaluation), "train_unique": len(tr),
             "eval_unique": len(ev), "eval_conflicting_dropped": len(ev) - len(test),
             "train_texts_in_eval_dropped": len(overlap),
             "overlap_label_sets_differ": sum(1 for t in overlap if set(tr[t]) != set(ev[t])),
             "train_duplicate_rows_merged": len(train) - len(tr), "train_label_ties_dropped": ties,
             **{f"{k}_rows": len(v) for k, v in splits.items()}}
    return splits, stats


_QMARKS = re.compile(r"\?{2,}")
_NSP_COLS = ["id", "title", "text", "entities", "negative", "key_entities"]


def _nsp_text(row: list[str]) -> str:
    title, text = (_QMARKS.sub(" ", s).strip() for s in (row[1], row[2]))
    if title and not text.startswith(title[: max(1, len(title) // 2)]):
        text = f"{title} {text}"
    return re.sub(r"\s+", " ", text).strip()


def _merge_duplicates(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """One row per text: negative if any copy is, entity lists and ids unioned (first-seen order)."""
    merged: dict[str, dict[str, str]] = {}
    for d in rows:
        m = merged.setdefault(d["text"], {**d, "negative": "0", "entities": "", "key_entities": "", "id": ""})
        m["negative"] = max(m["negative"], d["negative"])
        for col in ("entities", "key_entities", "id"):
            seen = [x for x in m[col].split(";") if x]
            m[col] = ";".join(seen + [x for x in d[col].split(";") if x and x not in seen])
    for m in merged.values():
        m["label"] = "negative" if m["negative"] == "1" else "neutral"
    return list(merged.values())


def clean_finnsp(train: list[list[str]], evaluation: list[list[str]]
                 ) -> tuple[dict[str, list[dict[str, str]]], dict[str, int]]:
    def rows(data: list[list[str]]) -> list[dict[str, str]]:
        out = []
        for r in data:
            if r[4] not in ("0", "1"):  # the header row ("\ufeffid", "title", ...) sits inside the data
                continue
            d = dict(zip(_NSP_COLS, r, strict=True))
            d["text"] = _nsp_text(r)
            out.append(d)
        return _merge_duplicates(out)

    test = rows(evaluation)
    test_texts = {d["text"] for d in test}
    all_train = rows(train)
    train_rows = [d for d in all_train if d["text"] not in test_texts]
    splits = {"train": [d for d in train_rows if not in_val(d["text"])],
              "val": [d for d in train_rows if in_val(d["text"])], "test": test}
    n_data = sum(r[4] in ("0", "1") for r in train)
    stats = {"train_rows_in": len(train), "header_rows_dropped": len(train) - n_data,
             "duplicate_texts_merged": n_data - len(all_train) + len(evaluation) - len(test),
             "train_texts_in_eval_dropped": len(all_train) - len(train_rows),
             **{f"{k}_rows": len(v) for k, v in splits.items()},
             **{f"{k}_negative": sum(d["negative"] == "1" for d in v) for k, v in splits.items()}}
    return splits, stats


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


NSP_CSV_COLS = ["text", "label", "negative", "entities", "key_entities", "id"]


def _sources(src: Path) -> tuple[dict[str, Path], list[list[Any]], list[list[Any]]]:
    files = {p: src / f"{p}_list.json" for p in ("train", "eval")}
    train, evaluation = (json.loads(f.read_text(encoding="utf-8")) for f in files.values())
    return files, train, evaluation


def _record(dst: Path, files: dict[str, Path], stats: dict[str, int]) -> dict[str, Any]:
    return {"source_files": {f"{f.parent.name}/{f.name}": hashlib.sha256(f.read_bytes()).hexdigest()
                             for f in files.values()},
            "made_by": "python -m model.cn_data --source <shared data dir>", "counts": stats,
            "outputs": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(dst.glob("*.csv"))}}


def prepare(source: Path, finfe_dir: Path = CN_FINFE_DIR, finnsp_dir: Path = CN_FINNSP_DIR) -> dict[str, Any]:
    """Write both sets' split CSVs and a ``SOURCE.json`` beside each (source sha256, counts, rule)."""
    report = {}
    files, train, evaluation = _sources(source / "cn_finfe")
    fe_splits, fe_stats = clean_finfe(train, evaluation)
    finfe_dir.mkdir(parents=True, exist_ok=True)
    for part, rows in fe_splits.items():
        _write(finfe_dir / f"finfe_{part}.csv", ["text", "label"], rows)
    report["finfe"] = _record(finfe_dir, files, fe_stats)

    files, train, evaluation = _sources(source / "cn_finnsp")
    nsp_splits, nsp_stats = clean_finnsp(train, evaluation)
    finnsp_dir.mkdir(parents=True, exist_ok=True)
    for part, dicts in nsp_splits.items():
        _write(finnsp_dir / f"finnsp_{part}.csv", NSP_CSV_COLS, [[d[c] for c in NSP_CSV_COLS] for d in dicts])
    report["finnsp"] = {**_record(finnsp_dir, files, nsp_stats), "label_rule": FINNSP_RULE}

    for name, dst in (("finfe", finfe_dir), ("finnsp", finnsp_dir)):
        (dst / "SOURCE.json").write_text(json.dumps(report[name], indent=2, ensure_ascii=False) + "\n")
    return report


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, required=True, help="Shared data dir holding cn_finfe/ and cn_finnsp/.")
    print(json.dumps({k: v["counts"] for k, v in prepare(ap.parse_args().source).items()}, indent=2))
