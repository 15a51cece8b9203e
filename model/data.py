"""Reading labelled CSV files (the committed splits, or a user's file for `model eval`)."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from finsentry.errors import DataError

SPLITS_DIR = Path(__file__).resolve().parents[1] / "data" / "training" / "splits"


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    source: str = ""
    agreement: str = ""


def read_csv(path: Path, text_col: str = "text", label_col: str | None = "label") -> list[dict[str, str]]:
    """All rows of a UTF-8 CSV with a header, as dicts; raises DataError if unreadable or columns missing."""
    try:
        with Path(path).open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            cols = reader.fieldnames or []
            for col in [text_col] + ([label_col] if label_col else []):
                if col not in cols:
                    raise DataError(f"{path}: column {col!r} not found (have {cols})")
            return list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc


def load_split(name: str, part: str, splits_dir: Path = SPLITS_DIR) -> list[Example]:
    """``name`` in {fpb, twitter_sentiment, topic}; ``part`` in {train, val, test} (or ``allagree_test``)."""
    path = splits_dir / f"{name}_{part}.csv"
    return [
        Example(text=r["text"], label=r["label"], source=name, agreement=r.get("agreement", ""))
        for r in read_csv(path)
    ]


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
