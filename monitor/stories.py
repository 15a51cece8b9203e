"""Stories: a key's headlines about one event, grouped (pure).

An alert's window holds the key's negative headlines; several outlets and follow-ups about one
event share their content words ("Silicon Valley Bank shut down by regulators", "regulators close
Silicon Valley Bank"). Headlines are linked when they share at least two content stems (lower-cased
words cut to their first four letters, so "close"/"closure" and "seize"/"seized" meet; stop words and
the key's own name left out) and those make up at least ``min_overlap`` of the shorter headline's
stems; a story is a connected group (single link). For a company's own window one shared stem is enough (it is
already one entity, close in time). The alert names its biggest story (its most negative
headline) and how many headlines it holds.

    >>> s = group_stories([("a", "Regulators shut down Silicon Valley Bank", -0.9),
    ...                    ("b", "Silicon Valley Bank shut down by regulators, FDIC steps in", -0.8),
    ...                    ("c", "Oil prices fall on demand worries", -0.7)], exclude="Silicon Valley Bank")
    >>> [(st.headline, st.size) for st in s]
    [('Regulators shut down Silicon Valley Bank', 2), ('Oil prices fall on demand worries', 1)]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_STOP = frozenset(
    """a an the of to in on at for from by with as and or but is are was were be been has have had
    will would could should can may might its it this that these those after before over under amid
    says said say new up down out into about than more most less not no s x""".split()
)
MIN_OVERLAP = 0.3
MIN_SHARED = 2
STEM = 4


@dataclass(frozen=True, slots=True)
class Story:
    headline: str  # its most negative headline
    size: int
    ids: tuple[str, ...]


def _words(text: str, exclude: frozenset[str]) -> frozenset[str]:
    head = text.split(". ", 1)[0]  # the headline, not the lead paragraph
    return frozenset(
        w[:STEM] for w in _TOKEN.findall(head.lower()) if w not in _STOP and w not in exclude and len(w) > 2
    )


def group_stories(
    headlines: Sequence[tuple[str, str, float]],
    exclude: str = "",
    min_overlap: float = MIN_OVERLAP,
    min_shared: int = MIN_SHARED,
) -> list[Story]:
    """Group ``(id, text, score)`` headlines into stories, biggest first (ties: most negative).

    One company's negative headlines inside an alert window are already "same entity, close in
    time": the service links them on a single shared stem (``min_shared=1, min_overlap=0``), while
    a topic's or a source's headlines need the stricter default to be one event.
    """
    ex = frozenset(_TOKEN.findall(exclude.lower()))
    words = [_words(text, ex) for _, text, _ in headlines]
    parent = list(range(len(headlines)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(headlines)):
        for j in range(i):
            a, b = words[i], words[j]
            shared = len(a & b)
            if shared >= min_shared and shared / min(len(a), len(b)) >= min_overlap:
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(headlines)):
        groups.setdefault(root(i), []).append(i)
    stories = []
    for members in groups.values():
        best = min(members, key=lambda i: headlines[i][2])
        stories.append(Story(headlines[best][1], len(members), tuple(headlines[i][0] for i in members)))
    score = {h[0]: h[2] for h in headlines}
    stories.sort(key=lambda st: (-st.size, min(score[i] for i in st.ids)))
    return stories
