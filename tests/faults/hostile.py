"""A catalogue of hostile Kafka records (issue 12 and more), each with what the service must do,
and a raw producer that can put every one of them on a real broker (kafka-python alone refuses
a record with neither key nor value, and header keys that are not UTF-8).

``expect`` is a dead-letter reason, or ``STORED`` (a valid item: stored once, scored copy out).
Every record carries a unique marker (its ``kind``) so the test finds it again in the DLQ or store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from kafka import KafkaProducer
from kafka.serializer import Serializer

STORED = "stored"
TS_2023 = 1_678_450_000_000  # 2023-03-10T12:06:40Z in milliseconds


@dataclass(frozen=True)
class Hostile:
    kind: str
    value: bytes | None
    expect: str
    key: bytes | None = b"k"
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    timestamp_ms: int | None = TS_2023

    @property
    def item_id(self) -> str:
        return f"hostile-{self.kind}"


def _j(kind: str, **fields: object) -> bytes:
    body = {"id": f"hostile-{kind}", "text": f"Hostile record {kind}: shares of Acme fall", **fields}
    return json.dumps(body).encode()


def _raw(kind: str, template: str) -> bytes:
    """JSON text written by hand (escapes json.dumps would normalise)."""
    return template.replace("KIND", kind).encode()


def catalogue() -> list[Hostile]:
    big = "x" * 1_100_000
    nested = "[" * 1000 + "]" * 1000
    return [
        # --- issue 12: records that crashed every consumer of their partition -------------------
        Hostile("tombstone-no-key", None, "empty_record", key=None),
        Hostile("tombstone-with-key", None, "empty_record", key=b"k-tomb"),
        Hostile("int-4301-digits", _raw("int-4301-digits", '{"id": "hostile-KIND", "text": "t", "n": '
                                        + "9" * 4301 + "}"), "not_json"),
        Hostile("int-4301-digits-in-text", _raw("x", '{"text": ' + "1" * 4301 + "}"), "not_json"),
        Hostile("year-0001", _j("year-0001", published_at="0001-01-01T00:30:00+01:00"), "bad_timestamp"),
        Hostile("year-9999", _j("year-9999", published_at="9999-12-31T23:59:00-01:00"), "bad_timestamp"),
        Hostile("microsecond-timestamp", _j("microsecond-timestamp"), STORED, timestamp_ms=TS_2023 * 1000),
        Hostile("nanosecond-timestamp", _j("nanosecond-timestamp"), STORED, timestamp_ms=TS_2023 * 1_000_000),
        Hostile("lone-surrogate-text", _raw("lone-surrogate-text",
                                            '{"id": "hostile-KIND", "text": "Acme \\ud800 shares fall"}'), STORED),
        Hostile("lone-surrogate-source", _raw("lone-surrogate-source",
                                              '{"id": "hostile-KIND", "text": "Acme falls", "source": "\\udfff"}'),
                STORED),
        # --- issue 12: records that stalled their partition -------------------------------------
        Hostile("over-1mib", _j("over-1mib", extra=big), "record_too_large"),
        Hostile("url-1.2mb", _j("url-1.2mb", url="https://x/" + "u" * 1_200_000), "record_too_large"),
        Hostile("url-3000", _j("url-3000", url="https://x/" + "u" * 3000), "field_too_long"),
        Hostile("header-key-not-utf8", _j("header-key-not-utf8"), "bad_header",
                headers=[(b"ok", b"1"), (b"\xff\xfekey", b"v")]),
        Hostile("header-key-latin1", _j("header-key-latin1"), "bad_header",
                headers=[("caf\u00e9".encode("latin-1"), b"")]),
        # --- issue 12: valid text that burnt CPU ------------------------------------------------
        Hostile("whitespace-10k", _j("whitespace-10k", text="a" + " " * 9998 + "b"), STORED),
        Hostile("tabs-newlines-10k", _j("tabs-newlines-10k", text="Acme |" + " \t\n" * 3300 + "| Reuters"), STORED),
        # --- more -------------------------------------------------------------------------------
        Hostile("text-10001", _j("text-10001", text="x" * 10_001), "text_too_long"),
        Hostile("text-10000", _j("text-10000", text="y" * 10_000), STORED),
        Hostile("nan", _raw("nan", '{"id": "hostile-KIND", "text": "t", "score": NaN}'), "not_json"),
        Hostile("infinity", _raw("infinity", '{"id": "hostile-KIND", "text": "t", "score": -Infinity}'), "not_json"),
        Hostile("nested-1000", _raw("nested-1000", '{"id": "hostile-KIND", "text": "t", "n": ' + nested + "}"),
                "too_deep"),
        Hostile("fields-100", _j("fields-100", **{f"f{i}": i for i in range(100)}), "too_many_fields"),
        Hostile("duplicate-field", _raw("duplicate-field", '{"id": "hostile-KIND", "text": "a", "text": "b"}'),
                "duplicate_field"),
        Hostile("bom", b"\xef\xbb\xbf" + _j("bom"), STORED),
        Hostile("not-utf8", b'{"text": "caf\xe9"}', "not_utf8"),
        Hostile("empty-bytes", b"", "empty_record"),
        Hostile("json-array", b'["hostile-json-array"]', "not_object"),
        Hostile("nul-only-text", _j("nul-only-text", text="\u0000\u0000 \t"), "empty_text"),
        Hostile("tickers-65", _j("tickers-65", tickers=[f"T{i}" for i in range(65)]), "wrong_type"),
        Hostile("id-129", _j("id-129", id="i" * 129), "bad_id"),
        Hostile("id-object", _j("id-object", id={"a": 1}), "wrong_type"),
        Hostile("header-value-binary", _j("header-value-binary"), STORED, headers=[(b"bin", b"\x00\xff\xfe")]),
        Hostile("headers-500", _j("headers-500"), STORED, headers=[(f"h{i}".encode(), b"v") for i in range(500)]),
        Hostile("key-not-utf8-500kb", _j("key-not-utf8-500kb"), STORED, key=b"\xff" * 500_000),
        Hostile("bidi-and-controls", _j("bidi-and-controls", text="Acme \u202e sllaf \u0007\u001b[31m shares"),
                STORED),
        Hostile("emoji-10k", _j("emoji-10k", text="\U0001f4c9" * 10_000), STORED),
        Hostile("producer-time-only", _j("producer-time-only"), STORED, timestamp_ms=None),
    ]


class _RawKey(str):
    """A header name whose wire bytes are ``raw`` (kafka-python encodes header names itself)."""

    raw: bytes

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return self.raw


def _name(raw: bytes) -> str:
    k = _RawKey(raw.decode("utf-8", "backslashreplace"))
    k.raw = raw
    return k


_NULL_KEY = object()


class _NullableKey(Serializer):  # type: ignore[misc]  # kafka-python is untyped
    """Bytes as they are; the ``_NULL_KEY`` marker as a null key."""

    def serialize(self, topic: str, headers: object, data: object) -> bytes | None:
        return None if data is _NULL_KEY else data  # type: ignore[return-value]


def raw_producer(bootstrap: str) -> KafkaProducer:
    """kafka-python with a 16 MiB request limit and a key serializer that can send a null key
    with a null value (the client itself refuses that combination; the protocol does not)."""
    return KafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=16 * 1024 * 1024,
                         linger_ms=5, key_serializer=_NullableKey())


def send(producer: KafkaProducer, topic: str, h: Hostile, partition: int | None = None) -> object:
    key = _NULL_KEY if h.key is None and h.value is None else h.key
    headers = [(_name(k), v) for k, v in h.headers]
    return producer.send(topic, value=h.value, key=key, headers=headers, timestamp_ms=h.timestamp_ms,
                         partition=partition)
