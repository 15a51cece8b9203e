"""The input contract: decode one Kafka record value into a :class:`NewsMessage` or reject it.

Pure logic (no I/O). The published form of the contract is ``ingest/news.schema.json``.
Rejections raise :class:`finsentry.errors.InvalidMessage` with a short ``reason`` code, which
becomes the ``finsentry-reason`` header of the dead-lettered record:

    empty_record   value is null (tombstone) or zero bytes
    not_utf8       bytes are not UTF-8
    not_json       not parseable as JSON
    not_object     JSON, but not an object
    missing_text   neither ``text`` nor ``headline``
    empty_text     text is empty after trimming
    text_too_long  text longer than ``max_chars`` characters (default 10,000)
    wrong_type     a field has the wrong JSON type or shape (detail names the field)
    bad_id         ``id`` empty or longer than 128 characters
    bad_timestamp  ``published_at`` is not an RFC 3339 date-time
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from finsentry.errors import InvalidMessage

MAX_ID_CHARS = 128
MAX_SOURCE_CHARS = 200
MAX_TICKER_CHARS = 32
MAX_TICKERS = 64
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$")


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


def derive_id(text: str, source: str | None) -> str:
    """Stable id for a message without one: the same text from the same source is the same item."""
    digest = hashlib.sha256(f"{source or ''}\x1f{text}".encode()).hexdigest()
    return f"sha256:{digest[:40]}"


def parse_time(value: str) -> datetime:
    """RFC 3339 -> tz-aware UTC. A missing offset is read as UTC (documented leniency)."""
    if not _RFC3339.match(value.strip()):
        raise InvalidMessage("bad_timestamp", f"not RFC 3339: {value[:64]!r}")
    try:
        dt = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError as exc:
        raise InvalidMessage("bad_timestamp", f"{value[:64]!r}: {exc}") from exc
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _clean(v: str) -> str:
    """NUL characters are dropped: PostgreSQL text cannot hold them (a poison pill otherwise)."""
    return v.replace("\x00", "").strip()


def _opt_str(obj: dict, name: str, max_len: int | None = None) -> str | None:
    v = obj.get(name)
    if v is None:
        return None
    if not isinstance(v, str):
        raise InvalidMessage("wrong_type", f"{name} must be a string, got {type(v).__name__}")
    v = _clean(v)
    if max_len is not None:
        v = v[:max_len]
    return v or None


def decode(value: bytes | None, record_timestamp_ms: int | None = None, max_chars: int = 10_000) -> NewsMessage:
    """Decode and validate one record value; raise ``InvalidMessage(reason)`` when it breaks the contract."""
    if not value:
        raise InvalidMessage("empty_record", "null or zero-length value")
    try:
        raw = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidMessage("not_utf8", str(exc)[:120]) from exc
    try:
        obj = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InvalidMessage("not_json", str(exc)[:120]) from exc
    if not isinstance(obj, dict):
        raise InvalidMessage("not_object", f"top-level JSON is {type(obj).__name__}")

    key = "text" if obj.get("text") is not None else "headline" if obj.get("headline") is not None else None
    if key is None:
        raise InvalidMessage("missing_text", "neither 'text' nor 'headline' present")
    text = obj[key]
    if not isinstance(text, str):
        raise InvalidMessage("wrong_type", f"{key} must be a string, got {type(text).__name__}")
    text = _clean(text)
    if not text:
        raise InvalidMessage("empty_text", f"{key} is empty after trimming")
    if len(text) > max_chars:
        raise InvalidMessage("text_too_long", f"{len(text)} > {max_chars} characters")

    source = _opt_str(obj, "source", MAX_SOURCE_CHARS)
    url = _opt_str(obj, "url")
    lang = _opt_str(obj, "lang", 16)

    tickers_raw = obj.get("tickers")
    if tickers_raw is None:
        tickers: tuple[str, ...] = ()
    elif not isinstance(tickers_raw, list) or not all(isinstance(t, str) for t in tickers_raw):
        raise InvalidMessage("wrong_type", "tickers must be a list of strings")
    else:
        tickers = tuple(dict.fromkeys(_clean(t).upper().lstrip("$") for t in tickers_raw if _clean(t)))
        if len(tickers) > MAX_TICKERS or any(len(t) > MAX_TICKER_CHARS for t in tickers):
            raise InvalidMessage("wrong_type", f"tickers: at most {MAX_TICKERS}, each at most {MAX_TICKER_CHARS} characters")

    msg_id = obj.get("id")
    if msg_id is None:
        msg_id = derive_id(text, source)
    elif isinstance(msg_id, bool) or not isinstance(msg_id, str | int):
        raise InvalidMessage("wrong_type", f"id must be a string, got {type(msg_id).__name__}")
    else:
        msg_id = _clean(str(msg_id))
        if not msg_id or len(msg_id) > MAX_ID_CHARS:
            raise InvalidMessage("bad_id", f"id must be 1..{MAX_ID_CHARS} characters")

    pub = obj.get("published_at")
    from_record = False
    if pub is None:
        from_record = True
        if record_timestamp_ms is not None and record_timestamp_ms >= 0:
            published_at = datetime.fromtimestamp(record_timestamp_ms / 1000, tz=UTC)
        else:
            published_at = datetime.now(UTC)
    elif not isinstance(pub, str):
        raise InvalidMessage("wrong_type", f"published_at must be an RFC 3339 string, got {type(pub).__name__}")
    else:
        published_at = parse_time(pub)

    return NewsMessage(id=msg_id, text=text, published_at=published_at, source=source, url=url,
                       tickers=tickers, lang=lang, time_from_record=from_record)


def encode(msg: dict) -> bytes:
    """Serialise a contract object for producing (compact UTF-8 JSON)."""
    return json.dumps(msg, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
