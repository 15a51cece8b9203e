"""Bring the training data into data/training/ and write the deterministic splits.

    python scripts/make_splits.py --source ../shared/data   # import raw files (once) + split
    python scripts/make_splits.py                           # re-split from data/training/ only

Raw files are copied byte-for-byte (licences and provenance kept beside them); the splits are
written to data/training/splits/*.csv with label *names*. Same inputs + seed -> same files.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model.labels import SENTIMENT_LABELS, TOPIC_LABELS  # noqa: E402
from model.splits import sentence_key, split_rows, story_key  # noqa: E402

DEST = ROOT / "data" / "training"
SEED = 13
RAW = {
    "fpb": ["Sentences_50Agree.txt", "Sentences_66Agree.txt", "Sentences_75Agree.txt",
            "Sentences_AllAgree.txt", "License.txt", "README.txt"],
    "twitter_fin_sentiment": ["sent_train.csv"],
    "twitter_fin_topic": ["train_data.csv", "PROVENANCE.md"],
    "fiqa2018_task1": ["task1_headline_ABSA_train.json", "task1_post_ABSA_train.json"],
    "semeval2017_task5": ["SemEval2017Task5Headlines.json"],
}
# FiQA / SemEval scores are continuous in [-1, 1] per target entity; binned per sentence (mean over
# its targets) at +-0.1, the thresholds the data's provenance note counts with. Sentences whose
# targets disagree in sign carry no single label and are left out.
BIN = 0.1
TWITTER_SENT = {"0": "negative", "1": "positive", "2": "neutral"}  # bearish / bullish / neutral


def _import(source: Path) -> None:
    for sub, names in RAW.items():
        (DEST / sub).mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copyfile(source / sub / name, DEST / sub / name)


def _fpb_lines(name: str) -> list[tuple[str, str]]:
    with (DEST / "fpb" / name).open(encoding="latin-1", newline="") as fh:
        raw = fh.read()
    rows = []
    for line in raw.split("\r\n"):
        if line.strip():
            text, label = line.rsplit("@", 1)
            rows.append((text.strip(), label.strip()))
    return rows


def _fpb() -> list[dict[str, str]]:
    """50Agree rows with the highest agreement file each sentence appears in (50/66/75/100)."""
    level: dict[str, str] = {}
    for name, agree in [("Sentences_50Agree.txt", "50"), ("Sentences_66Agree.txt", "66"),
                        ("Sentences_75Agree.txt", "75"), ("Sentences_AllAgree.txt", "100")]:
        for text, _ in _fpb_lines(name):
            level[sentence_key(text)] = agree
    return [{"text": t, "label": lab, "agreement": level[sentence_key(t)]}
            for t, lab in _fpb_lines("Sentences_50Agree.txt")]


def _bin(scores: list[float]) -> str | None:
    if min(scores) < -BIN and max(scores) > BIN:
        return None
    mean = sum(scores) / len(scores)
    return "negative" if mean < -BIN else "positive" if mean > BIN else "neutral"


def _extra_sentiment(held_out: set[str]) -> list[dict[str, str]]:
    """FiQA 2018 task 1 (headlines + posts) and SemEval-2017 task 5 headlines, binned, deduplicated
    (354 FiQA headlines are also SemEval headlines), minus anything in an FPB/twitter val/test split."""
    scores: dict[str, tuple[str, list[float]]] = {}
    for name in ("task1_headline_ABSA_train.json", "task1_post_ABSA_train.json"):
        for rec in json.loads((DEST / "fiqa2018_task1" / name).read_text(encoding="utf-8")).values():
            text = " ".join(rec["sentence"].split())
            entry = scores.setdefault(sentence_key(text), (text, []))
            entry[1].extend(float(i["sentiment_score"]) for i in rec["info"])
    for rec in json.loads((DEST / "semeval2017_task5" / "SemEval2017Task5Headlines.json").read_text(encoding="utf-8")):
        text = " ".join(rec["title"].split())
        scores.setdefault(sentence_key(text), (text, []))[1].append(float(rec["sentiment"]))
    rows = []
    for key in sorted(scores):
        text, vals = scores[key]
        label = _bin(vals)
        if label and key not in held_out:
            rows.append({"text": text, "label": label})
    return rows


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _write(path: Path, rows: list[dict[str, str]], cols: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--source", type=Path, help="shared data dir to import raw files from")
    args = ap.parse_args()
    if args.source:
        _import(args.source)
    out = DEST / "splits"

    fpb = _fpb()
    assert {r["label"] for r in fpb} <= set(SENTIMENT_LABELS)
    parts = split_rows(fpb, group=lambda r: sentence_key(r["text"]),
                       stratum=lambda r: f'{r["label"]}/{r["agreement"]}', seed=SEED, val=0.1, test=0.15)
    for part, rows in parts.items():
        _write(out / f"fpb_{part}.csv", rows, ["text", "label", "agreement"])
    _write(out / "fpb_allagree_test.csv", [r for r in parts["test"] if r["agreement"] == "100"],
           ["text", "label", "agreement"])

    tw = [{"text": r["text"], "label": TWITTER_SENT[r["label"]]}
          for r in _csv(DEST / "twitter_fin_sentiment" / "sent_train.csv")]
    parts = split_rows(tw, group=lambda r: story_key(r["text"]), stratum=lambda r: r["label"], seed=SEED)
    for part, rows in parts.items():
        _write(out / f"twitter_sentiment_{part}.csv", rows, ["text", "label"])

    topic = [{"text": r["text"], "label": TOPIC_LABELS[int(r["label"])]}
             for r in _csv(DEST / "twitter_fin_topic" / "train_data.csv")]
    parts = split_rows(topic, group=lambda r: story_key(r["text"]), stratum=lambda r: r["label"], seed=SEED)
    for part, rows in parts.items():
        _write(out / f"topic_{part}.csv", rows, ["text", "label"])

    held_out = {sentence_key(r["text"]) for name in ("fpb_val", "fpb_test", "twitter_sentiment_val",
                                                      "twitter_sentiment_test") for r in _csv(out / f"{name}.csv")}
    _write(out / "extra_sentiment_train.csv", _extra_sentiment(held_out), ["text", "label"])

    for p in sorted(out.glob("*.csv")):
        n = sum(1 for _ in p.open(encoding="utf-8")) - 1
        print(f"{p.relative_to(ROOT)}\t{n}\t{hashlib.sha256(p.read_bytes()).hexdigest()[:16]}")


if __name__ == "__main__":
    main()
