"""`finsentry model eval`: score a labelled CSV with the engine (no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from finsentry.errors import ConfigError
from model.data import read_csv
from model.engine import Classifier, clean_text
from model.scoring import classification_report


def evaluate_file(clf: Classifier, path: Path, *, text_col: str = "text", label_col: str = "label",
                  task: str = "sentiment") -> dict[str, Any]:
    """Classification report for ``path``; rows with no text or an unknown label are skipped and counted."""
    if task not in ("sentiment", "topic"):
        raise ConfigError(f"task must be sentiment or topic, not {task!r}")
    labels = clf.sentiment_labels if task == "sentiment" else clf.topic_labels
    lookup = {lab.lower(): lab for lab in labels}
    rows = read_csv(path, text_col, label_col)
    texts, gold, skipped = [], [], {"empty_text": 0, "unknown_label": 0}
    examples: dict[str, list[int]] = {"empty_text": [], "unknown_label": []}
    for line, row in enumerate(rows, start=2):
        text, label = row.get(text_col) or "", (row.get(label_col) or "").strip().lower()
        reason = "empty_text" if not clean_text(text) else "unknown_label" if label not in lookup else None
        if reason:
            skipped[reason] += 1
            examples[reason].append(line)
            continue
        texts.append(text)
        gold.append(lookup[label])
    if task == "sentiment":
        pred = [p.label for p in clf.classify(texts)]
    else:
        _, t, _ = clf.probabilities([clean_text(x) for x in texts])
        pred = [clf.topic_labels[i] for i in t.argmax(1)] if len(texts) else []
    report = classification_report(gold, pred, labels)
    report["skipped"] = {k: v for k, v in skipped.items() if v}
    report["skipped_lines"] = {k: v[:10] for k, v in examples.items() if v}
    report["task"] = task
    return report
