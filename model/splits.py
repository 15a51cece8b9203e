"""Deterministic, stratified, group-aware train/val/test splits (pure logic, no I/O).

Assignment does not depend on any RNG implementation: inside each stratum the groups are
ordered by ``sha256(seed + group_key)`` and the first ``test`` share goes to test, the next
``val`` share to validation, the rest to train. Rows sharing a group key (duplicates, the same
story posted twice with different links) always land in the same split, so nothing leaks.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

_LINK = re.compile(r"https?://\S+")
_WS = re.compile(r"\s+")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def story_key(text: str) -> str:
    """Key that merges link-only near-duplicates: lower-case, links removed, whitespace collapsed."""
    return _WS.sub(" ", _LINK.sub("", text.lower())).strip()


def sentence_key(text: str) -> str:
    """Key for pre-tokenised sentences: lower-case, only letters and digits kept."""
    return _NON_ALNUM.sub("", text.lower())


def _rank(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def split_rows(
    rows: Sequence[T],
    *,
    group: Callable[[T], str],
    stratum: Callable[[T], str],
    seed: int = 13,
    val: float = 0.1,
    test: float = 0.1,
) -> dict[str, list[T]]:
    """Split ``rows`` into ``{"train", "val", "test"}``, stratified by the stratum of each group's first row."""
    groups: dict[str, list[T]] = defaultdict(list)
    for row in rows:
        groups[group(row)].append(row)
    strata: dict[str, list[str]] = defaultdict(list)
    for key, members in groups.items():
        strata[stratum(members[0])].append(key)
    out: dict[str, list[T]] = {"train": [], "val": [], "test": []}
    for name in sorted(strata):
        keys = sorted(strata[name], key=lambda k: _rank(seed, k))
        n_test = round(len(keys) * test)
        n_val = round(len(keys) * val)
        for i, key in enumerate(keys):
            part = "test" if i < n_test else "val" if i < n_test + n_val else "train"
            out[part].extend(groups[key])
    return out
