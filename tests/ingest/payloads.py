"""Varied malformed payloads (with the dead-letter reason each must get) and valid messages."""

from __future__ import annotations

import json
import random


def malformed(n: int = 240, seed: int = 7) -> list[tuple[bytes | None, str]]:
    """``n`` broken records cycling through every contract violation, each a little different."""
    rng = random.Random(seed)
    makers = [
        lambda i: (None, "empty_record"),
        lambda i: (b"", "empty_record"),
        lambda i: (b"\xff\xfe" + f"bad utf8 {i}".encode() + b"\xc3\x28", "not_utf8"),
        lambda i: (("caf\u00e9 " * (i % 5 + 1)).encode("latin-1"), "not_utf8"),
        lambda i: (f"{{\"text\": \"unterminated {i}\"".encode(), "not_json"),
        lambda i: (f"plain text headline {i}".encode(), "not_json"),
        lambda i: (b"{'text': 'single quotes'}", "not_json"),
        lambda i: (json.dumps([f"list {i}"]).encode(), "not_object"),
        lambda i: (json.dumps(f"string {i}").encode(), "not_object"),
        lambda i: (str(i).encode(), "not_object"),
        lambda i: (b"null", "not_object"),
        lambda i: (json.dumps({"id": f"m{i}", "source": "x"}).encode(), "missing_text"),
        lambda i: (json.dumps({"title": f"wrong key {i}"}).encode(), "missing_text"),
        lambda i: (json.dumps({"text": " " * (i % 7) + "\n\t"}).encode(), "empty_text"),
        lambda i: (json.dumps({"headline": ""}).encode(), "empty_text"),
        lambda i: (json.dumps({"text": "x" * (10_001 + i)}).encode(), "text_too_long"),
        lambda i: (json.dumps({"text": i}).encode(), "wrong_type"),
        lambda i: (json.dumps({"text": ["a", "b"]}).encode(), "wrong_type"),
        lambda i: (json.dumps({"text": f"ok {i}", "tickers": "AAPL"}).encode(), "wrong_type"),
        lambda i: (json.dumps({"text": f"ok {i}", "tickers": [1, 2]}).encode(), "wrong_type"),
        lambda i: (json.dumps({"text": f"ok {i}", "source": 5}).encode(), "wrong_type"),
        lambda i: (json.dumps({"text": f"ok {i}", "tickers": ["X" * 33]}).encode(), "wrong_type"),
        lambda i: (json.dumps({"text": "\u0000\u0000 "}).encode(), "empty_text"),
        lambda i: (json.dumps({"text": f"ok {i}", "id": {"a": 1}}).encode(), "wrong_type"),
        lambda i: (json.dumps({"text": f"ok {i}", "published_at": 1678450000}).encode(), "wrong_type"),
        lambda i: (json.dumps({"text": f"ok {i}", "id": ""}).encode(), "bad_id"),
        lambda i: (json.dumps({"text": f"ok {i}", "id": "x" * 129}).encode(), "bad_id"),
        lambda i: (json.dumps({"text": f"ok {i}", "published_at": "yesterday"}).encode(), "bad_timestamp"),
        lambda i: (json.dumps({"text": f"ok {i}", "published_at": "2023-02-30T10:00:00Z"}).encode(), "bad_timestamp"),
        lambda i: (json.dumps({"text": f"ok {i}", "published_at": "10/03/2023"}).encode(), "bad_timestamp"),
    ]
    out = []
    for i in range(n):
        value, reason = makers[i % len(makers)](i + rng.randrange(1000))
        out.append((value, reason))
    return out


HEADLINES = [
    "Shares of {c} plunge after the lender discloses heavy losses",
    "{c} reports record quarterly profit, raises full-year guidance",
    "{c} to hold annual shareholder meeting in May",
    "Regulators close {c} as depositors rush to withdraw funds",
    "{c} beats estimates as revenue jumps 20%",
    "{c} announces board changes",
]
COMPANIES = ["Silicon Valley Bank", "Apple", "Credit Suisse", "Tesla", "First Republic", "Nvidia", "Siemens"]


def valid(n: int, prefix: str = "v", seed: int = 11) -> list[dict]:
    """``n`` valid contract messages with unique ids and varied optional fields."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        text = rng.choice(HEADLINES).format(c=rng.choice(COMPANIES)) + f" (#{i})"
        msg: dict = {"id": f"{prefix}-{i}", "text": text,
                     "published_at": f"2023-03-{10 + i % 5:02d}T{i % 24:02d}:{i % 60:02d}:00Z"}
        if i % 3 == 0:
            msg["source"] = rng.choice(["CNBC", "FT", "Reuters"])
        if i % 4 == 0:
            msg["tickers"] = ["SIVB"]
        if i % 5 == 0:
            msg["lang"] = "en"
        if i % 7 == 0:
            msg["text"] += " \u0000"  # NUL: dropped (PostgreSQL text cannot hold it)
        out.append(msg)
    return out
