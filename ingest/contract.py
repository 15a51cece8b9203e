"""The input contract: decode one Kafka record value into a :class:`NewsMessage` or reject it.

Pure logic (no I/O). The published form of the contract is ``ingest/news.schema.json``.
:func:`decode` raises only :class:`finsentry.errors.InvalidMessage`, whatever the bytes; its
short ``reason`` code becomes the ``finsentry-reason`` header of the dead-lettered record:

    empty_record      value is null (tombstone) or zero bytes
    record_too_large  value longer than :func:`max_record_bytes` (1 MiB by default)
    not_utf8          bytes are not UTF-8
    not_json          not parseable as strict JSON (also: NaN/Infinity, integer literals > 128 digits)
    too_deep          JSON nested deeper than 64 levels
    not_object        JSON, but not an object
    too_many_fields   the object has more than 64 members
    duplicate_field   a member name appears twice at the top level (parsers disagree on which wins)
    missing_text      neither ``text`` nor ``headline``
    empty_text        text is empty after trimming
    text_too_long     text longer than ``max_chars`` characters (default 10,000)
    wrong_type        a field has the wrong JSON type or shape (detail names the field)
    bad_id            ``id`` empty or longer than 128 characters
    bad_timestamp     ``published_at`` not RFC 3339, or outside 1900-01-01 .. 2199-12-31 UTC
    field_too_long    ``url`` longer than 2,048 characters

``ingest.records.triage`` adds ``internal_error`` (an unexpected exception: a bug, still never a
crash). Field limits (per field: reject or truncate):

    | what                      | limit                               | over the limit          |
    |---------------------------|-------------------------------------|-------------------------|
    | record value              | 1 MiB, or 6 x max_chars + 64 KiB    | reject record_too_large |
    | JSON nesting / members    | depth 64 / 64 top-level members     | too_deep / too_many_fields |
    | JSON integer literal      | 128 digits                          | reject not_json         |
    | text / headline           | max_chars (10,000) after trimming   | reject text_too_long    |
    | id                        | 1..128 characters                   | reject bad_id           |
    | url                       | 2,048 characters                    | reject field_too_long   |
    | source                    | 200 characters                      | truncated               |
    | lang                      | 16 characters                       | truncated               |
    | tickers                   | 64 distinct, each <= 32 characters  | reject wrong_type       |
    | published_at              | 64 chars, 1900-01-01 .. 2199-12-31  | reject bad_timestamp    |
    | other (extra) fields      | ignored; bounded by the limits above | (not kept)             |

All kept strings: NUL characters dropped, lone surrogates (``"\\ud800"``) replaced by U+FFFD,
trimmed. A leading UTF-8 BOM is ignored. Without ``published_at`` the Kafka record timestamp is
used: milliseconds when plausible (1970..2199), else read as microseconds or nanoseconds when
that is plausible, else absent (negative, absurd) -> the wall clock, as for a missing timestamp.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from finsentry.errors import InvalidMessage

REASONS = frozenset({
    "empty_record", "record_too_large", "not_utf8", "not_json", "too_deep", "not_object", "too_many_fields",
    "duplicate_field", "missing_text", "empty_text", "text_too_long", "wrong_type", "bad_id", "bad_timestamp",
    "field_too_long",
})
MAX_RECORD_BYTES = 1_048_576
MAX_DEPTH = 64
MAX_FIELDS = 64
MAX_INT_DIGITS = 128
MAX_ID_CHARS = 128
MAX_SOURCE_CHARS = 200
MAX_URL_CHARS = 2_048
MAX_LANG_CHARS = 16
MAX_TICKER_CHARS = 32
MAX_TICKERS = 64
MAX_TIME_CHARS = 64
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)  # exclusive
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?([Zz]|[+-][0-9]{2}:?[0-9]{2})?"
)
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class NewsMessage:
    """A valid input record, normalised (text trimmed, time tz-aware UTC)."""

    id: str
    text: str
    published_at: datetime
    source: str | None = None
    url: str | None = None
    tickers: tuple[str, ...] = field(default_factory=tuple)
    lang: str | None = None
    time_from_record: bool = False  # published_at was absent: the Kafka record timestamp was used


def max_record_bytes(max_chars: int) -> int:
    """Largest record value accepted for a text limit of ``max_chars`` (room for \\uXXXX escapes)."""
    return max(MAX_RECORD_BYTES, 6 * max_chars + 65_536)


def derive_id(text: str, source: str | None) -> str:
    """Stable id for a message without one: the same text from the same source is the same item."""
    digest = hashlib.sha256(f"{source or ''}\x1f{text}".encode("utf-8", "surrogatepass")).hexdigest()
    return f"sha256:{digest[:40]}"


def _in_range(dt: datetime) -> bool:
    return EARLIEST <= dt < LATEST


def parse_time(value: str) -> datetime:
    """RFC 3339 -> tz-aware UTC. A missing offset is read as UTC (documented leniency)."""
    v = value.strip()
    if len(v) > MAX_TIME_CHARS or not _RFC3339.fullmatch(v):
        raise InvalidMessage("bad_timestamp", f"not RFC 3339: {value[:64]!r}")
    try:
        dt = datetime.fromisoformat(v.replace("z", "Z"))
        dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise InvalidMessage("bad_timestamp", f"{v!r}: {exc}") from exc
    if not _in_range(dt):
        raise InvalidMessage("bad_timestamp", f"{v!r} is outside {EARLIEST.year}..{LATEST.year - 1}")
    return dt


def record_time(timestamp: object) -> datetime | None:
    """A Kafka record timestamp as UTC; ms, else us or ns when only those are plausible; else None."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
        return None
    if isinstance(timestamp, float) and not math.isfinite(timestamp):
        return None
    for per_ms in (1, 1_000, 1_000_000):  # milliseconds, microseconds, nanoseconds
        ms = int(timestamp) // per_ms
        if 0 <= ms < 7_258_118_400_000:  # 1970-01-01 .. 2200-01-01 (negative: no timestamp)
            return _EPOCH + timedelta(milliseconds=ms)
    return None


