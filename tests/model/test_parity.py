"""The shipped model on sentences whose sentiment is not in doubt (none are in the training data)."""

from __future__ import annotations

import pytest

KNOWN = [
    ("Net profit more than doubled and the company raised its full-year guidance .", "positive"),
    ("Quarterly revenue jumped 35 % , beating analyst expectations .", "positive"),
    ("The company swung to a heavy loss and announced 2,000 layoffs .", "negative"),
    ("Shares plunged 30 % after the firm issued a profit warning .", "negative"),
    ("The annual general meeting will be held in Helsinki on 5 April .", "neutral"),
    ("The company is headquartered in Espoo , Finland .", "neutral"),
]


@pytest.mark.parametrize("text,label", KNOWN)
def test_known_sentences(shipped, text, label):
    (p,) = shipped.classify([text])
    assert p.label == label, p.probs


def test_score_direction(shipped):
    pos, neg = shipped.classify([KNOWN[0][0], KNOWN[2][0]])
    assert pos.score > 0.5 > -0.5 > neg.score


def test_topic_names(shipped):
    (p,) = shipped.classify(["Fed raises interest rates by 75 basis points to fight inflation"])
    assert p.topics and p.topics[0][0] in ("Fed | Central Banks", "Macro")
