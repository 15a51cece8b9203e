"""Records whose header keys are not UTF-8 are read, not fatal (part of the ``ingest.kafka_io`` seam).

The Kafka protocol types a header key as a UTF-8 string, but brokers pass any bytes through.
kafka-python decodes header keys while it parses a fetched batch, inside ``poll``; one bad key
raised ``CorruptRecordError`` there, every poll, for ever: the partition could never move past
it. :func:`install` makes the client's batch parser lenient for exactly this fault: a header key
that is not UTF-8 is rewritten in the parsed copy (same length, so the record framing is kept;
the batch CRC was checked before) and handed on as a :class:`RawHeaderKey`, a ``str`` that keeps
the original bytes. ``Source.poll`` turns such a record into a ``Record`` with ``read_error``
set, and triage dead-letters it (reason ``bad_header``) with its raw bytes. Any other corruption
still raises, as before.

kafka-python reads batches through ``kafka.record.memory_records.DefaultRecordBatch``;
:func:`install` points that name at :class:`LenientRecordBatch` (a subclass; the writer side and
everything else are untouched). It is idempotent and done when a ``Source`` is built.
"""

from __future__ import annotations

from collections.abc import Callable

import kafka.record.memory_records as _memory_records
from kafka.record.default_records import DefaultRecordBatch
from kafka.record.util import decode_varint

_PLACEHOLDER = ord("?")


class RawHeaderKey(str):
    """A header key that was not UTF-8: the text is the bytes with ``\\xNN`` escapes; ``raw`` the bytes."""

    raw: bytes

    def __new__(cls, raw: bytes) -> RawHeaderKey:
        self = super().__new__(cls, raw.decode("utf-8", "backslashreplace"))
        self.raw = raw
        return self


def _valid_utf8(b: bytes | bytearray) -> bool:
    try:
        bytes(b).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _fix_header_keys(buf: bytearray, pos: int) -> dict[int, bytes]:
    """Walk the record at ``pos`` (Kafka record v2 layout); overwrite every non-UTF-8 header key
    with ``?`` bytes in place; return ``{header index: original key bytes}``."""
    _, pos = decode_varint(buf, pos)  # length
    _, pos = decode_varint(buf, pos)  # attributes
    _, pos = decode_varint(buf, pos)  # timestamp delta
    _, pos = decode_varint(buf, pos)  # offset delta
    for _field in ("key", "value"):
        n, pos = decode_varint(buf, pos)
        pos += max(n, 0)
    count, pos = decode_varint(buf, pos)
    fixed: dict[int, bytes] = {}
    for i in range(max(count, 0)):
        n, pos = decode_varint(buf, pos)
        if n < 0 or pos + n > len(buf):
            break  # truly corrupt: the client's own parser raises on the re-read
        key = buf[pos: pos + n]
        if not _valid_utf8(key):
            fixed[i] = bytes(key)
            buf[pos: pos + n] = bytes([_PLACEHOLDER]) * n
        pos += n
        n, pos = decode_varint(buf, pos)
        pos += max(n, 0)
    return fixed


class LenientRecordBatch(DefaultRecordBatch):  # type: ignore[misc]  # kafka-python is untyped
    """``DefaultRecordBatch`` that reads records with non-UTF-8 header keys (see the module docstring)."""

    _pos: int
    _buffer: bytearray

    def _read_msg(self, decode_varint: Callable[..., tuple[int, int]] = decode_varint) -> object:
        start = self._pos
        try:
            return super()._read_msg(decode_varint)
        except UnicodeDecodeError:
            self._pos = start  # the parser moves _pos only after a complete record
            fixed = _fix_header_keys(self._buffer, start)
            if not fixed:
                raise
            msg = super()._read_msg(decode_varint)
            headers = msg.headers  # the record's own list: patched in place
            for i, raw in fixed.items():
                if i < len(headers):
                    headers[i] = (RawHeaderKey(raw), headers[i][1])
            return msg


def install() -> None:
    """Make kafka-python's batch reader lenient about header keys (idempotent)."""
    if _memory_records.DefaultRecordBatch is not LenientRecordBatch:
        _memory_records.DefaultRecordBatch = LenientRecordBatch