def _clean(v: str) -> str:
    """Drop NUL (PostgreSQL text cannot hold it), replace lone surrogates (not encodable), trim."""
    v = v.replace("\x00", "")
    if not v.isascii():
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            v = _SURROGATE.sub("\ufffd", v)
    return v.strip()


class _Obj(list[tuple[str, Any]]):
    """A JSON object as its ``(name, value)`` pairs, in order (duplicates kept, checked at the top)."""


def _int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INT_DIGITS:
        raise InvalidMessage("not_json", f"integer literal of {len(literal)} digits (at most {MAX_INT_DIGITS})")
    return int(literal)


def _constant(name: str) -> NoReturn:
    raise InvalidMessage("not_json", f"{name} is not JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_Obj, parse_int=_int, parse_constant=_constant)


def _kind(v: object) -> str:
    """The JSON type name of a decoded value (for details)."""
    if isinstance(v, _Obj):
        return "object"
    return {str: "string", bool: "boolean", int: "number", float: "number", list: "array"}.get(type(v), "null")


def _depth_over(doc: object, limit: int) -> bool:
    """True if containers nest deeper than ``limit`` (iterative: no recursion on hostile input)."""
    stack: list[tuple[object, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, list):
            if depth > limit:
                return True
            items = (v for _, v in node) if isinstance(node, _Obj) else node
            stack.extend((v, depth + 1) for v in items)
    return False


def parse_object(value: bytes | bytearray | memoryview | None, max_bytes: int = MAX_RECORD_BYTES) -> dict[str, Any]:
    """Record bytes -> the top-level JSON object (nested objects stay pair lists); or InvalidMessage."""
    if value is None:
        raise InvalidMessage("empty_record", "null value (tombstone)")
    if not isinstance(value, bytes | bytearray | memoryview):
        raise InvalidMessage("not_utf8", f"record value is {type(value).__name__}, not bytes")
    data = bytes(value)
    if not data:
        raise InvalidMessage("empty_record", "zero-length value")
    if len(data) > max_bytes:
        raise InvalidMessage("record_too_large", f"{len(data)} > {max_bytes} bytes")
    try:
        raw = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidMessage("not_utf8", str(exc)[:120]) from exc
    try:
        doc = _DECODER.decode(raw.removeprefix("\ufeff"))
    except json.JSONDecodeError as exc:
        raise InvalidMessage("not_json", str(exc)[:120]) from exc
    except RecursionError as exc:
        raise InvalidMessage("too_deep", f"nested deeper than {MAX_DEPTH} levels") from exc
    if data.count(b"[") + data.count(b"{") > MAX_DEPTH and _depth_over(doc, MAX_DEPTH):
        raise InvalidMessage("too_deep", f"nested deeper than {MAX_DEPTH} levels")
    if not isinstance(doc, _Obj):
        raise InvalidMessage("not_object", f"top-level JSON is {_kind(doc)}")
    if len(doc) > MAX_FIELDS:
        raise InvalidMessage("too_many_fields", f"{len(doc)} members (at most {MAX_FIELDS})")
    obj = dict(doc)
    if len(obj) != len(doc):
        seen: set[str] = set()
        dup = ""
        for k, _ in doc:
            if k in seen:
                dup = k
                break
            seen.add(k)
        raise InvalidMessage("duplicate_field", f"{dup[:64]!r} appears more than once")
    return obj


def _opt_str(obj: dict[str, Any], name: str, max_len: int, reject: bool = False) -> str | None:
    v = obj.get(name)
    if v is None:
        return None
    if not isinstance(v, str):
        raise InvalidMessage("wrong_type", f"{name} must be a string, got {_kind(v)}")
    v = _clean(v)
    if len(v) > max_len:
        if reject:
            raise InvalidMessage("field_too_long", f"{name}: {len(v)} > {max_len} characters")
        v = v[:max_len]
    return v or None


def _text(obj: dict[str, Any], max_chars: int) -> str:
    key = "text" if obj.get("text") is not None else "headline" if obj.get("headline") is not None else None
    if key is None:
        raise InvalidMessage("missing_text", "neither 'text' nor 'headline' present")
    text = obj[key]
    if not isinstance(text, str):
        raise InvalidMessage("wrong_type", f"{key} must be a string, got {_kind(text)}")
    text = _clean(text)
    if not text:
        raise InvalidMessage("empty_text", f"{key} is empty after trimming")
    if len(text) > max_chars:
        raise InvalidMessage("text_too_long", f"{len(text)} > {max_chars} characters")
    return text


def _tickers(obj: dict[str, Any]) -> tuple[str, ...]:
    raw = obj.get("tickers")
    if raw is None:
        return ()
    if type(raw) is not list or not all(isinstance(t, str) for t in raw):
        raise InvalidMessage("wrong_type", "tickers must be a list of strings")
    limit = f"tickers: at most {MAX_TICKERS}, each at most {MAX_TICKER_CHARS} characters"
    if len(raw) > 16 * MAX_TICKERS:
        raise InvalidMessage("wrong_type", limit)
    cleaned = (_clean(t).upper().lstrip("$") for t in raw)
    tickers = tuple(dict.fromkeys(t for t in cleaned if t))
    if len(tickers) > MAX_TICKERS or any(len(t) > MAX_TICKER_CHARS for t in tickers):
        raise InvalidMessage("wrong_type", limit)
    return tickers


def _id(obj: dict[str, Any], text: str, source: str | None) -> str:
    raw = obj.get("id")
    if raw is None:
        return derive_id(text, source)
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise InvalidMessage("wrong_type", f"id must be a string, got {_kind(raw)}")
    msg_id = _clean(str(raw))
    if not msg_id or len(msg_id) > MAX_ID_CHARS:
        raise InvalidMessage("bad_id", f"id must be 1..{MAX_ID_CHARS} characters")
    return msg_id


def decode(value: bytes | None, record_timestamp_ms: int | None = None, max_chars: int = 10_000) -> NewsMessage:
    """Decode and validate one record value; raise ``InvalidMessage(reason)`` when it breaks the contract."""
    obj = parse_object(value, max_record_bytes(max_chars))
    text = _text(obj, max_chars)
    source = _opt_str(obj, "source", MAX_SOURCE_CHARS)
    url = _opt_str(obj, "url", MAX_URL_CHARS, reject=True)
    lang = _opt_str(obj, "lang", MAX_LANG_CHARS)
    tickers = _tickers(obj)
    msg_id = _id(obj, text, source)

    pub = obj.get("published_at")
    if pub is None:
        published_at = record_time(record_timestamp_ms) or datetime.now(UTC)
    elif not isinstance(pub, str):
        raise InvalidMessage("wrong_type", f"published_at must be an RFC 3339 string, got {_kind(pub)}")
    else:
        published_at = parse_time(pub)

    return NewsMessage(id=msg_id, text=text, published_at=published_at, source=source, url=url,
                       tickers=tickers, lang=lang, time_from_record=pub is None)


def encode(msg: dict[str, Any]) -> bytes:
    """Serialise a contract object for producing (compact UTF-8 JSON)."""
    return json.dumps(msg, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
