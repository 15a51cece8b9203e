"""What a firing alert says about its key: evidence headlines, the key's display name, its story.

Read inside the monitor's alert transaction (``store.protocol.Transaction``), so the evidence is
what the tested buckets counted. Entity keys are not stored per item: their headlines are the
window's negatives that name the entity.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from finsentry.records import ALL, AlertEvent, Evidence
from monitor.detector import Evaluation

if TYPE_CHECKING:
    from store.protocol import Transaction

EVIDENCE_CHARS = 500  # a headline's text in an alert is cut here
STORY_HEADLINES = 50  # a key's negative headlines read to find its stories


def key_negatives(txn: Transaction, ev: Evaluation) -> list[Evidence]:
    """The key's negative unique headlines in the tested window, most negative first."""
    from monitor.entities import extract_entities

    if ev.key[0] != "entity":
        return txn.evidence(ev.key, ev.window_start, ev.window_end, STORY_HEADLINES)
    every = txn.evidence(ALL, ev.window_start, ev.window_end, 20 * STORY_HEADLINES)
    return [e for e in every if ev.key[1] in extract_entities(e.text)][:STORY_HEADLINES]


def describe(txn: Transaction, ev: Evaluation, event: AlertEvent, evidence: int) -> AlertEvent:
    """``event`` (firing) with its ``evidence`` most negative headlines, the key's display name and
    its biggest story."""
    from monitor.stories import group_stories
    from monitor.tickers import default_extractor

    kt, k = ev.key
    name = default_extractor().display_name(k) if kt == "ticker" else k if kt == "entity" else ""
    negatives = key_negatives(txn, ev)
    heads = [(e.id, e.text, e.score) for e in negatives]
    if kt in ("ticker", "entity"):  # one company, one window: a shared word makes one story
        stories = group_stories(heads, exclude=f"{name} {k}", min_overlap=0.0, min_shared=1)
    else:
        stories = group_stories(heads, exclude=f"{name} {k}")
    top = stories[0] if stories else None
    shown = tuple(replace(e, text=e.text[:EVIDENCE_CHARS]) for e in negatives[:max(evidence, 0)])
    return replace(
        event, evidence=shown, entity=name,
        story=top.headline[:EVIDENCE_CHARS] if top else "", story_size=top.size if top else 0,
    )  # fmt: skip
