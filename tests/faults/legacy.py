"""The text patterns as they were before issue 12 (quadratic/cubic on long whitespace runs).

Kept only as a reference: the new patterns must give the same results on normal text, and the
step-count proxy in ``backtrack.py`` must flag these as super-linear (proof the proxy has teeth).
"""

from __future__ import annotations

import re

from monitor.syndication import _OUTLETS

TRAILING_TAG = re.compile(
    r"(?:\s+[-–—|:]\s*|\s*[|]\s*|\s*\(\s*)(?:" + _OUTLETS + r")(?:\.com)?\s*\)?\s*[.!]?\s*$",
    re.IGNORECASE,
)
PIPE_TAIL = re.compile(r"\s+\|\s+[^|]{1,40}$")
EXCHANGE = re.compile(
    r"(?P<paren>\()?\s*(?P<ex>NASDAQ|Nasdaq|NYSE(?:\s?(?:American|AMERICAN|Arca|ARCA|MKT))?|AMEX|"
    r"OTC(?:QX|QB|\sMarkets)?|LSE|LON|TSX(?:V|-V)?|ASX|HKEX|XETRA|Xetra|FRA)\s*:\s*"
    r"(?P<sym>[A-Z0-9]{1,6}(?:[.\-][A-Z]{1,2})?)(?![\w])"
)
# module attribute -> the pattern it replaced
REPLACED = {
    ("monitor.syndication", "_TRAILING_TAG"): TRAILING_TAG,
    ("monitor.syndication", "_PIPE_TAIL"): PIPE_TAIL,
    ("monitor.tickers", "_EXCHANGE"): EXCHANGE,
}
