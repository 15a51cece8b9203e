"""Vocabulary trimming for a SentencePiece-Unigram base (250k pieces -> the pieces our languages use).

The embedding matrix of multilingual-e5-small is 96 M of its 118 M parameters, almost all of them rows
for languages finsentry never sees. Trimming keeps

* every piece that occurs when the full tokenizer segments the given corpora (optionally only those
  seen at least ``min_count`` times),
* every single-character piece (with or without the leading "▁") of the chosen scripts present in the
  vocabulary (Latin, Han, CJK punctuation / full-width forms, emoji, common digits/punctuation/symbols/
  combining diacritics), plus
  every single-character piece seen in the corpora, so no character of those texts becomes unknown,
* the special tokens,

in their original order (specials keep ids 0-3), and slices the embedding rows to match. Because the
kept set contains the full tokenizer's best segmentation of every corpus text and is a subset of the
vocabulary, those texts segment identically and embed identically (``min_count=1``).

Corpus files: ``.txt`` (one text per line), ``.csv`` (column ``text``), ``.jsonl``/``.jsonl.gz``
(field ``text``; items whose ``id`` is held out by :func:`is_held_out` are skipped, so the stream
items used for measuring never shape the vocabulary).
"""

from __future__ import annotations

import collections
import csv
import gzip
import hashlib
import json
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from finsentry.errors import DataError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

SCRIPTS = ("latin", "han", "cjk_punct", "common", "emoji")
HIDDEN = 384


def script_of(ch: str) -> str:
    """A coarse script class of one character: latin, han, cjk_punct, emoji, common or other."""
    cp = ord(ch)
    name = unicodedata.name(ch, "")
    if name.startswith("LATIN"):
        return "latin"
    if name.startswith(("CJK UNIFIED", "CJK COMPATIBILITY IDEOGRAPH")):
        return "han"
    if 0x3000 <= cp <= 0x303F or 0xFF00 <= cp <= 0xFFEF:
        return "cjk_punct"
    cat = unicodedata.category(ch)
    if cp >= 0x1F000 and cat == "So":
        return "emoji"
    if (cp < 0x2E80 and cat[0] in "NPSZC") or 0x0300 <= cp <= 0x036F:
        return "common"  # digits, punctuation, symbols, spaces, format characters, combining diacritics
    return "other"


def is_held_out(key: str, tenths: int = 3) -> bool:
    """Deterministic hold-out by sha256 of ``key`` (a stream item id): ``tenths``/10 of the items."""
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) % 10 < tenths


def read_corpus(path: str | Path, *, held_out: bool = False, lang: str | None = None) -> list[str]:
    """Texts of one corpus file (see module docstring). ``held_out=True`` returns only the held-out items."""
    path = Path(path)
    try:
        if path.suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as fh:
                return [r["text"] for r in csv.DictReader(fh) if r.get("text")]
        if path.name.endswith((".jsonl", ".jsonl.gz")):
            opener = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rt", encoding="utf-8") as fh:
                items = [json.loads(line) for line in fh if line.strip()]
            return [it["text"] for it in items if it.get("text")
                    and (lang is None or it.get("lang") == lang)
                    and is_held_out(str(it.get("id", it["text"]))) == held_out]
        return [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"cannot read corpus {path}: {exc}") from exc


def piece_counts(tok: Tokenizer, texts: list[str]) -> collections.Counter[int]:
    """How often each piece id occurs in the segmentation of ``texts`` (no special tokens)."""
    counts: collections.Counter[int] = collections.Counter()
    for enc in tok.encode_batch(list(texts), add_special_tokens=False):
        counts.update(enc.ids)
    return counts


def single_char_ids(pieces: list[str], scripts: tuple[str, ...] = SCRIPTS) -> set[int]:
    out = set()
    for i, p in enumerate(pieces):
        s = p[1:] if p.startswith("\u2581") and len(p) > 1 else p
        if len(s) == 1 and (p == "\u2581" or script_of(s) in scripts):
            out.add(i)
    return out


def select(pieces: list[str], special_ids: dict[str, int], counts: collections.Counter[int], *,
           min_count: int = 1, scripts: tuple[str, ...] = SCRIPTS) -> list[int]:
    """Sorted ids to keep (see module docstring)."""
    keep = set(special_ids.values()) | single_char_ids(pieces, scripts)
    for i, c in counts.items():
        s = pieces[i][1:] if pieces[i].startswith("\u2581") and len(pieces[i]) > 1 else pieces[i]
        if c >= min_count or len(s) == 1:
            keep.add(i)
    return sorted(keep)


def trim(embeddings: np.ndarray, pieces: list[str], scores: np.ndarray | list[float], special_ids: dict[str, int],
         keep: list[int]) -> tuple[np.ndarray, list[str], np.ndarray, dict[str, int]]:
    """Embedding rows, pieces, scores and special ids of the kept vocabulary (new id = rank in ``keep``)."""
    keep_arr = np.asarray(keep, dtype=np.int64)
    if keep_arr.size == 0 or keep_arr.max() >= len(pieces) or np.any(np.diff(keep_arr) <= 0):
        raise ValueError("keep must be sorted, unique ids of the vocabulary")
    new_id = {old: new for new, old in enumerate(keep)}
    missing = [s for s, i in special_ids.items() if i not in new_id]
    if missing:
        raise ValueError(f"special tokens not kept: {missing}")
    return (np.ascontiguousarray(embeddings[keep_arr]), [pieces[i] for i in keep],
            np.asarray(scores, dtype=np.float32)[keep_arr], {s: new_id[i] for s, i in special_ids.items()})


def unk_rate(tok: Tokenizer, texts: list[str]) -> dict[str, Any]:
    """Unknown pieces over ``texts`` with tokenizer ``tok`` (``tokenizers.Tokenizer``), no specials."""
    unk = tok.token_to_id("<unk>")
    encs = tok.encode_batch(list(texts), add_special_tokens=False)
    n_tok = sum(len(e.ids) for e in encs)
    n_unk = sum(e.ids.count(unk) for e in encs)
    return {"texts": len(texts), "tokens": n_tok, "unk_tokens": n_unk,
            "unk_rate": n_unk / max(1, n_tok), "texts_with_unk": sum(unk in e.ids for e in encs),
            "tokens_per_text": round(n_tok / max(1, len(texts)), 2)}


def int8_onnx_mb(vocab_rows: int, *, hidden: int = HIDDEN, layers: int = 12, ffn: int = 1536,
                 positions: int = 512, embeddings_int8: bool = False, heads: int = 3 + 20) -> float:
    """Expected size (MiB) of the int8 ONNX model the export path derives.

    Today's export keeps the word-embedding table fp32 inside the fused EmbedLayerNormalization and
    quantises only MatMul/Attention weights to int8 (checked on the shipped MiniLM: 30,522 x 384 fp32 +
    6 int8 layers -> 56 MB). ``embeddings_int8=True``: the table quantised too (not done by export today).
    """
    matmul = layers * (4 * hidden * hidden + 2 * hidden * ffn)
    fp32 = layers * (4 * hidden + ffn + hidden + 4 * hidden) + positions * hidden + 2 * hidden + 2 * hidden
    fp32 += heads * (hidden + 1)
    emb = vocab_rows * hidden * (1 if embeddings_int8 else 4)
    return round((matmul + 4 * fp32 + emb) / 2**20, 1)
