"""Pure tests of the input contract: decoding, normalisation, every rejection reason, the schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from finsentry.errors import InvalidMessage
from ingest.contract import (
    MAX_RECORD_BYTES,
    REASONS,
    decode,
    derive_id,
    parse_time,
    record_time,
)
from tests.ingest.payloads import malformed, valid

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "ingest" / "news.schema.json").read_text())


def test_full_message():
    m = decode(json.dumps({
        "id": "a1", "text": "  SVB shares plunge  ", "published_at": "2023-03-09T16:15:00-05:00",
        "source": "CNBC", "url": "https://x", "tickers": ["$sivb", "SIVB", "frc"], "lang": "en-US",
    }).encode())
    assert m.id == "a1" and m.text == "SVB shares plunge"
    assert m.published_at == datetime(2023, 3, 9, 21, 15, tzinfo=UTC)
    assert m.tickers == ("SIVB", "FRC") and m.lang == "en-US" and not m.time_from_record


def test_headline_fallback_and_derived_id_is_stable():
    a = decode(b'{"headline": "Fed hikes", "source": "FT"}', record_timestamp_ms=1_678_450_000_000)
    b = decode(b'{"headline": "Fed hikes", "source": "FT"}', record_timestamp_ms=1_678_460_000_000)
    c = decode(b'{"headline": "Fed hikes", "source": "CNBC"}', record_timestamp_ms=1_678_450_000_000)
    assert a.text == "Fed hikes" and a.id == b.id == derive_id("Fed hikes", "FT") and a.id != c.id
    assert a.time_from_record and a.published_at == datetime.fromtimestamp(1_678_450_000, tz=UTC)


def test_integer_id_and_non_ascii_text():
    m = decode(json.dumps({"id": 42, "text": "Akcje PKO BP spadają 📉", "lang": "pl"}, ensure_ascii=False).encode())
    assert m.id == "42" and m.text.endswith("📉")


@pytest.mark.parametrize("value,expected", [
    ("2023-03-10T14:00:00Z", datetime(2023, 3, 10, 14, tzinfo=UTC)),
    ("2023-03-10T14:00:00.123+01:00", datetime(2023, 3, 10, 13, 0, 0, 123000, tzinfo=UTC)),
    ("2023-03-10 14:00:00", datetime(2023, 3, 10, 14, tzinfo=UTC)),  # no offset: read as UTC
    ("2023-03-10t14:00z", datetime(2023, 3, 10, 14, tzinfo=UTC)),
])
def test_parse_time(value, expected):
    assert parse_time(value) == expected


def test_length_limit_is_configurable():
    assert decode(b'{"text": "12345"}', max_chars=5).text == "12345"
    with pytest.raises(InvalidMessage) as e:
        decode(b'{"text": "123456"}', max_chars=5)
    assert e.value.reason == "text_too_long"


@pytest.mark.parametrize("value,reason", malformed(56))
def test_every_malformed_kind_gets_its_reason(value, reason):
    with pytest.raises(InvalidMessage) as e:
        decode(value)
    assert e.value.reason == reason


def test_schema_agrees_with_decoder():
    """The published JSON Schema accepts the valid messages and rejects the contract violations."""
    jsonschema = pytest.importorskip("jsonschema")
    v = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    for msg in valid(30) + SCHEMA["examples"]:
        decode(json.dumps(msg).encode())
        assert not list(v.iter_errors(msg)), msg
    checked = 0
    for value, reason in malformed(56):
        if reason in ("empty_record", "not_utf8", "not_json"):
            continue  # not JSON documents at all
        doc = json.loads(value)
        if reason == "bad_timestamp" and "-02-30" in doc.get("published_at", ""):
            continue  # format checkers differ on calendar validity; the decoder is strict
        assert list(v.iter_errors(doc)), (reason, doc)
        checked += 1
    assert checked > 30


# --- issue 12: limits and hostile values (the full table is in tests/faults) ---------------------
@pytest.mark.parametrize("value", [
    "0001-01-01T00:30:00+01:00", "9999-12-31T23:59:00-01:00", "1899-12-31T23:59:59Z", "2200-01-01T00:00:00Z",
    "2023-03-10T14:00:00." + "1" * 100 + "Z", "２０２３-03-10T14:00:00Z",
])
def test_parse_time_rejects_out_of_range_and_oversized(value):
    with pytest.raises(InvalidMessage) as e:
        parse_time(value)
    assert e.value.reason == "bad_timestamp"


@pytest.mark.parametrize("ts,expected", [
    (1_678_450_000_000, datetime(2023, 3, 10, 12, 6, 40, tzinfo=UTC)),  # milliseconds
    (1_678_450_000_000_000, datetime(2023, 3, 10, 12, 6, 40, tzinfo=UTC)),  # microseconds
    (1_678_450_000_000_000_000, datetime(2023, 3, 10, 12, 6, 40, tzinfo=UTC)),  # nanoseconds
    (-1, None), (2**63 - 1, None), (10**40, None), (float("nan"), None), (True, None), ("1678450000000", None),
])
def test_record_time(ts, expected):
    assert record_time(ts) == expected


@pytest.mark.parametrize("doc,reason", [
    ({"text": "x", "url": "u" * 2049}, "field_too_long"),
    ({"text": "x", **{f"f{i}": 1 for i in range(64)}}, "too_many_fields"),
])
def test_new_limits(doc, reason):
    with pytest.raises(InvalidMessage) as e:
        decode(json.dumps(doc).encode())
    assert e.value.reason == reason
    jsonschema = pytest.importorskip("jsonschema")
    assert list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(doc))  # the schema says so too


def test_strict_json_and_hostile_encodings():
    for value, reason in [(b'{"text": "x", "text": "y"}', "duplicate_field"), (b'{"text": "x", "v": NaN}', "not_json"),
                          (b'{"text": "x", "n": ' + b"1" * 129 + b"}", "not_json"),
                          (b"[" * 5000 + b"]" * 5000, "too_deep"), (b"x" * (MAX_RECORD_BYTES + 1), "record_too_large")]:
        with pytest.raises(InvalidMessage) as e:
            decode(value)
        assert e.value.reason == reason, value[:40]
    m = decode(b'\xef\xbb\xbf{"text": "a \\ud800 b", "url": "' + b"u" * 2048 + b'"}')
    assert m.text == "a \ufffd b" and len(m.url or "") == 2048


def test_reasons_are_documented_in_the_module_docstring():
    import ingest.contract as c

    for reason in REASONS:
        assert f"    {reason} " in (c.__doc__ or ""), reason
