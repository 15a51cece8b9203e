"""Issue 12: one hostile record never crashes a consumer.

Whatever the value, key, headers and timestamp, :func:`ingest.records.triage` returns either a
valid message within every field limit (time tz-aware UTC) or a dead letter with a documented
reason, and what goes to the dead-letter topic is always sendable by kafka-python.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest import contract
from ingest.contract import NewsMessage
from ingest.kafka_io import Record
from ingest.records import (
    DLQ_MAX_BYTES,
    TRIAGE_REASONS,
    dlq_headers,
    dlq_record,
    scored_item,
    scored_payload,
    triage,
)
from monitor.syndication import story_hash
from monitor.tickers import extract_tickers

MAX_CHARS = 10_000
NOW = datetime(2026, 1, 1, tzinfo=UTC)
TS_2023 = 1_678_450_000_000  # 2023-03-10T12:06:40Z in ms


def rec(value: bytes | None, key: bytes | None = b"k", headers: object = (), ts: object = TS_2023) -> Record:
    return Record("news", 0, 7, key, value, headers, ts)  # type: ignore[arg-type]


def _encodable(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_message(msg: NewsMessage, max_chars: int = MAX_CHARS) -> None:
    """Every invariant a valid message promises to the rest of the pipeline."""
    for value, limit in (
        (msg.id, contract.MAX_ID_CHARS),
        (msg.text, max_chars),
        (msg.source, contract.MAX_SOURCE_CHARS),
        (msg.url, contract.MAX_URL_CHARS),
        (msg.lang, contract.MAX_LANG_CHARS),
    ):
        if value is None:
            continue
        assert isinstance(value, str) and 0 < len(value) <= limit
        assert "\x00" not in value and _encodable(value)
    assert msg.text == msg.text.strip()
    assert len(msg.tickers) <= contract.MAX_TICKERS and len(set(msg.tickers)) == len(msg.tickers)
    for t in msg.tickers:
        assert 0 < len(t) <= contract.MAX_TICKER_CHARS and t == t.upper() and _encodable(t) and "\x00" not in t
    assert msg.published_at.tzinfo is UTC and msg.published_at.utcoffset() == timedelta(0)
    assert contract.EARLIEST <= msg.published_at < contract.LATEST


def check_dead_letter_is_sendable(rej) -> None:
    key, value, headers = dlq_record(rej)
    assert key is not None or value is not None  # kafka-python: "Need at least one: key or value"
    assert isinstance(headers, list)
    for name, hv in headers:
        assert isinstance(name, str) and _encodable(name) and isinstance(hv, bytes)
    size = len(key or b"") + len(value or b"") + sum(len(n.encode()) + len(v) for n, v in headers)
    assert size <= DLQ_MAX_BYTES
    assert dict(headers)["finsentry-reason"] == rej.reason.encode()


def check_triage(records: list[Record]) -> tuple[list, list]:
    valid, rejected = triage(records, MAX_CHARS)
    assert len(valid) + len(rejected) == len(records)
    for r, msg in valid:
        check_message(msg)
        payload = json.loads(scored_payload(scored_item(r, msg, msg.lang, None, None, NOW)))
        assert payload["id"] == msg.id
        assert len(story_hash(msg.text)) == 32
        extract_tickers(msg.text, given=msg.tickers)
    for rej in rejected:
        assert rej.reason in TRIAGE_REASONS and rej.reason != "internal_error", (rej.reason, rej.detail)
        assert isinstance(rej.detail, str)
        check_dead_letter_is_sendable(rej)
    return valid, rejected


# --- strategies --------------------------------------------------------------------------------
_any_char = st.characters(codec=None, exclude_categories=())  # any code point, lone surrogates included
_texts = st.text(_any_char, max_size=40) | st.text(
    st.sampled_from(["\ud800", "\udfff", "a", "B", " ", "\t", "\x00", "\ufeff", "é", "$", "-"]), max_size=40
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | _texts
    | st.integers(min_value=10**150, max_value=10**160)
)
_json_values = st.recursive(
    _scalars, lambda c: st.lists(c, max_size=5) | st.dictionaries(_texts, c, max_size=5), max_leaves=20
)
_times = (
    st.datetimes(timezones=st.timezones() | st.none()).map(datetime.isoformat)
    | st.sampled_from(
        [
            "0001-01-01T00:30:00+01:00",
            "9999-12-31T23:59:00-01:00",
            "2023-02-30T10:00:00Z",
            "2023-03-10T14:00:00Z",
            "1899-12-31T23:59:59Z",
            "2199-12-31T23:59:59Z",
        ]
    )
    | _texts
)
_tickers = st.lists(st.text(st.sampled_from("ABCXYZabc$ .\x00\ud800"), max_size=8), max_size=8)
_good = {  # plausible values: most generated messages get past the early checks
    "text": st.text(_any_char, min_size=1, max_size=80)
    | st.sampled_from(["SVB shares fall", "(NYSE: JPM) up - Reuters"]),
    "headline": st.text(_any_char, min_size=1, max_size=80),
    "id": st.text(_any_char, min_size=1, max_size=20) | st.integers(min_value=-(10**30), max_value=10**30),
    "published_at": _times,
    "source": _texts,
    "url": _texts,
    "lang": st.sampled_from(["en", "pl", "en-US", " "]) | _texts,
    "tickers": _tickers,
}
_field_values = {k: v | v | _json_values for k, v in _good.items()}
_with_text = st.fixed_dictionaries(
    {"text": _good["text"]}, optional={k: v for k, v in _field_values.items() if k != "text"}
)
_messages = (_with_text | _with_text | st.fixed_dictionaries({}, optional=_field_values)).flatmap(
    lambda d: st.dictionaries(_texts, _json_values, max_size=2).map(lambda extra: {**extra, **d})
)


def _dump(doc: object, ascii_only: bool) -> bytes:
    s = json.dumps(doc, ensure_ascii=ascii_only, allow_nan=True)
    return s.encode("utf-8", "surrogatepass")  # a raw surrogate becomes invalid UTF-8, on purpose


_nested = st.integers(1, 5_000).map(lambda d: b'{"text": "x", "e": ' + b"[" * d + b"]" * d + b"}")
_big_ints = st.integers(100, 6_000).map(lambda d: b'{"text": "x", "n": -' + b"9" * d + b"}")
_values = (
    st.none()
    | st.binary(max_size=300)
    | st.builds(_dump, _messages, st.booleans())
    | st.builds(_dump, _json_values, st.booleans())
    | _nested
    | _big_ints
    | st.binary(max_size=50).map(lambda b: b"\xef\xbb\xbf" + b)
)
_headers = st.lists(st.tuples(_texts | st.binary(max_size=20), st.binary(max_size=20) | st.none() | _texts), max_size=4)
_timestamps = (
    st.none()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.booleans()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([TS_2023, TS_2023 * 1000, TS_2023 * 1_000_000, -1, 0, 2**63 - 1])
)
_records = st.builds(
    Record,
    st.just("news"),
    st.integers(0, 3),
    st.integers(0, 2**63 - 1),
    st.none() | st.binary(max_size=30),
    _values,
    _headers,
    _timestamps,
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_records, min_size=1, max_size=4))
def test_triage_never_raises_on_arbitrary_records(records: list[Record]) -> None:
    check_triage(records)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2_000), st.none() | st.binary(max_size=10), _headers, _timestamps)
def test_triage_never_raises_on_arbitrary_bytes(value: bytes, key: bytes | None, headers: list, ts: object) -> None:
    check_triage([rec(value, key, headers, ts)])


@settings(max_examples=300, deadline=None)
@given(_messages, st.sampled_from([True, True, False]), _timestamps)
def test_contract_shaped_objects_give_a_valid_message_or_a_reason(doc: dict, ascii_only: bool, ts: object) -> None:
    check_triage([rec(_dump(doc, ascii_only), ts=ts)])


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-(2**80), max_value=2**80) | st.floats(allow_nan=True, allow_infinity=True) | st.none())
def test_any_record_timestamp_gives_a_utc_time_in_range(ts: object) -> None:
    ((_, msg),) = triage([rec(b'{"text": "x"}', ts=ts)], MAX_CHARS)[0]
    check_message(msg)
    assert msg.time_from_record


# --- named hostile records ---------------------------------------------------------------------
def _obj(**fields: object) -> bytes:
    return json.dumps({"text": "SVB shares fall", **fields}).encode()


DEEP = 10_000
HOSTILE: list[tuple[str, Record, str | None]] = [
    # (name, record, reason or None = accepted as a valid message)
    ("tombstone_without_key", rec(None, key=None), "empty_record"),
    ("tombstone_with_key", rec(None), "empty_record"),
    ("zero_bytes", rec(b""), "empty_record"),
    ("int_of_5000_digits_as_id", rec(b'{"text": "x", "id": ' + b"9" * 5000 + b"}"), "not_json"),
    ("int_of_5000_digits_in_extra_field", rec(b'{"text": "x", "n": -' + b"9" * 5000 + b"}"), "not_json"),
    ("int_of_129_digits", rec(b'{"text": "x", "n": ' + b"1" * 129 + b"}"), "not_json"),
    ("int_id_of_128_digits", rec(b'{"text": "x", "id": ' + b"1" * 128 + b"}"), None),
    ("published_at_underflows_utc", rec(_obj(published_at="0001-01-01T00:30:00+01:00")), "bad_timestamp"),
    ("published_at_overflows_utc", rec(_obj(published_at="9999-12-31T23:59:00-01:00")), "bad_timestamp"),
    ("published_at_year_1", rec(_obj(published_at="0001-01-01T00:00:00Z")), "bad_timestamp"),
    ("published_at_year_0", rec(_obj(published_at="0000-01-01T00:00:00Z")), "bad_timestamp"),
    ("published_at_year_9999", rec(_obj(published_at="9999-12-31T00:00:00Z")), "bad_timestamp"),
    (
        "published_at_10k_fraction_digits",
        rec(_obj(published_at="2023-03-10T14:00:00." + "1" * 10_000 + "Z")),
        "bad_timestamp",
    ),
    ("published_at_fullwidth_digits", rec(_obj(published_at="２０２３-03-10T14:00:00Z")), "bad_timestamp"),
    ("published_at_offset_99_99", rec(_obj(published_at="2023-03-10T14:00:00+99:99")), "bad_timestamp"),
    ("record_ts_in_microseconds", rec(_obj(), ts=TS_2023 * 1000), None),
    ("record_ts_in_nanoseconds", rec(_obj(), ts=TS_2023 * 1_000_000), None),
    ("record_ts_int64_max", rec(_obj(), ts=2**63 - 1), None),
    ("record_ts_negative", rec(_obj(), ts=-5), None),
    ("record_ts_nan", rec(_obj(), ts=float("nan")), None),
    ("lone_surrogate_in_text", rec(b'{"text": "SVB \\ud800 falls"}'), None),
    (
        "lone_surrogate_in_id_source_ticker",
        rec(b'{"text": "x", "id": "\\udfff", "source": "\\ud800", "tickers": ["A\\ud800"]}'),
        None,
    ),
    ("surrogate_encoded_as_raw_bytes", rec(b'{"text": "\xed\xa0\x80"}'), "not_utf8"),
    ("latin1_bytes", rec('{"text": "café"}'.encode("latin-1")), "not_utf8"),
    ("utf16_json", rec('{"text": "x"}'.encode("utf-16")), "not_utf8"),
    ("url_of_1_2_mb", rec(_obj(url="https://x/" + "a" * 1_200_000)), "record_too_large"),
    ("url_of_5000_chars", rec(_obj(url="https://x/" + "a" * 5000)), "field_too_long"),
    ("text_of_1_mb", rec(json.dumps({"text": "x" * 1_000_000}).encode()), "text_too_long"),
    ("value_of_2_mb", rec(json.dumps({"text": "x", "pad": "y" * 2_000_000}).encode()), "record_too_large"),
    ("headline_of_20k_chars", rec(json.dumps({"headline": "h" * 20_000}).encode()), "text_too_long"),
    ("extra_field_of_500_kb", rec(_obj(blob="z" * 500_000)), None),
    ("source_of_10k_chars", rec(_obj(source="s" * 10_000)), None),
    ("lang_of_1000_chars", rec(_obj(lang="e" * 1000)), None),
    ("1000_tickers", rec(_obj(tickers=[f"T{i}" for i in range(1000)])), "wrong_type"),
    ("ticker_of_33_chars", rec(_obj(tickers=["X" * 33])), "wrong_type"),
    ("tickers_as_object", rec(b'{"text": "x", "tickers": {}}'), "wrong_type"),
    ("100_extra_fields", rec(_obj(**{f"f{i}": i for i in range(100)})), "too_many_fields"),
    ("bom_prefixed_json", rec(b"\xef\xbb\xbf" + _obj()), None),
    ("raw_nul_byte_in_string", rec(b'{"text": "a\x00b"}'), "not_json"),
    ("raw_nul_byte_before_json", rec(b"\x00" + _obj()), "not_json"),
    ("escaped_nuls_only", rec(b'{"text": "\\u0000\\u0000"}'), "empty_text"),
    ("json_array_top_level", rec(b'[{"text": "x"}]'), "not_object"),
    ("json_string_top_level", rec(b'"SVB falls"'), "not_object"),
    ("duplicate_text_keys", rec(b'{"text": "benign", "text": "evil"}'), "duplicate_field"),
    ("whitespace_only_text", rec(json.dumps({"text": " \t\n\u00a0\u2003\u3000"}).encode()), "empty_text"),
    ("nested_10k_deep_in_field", rec(b'{"text": "x", "e": ' + b"[" * DEEP + b"]" * DEEP + b"}"), "too_deep"),
    ("nested_10k_deep_top_level", rec(b"[" * DEEP + b"]" * DEEP), "too_deep"),
    ("nested_10k_deep_objects", rec(b'{"a": ' * DEEP + b"1" + b"}" * DEEP), "too_deep"),
    ("nested_100_deep", rec(b'{"text": "x", "e": ' + b"[" * 100 + b"]" * 100 + b"}"), "too_deep"),
    ("nan_literal", rec(b'{"text": "x", "v": NaN}'), "not_json"),
    ("infinity_literal", rec(b'{"text": "x", "v": -Infinity}'), "not_json"),
    ("float_overflowing_to_inf", rec(b'{"text": "x", "v": 1e999}'), None),
    ("trailing_garbage", rec(_obj() + b" x"), "not_json"),
    ("text_is_number", rec(b'{"text": 12}'), "wrong_type"),
    ("text_is_object", rec(b'{"text": {"en": "x"}}'), "wrong_type"),
    ("id_is_bool", rec(_obj(id=True)), "wrong_type"),
    ("id_of_129_chars", rec(_obj(id="i" * 129)), "bad_id"),
    ("empty_object", rec(b"{}"), "missing_text"),
    ("non_utf8_header_names_and_values", rec(_obj(), headers=[("\udcff\ud800", b"\xff"), (b"\xff\xfe", None)]), None),
]


@pytest.mark.parametrize(("record", "reason"), [pytest.param(r, why, id=name) for name, r, why in HOSTILE])
def test_hostile_record(record: Record, reason: str | None) -> None:
    valid, rejected = check_triage([record])
    if reason is None:
        assert len(valid) == 1, [(r.reason, r.detail) for r in rejected]
    else:
        assert [r.reason for r in rejected] == [reason], [r.detail for r in rejected]


def test_there_are_at_least_30_named_hostile_records() -> None:
    assert len({name for name, _, _ in HOSTILE}) == len(HOSTILE) >= 30
    assert {why for _, _, why in HOSTILE if why} <= contract.REASONS


def test_what_accepted_hostile_records_become() -> None:
    def one(name: str) -> NewsMessage:
        record = next(r for n, r, _ in HOSTILE if n == name)
        return triage([record], MAX_CHARS)[0][0][1]

    assert one("lone_surrogate_in_text").text == "SVB \ufffd falls"
    m = one("lone_surrogate_in_id_source_ticker")
    assert (m.id, m.source, m.tickers) == ("\ufffd", "\ufffd", ("A\ufffd",))
    for name in ("record_ts_in_microseconds", "record_ts_in_nanoseconds"):
        assert one(name).published_at == datetime(2023, 3, 10, 12, 6, 40, tzinfo=UTC)
    for name in ("record_ts_int64_max", "record_ts_negative", "record_ts_nan"):
        assert abs(one(name).published_at - datetime.now(UTC)) < timedelta(minutes=5)  # absent: wall clock
    assert one("source_of_10k_chars").source == "s" * 200
    assert one("lang_of_1000_chars").lang == "e" * 16
    assert one("int_id_of_128_digits").id == "1" * 128
    assert one("bom_prefixed_json").text == "SVB shares fall"


def test_dead_letter_of_a_keyless_tombstone_is_sendable() -> None:
    (rej,) = triage([rec(None, key=None)], MAX_CHARS)[1]
    key, value, headers = dlq_record(rej)
    assert (key, value) == (b"", None) and ("finsentry-null-key", b"1") in headers


def test_dead_letter_of_an_oversized_record_is_cut_to_fit() -> None:
    big = rec(b"x" * 3_000_000, key=b"k" * 2_000_000, headers=[("h", b"v" * 100_000)])
    (rej,) = triage([big], MAX_CHARS)[1]
    assert rej.reason == "record_too_large"
    key, value, headers = dlq_record(rej)
    check_dead_letter_is_sendable(rej)
    assert dict(headers)["finsentry-truncated"] == b"key=2000000 value=3000000"
    assert value == b"" and key is not None and key.startswith(b"k")


def test_dead_letter_headers_keep_original_headers_made_sendable() -> None:
    r = rec(b"nope", headers=[("trace", b"1"), (b"\xff\xfe", None), ("\ud800", "text"), ("bad",)])
    (rej,) = triage([r], MAX_CHARS)[1]
    hdr = dlq_headers(rej)
    assert hdr[:3] == [("trace", b"1"), ("\ufffd\ufffd", b""), ("?", b"text")]
    assert dict(hdr)["finsentry-reason"] == b"not_json"
