"""Per-language figures of a model directory, written into its ``card.json`` (``per_language``).

``python -m model.figures model/multilingual`` scores, with the int8 engine the service runs:
Polish (the hand-labelled Bankier.pl headlines, dev and test halves separately), Chinese (FinFE test
accuracy / macro-F1, FinNSP test negative-class F1), English (FPB, FPB all-agree, twitter test) and
the negative recall on the crisis headlines. The Polish test half is scored here only, for the card
and the docs, never for a choice.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from model.cn_data import CN_FINFE_DIR, CN_FINNSP_DIR
from model.data import SPLITS_DIR, read_csv
from model.engine import Classifier, load_classifier
from model.scoring import classification_report

EVAL_DIR = Path(__file__).resolve().parents[1] / "data" / "eval"
POLISH = EVAL_DIR / "polish_headlines.csv"
CRISIS = EVAL_DIR / "crisis_headlines.csv"


def _score(clf: Classifier, rows: list[dict[str, str]]) -> dict[str, Any]:
    preds = [p.label for p in clf.classify([r["text"] for r in rows])]
    rep = classification_report([r["label"] for r in rows], preds, list(clf.sentiment_labels))
    out = {k: round(rep[k], 4) if isinstance(rep[k], float) else rep[k] for k in ("accuracy", "macro_f1", "n")}
    out["negative_f1"] = round(rep["per_class"]["negative"]["f1"], 4)
    out["negative_recall"] = round(rep["per_class"]["negative"]["recall"], 4)
    return out


def figures(clf: Classifier) -> dict[str, dict[str, Any]]:
    """The card's ``per_language`` block for ``clf``."""
    polish = read_csv(POLISH)
    return {
        "pl_dev": _score(clf, [r for r in polish if r["split"] == "dev"]),
        "pl_test": _score(clf, [r for r in polish if r["split"] == "test"]),
        "zh_finfe_test": _score(clf, read_csv(CN_FINFE_DIR / "finfe_test.csv")),
        "zh_finnsp_test": _score(clf, read_csv(CN_FINNSP_DIR / "finnsp_test.csv")),
        "en_fpb_test": _score(clf, read_csv(SPLITS_DIR / "fpb_test.csv")),
        "en_fpb_allagree_test": _score(clf, read_csv(SPLITS_DIR / "fpb_allagree_test.csv")),
        "en_twitter_sentiment_test": _score(clf, read_csv(SPLITS_DIR / "twitter_sentiment_test.csv")),
        "crisis_headlines": _score(clf, read_csv(CRISIS)),
    }


def write_card_figures(model_dir: Path, threads: int = 2) -> dict[str, Any]:
    """Score ``model_dir`` (int8, CPU) and store the figures in its card.json."""
    clf = load_classifier(model_dir, provider="cpu", variant="int8", threads=threads)
    per_language = figures(clf)
    card_path = Path(model_dir) / "card.json"
    card = json.loads(card_path.read_text())
    card["per_language"] = {"engine": "onnxruntime CPU int8", **per_language}
    card_path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    return per_language


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir", type=Path)
    print(json.dumps(write_card_figures(ap.parse_args().model_dir), indent=2))
