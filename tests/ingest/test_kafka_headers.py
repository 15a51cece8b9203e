"""A record batch whose header keys are not UTF-8 is read (flagged), not fatal: the parser of
kafka-python, made lenient by ``ingest.kafka_headers``, on batches built by kafka-python itself."""

from __future__ import annotations

import pytest
from kafka.errors import CorruptRecordError
from kafka.record.default_records import DefaultRecordBatch
from kafka.record.memory_records import MemoryRecords, MemoryRecordsBuilder

from ingest import kafka_headers
from ingest.kafka_headers import RawHeaderKey
from ingest.records import triage
from tests.faults.hostile import _name


def _batch(headers_per_record: list[list[tuple[str, bytes]]], compression: int = 0) -> bytes:
    b = MemoryRecordsBuilder(magic=2, compression_type=compression, batch_size=1 << 20)
    for i, headers in enumerate(headers_per_record):
        b.append(timestamp=1_678_450_000_000, key=b"k", value=f"v{i}".encode(), headers=headers)
    b.close()
    return bytes(b.buffer())


def _read(data: bytes) -> list:
    records = MemoryRecords(data)
    out = []
    while (batch := records.next_batch()) is not None:
        out += list(batch)
    return out


BAD_KEYS = [b"\xff\xfekey", "caf\u00e9".encode("latin-1"), b"\xc3\x28", b"\xed\xa0\x80"]  # last: a CESU surrogate


@pytest.mark.parametrize("raw", BAD_KEYS)
@pytest.mark.parametrize("compression", [0, 1])  # none, gzip: the decompressed buffer is patched the same way
def test_a_non_utf8_header_key_is_read_with_its_raw_bytes_and_the_batch_goes_on(raw, compression):
    data = _batch([[("ok", b"1")], [("ok", b"1"), (_name(raw), b"v"), ("after", b"2")], [("z", b"")]], compression)
    kafka_headers.install()
    recs = _read(data)
    assert [r.value for r in recs] == [b"v0", b"v1", b"v2"]  # the partition moves on past it
    k = recs[1].headers[1][0]
    assert isinstance(k, RawHeaderKey) and k.raw == raw
    assert recs[1].headers[0] == ("ok", b"1") and recs[1].headers[2] == ("after", b"2")
    assert not any(isinstance(h[0], RawHeaderKey) for r in (recs[0], recs[2]) for h in r.headers)


def test_the_unpatched_parser_raises_for_ever_which_is_the_bug():
    data = _batch([[(_name(b"\xff"), b"v")]])
    batch = DefaultRecordBatch(MemoryRecords(data).next_batch()._buffer)
    with pytest.raises(CorruptRecordError, match="UnicodeDecodeError"):
        list(batch)


def test_install_is_idempotent_and_valid_batches_read_as_before():
    kafka_headers.install()
    kafka_headers.install()
    recs = _read(_batch([[("a", b"1"), ("b", None)], []]))
    assert [(r.value, r.headers) for r in recs] == [(b"v0", [("a", b"1"), ("b", None)]), (b"v1", [])]


def test_triage_dead_letters_a_flagged_record_as_bad_header():
    from ingest.kafka_io import Record

    rec = Record("news", 0, 1, None, b'{"text": "fine"}', [("\\xff", b"")], None, ("bad_header", "not UTF-8"))
    valid, rejected = triage([rec], 10_000)
    assert valid == [] and [(r.reason, r.detail) for r in rejected] == [("bad_header", "not UTF-8")]


def test_a_record_the_client_cannot_parse_is_re_read_then_skipped_as_corrupt(tansu, make_topic, unique_name,
                                                                            monkeypatch):
    """Any other parse failure (here: the lenient parser switched off, so the bad header key is
    fatal to kafka-python again): bounded re-reads, then a ``corrupt_record`` dead letter and
    the partition moves on (kafka-python alone spins for ever inside the next poll)."""
    import kafka.record.memory_records as memory_records

    from ingest.kafka_io import CORRUPT_READS, ConsumerConfig, Source
    from tests.faults.hostile import raw_producer

    monkeypatch.setattr(kafka_headers, "install", lambda: None)
    monkeypatch.setattr(memory_records, "DefaultRecordBatch", DefaultRecordBatch)
    topic = make_topic(partitions=1)
    p = raw_producer(tansu.bootstrap)
    for value, headers in ((b"v0", []), (b"v1", [(_name(b"\xff"), b"")]), (b"v2", [])):
        p.send(topic, value, headers=headers).get(10)  # one batch each: a failed parse ends its batch
    p.close()
    src = Source(ConsumerConfig(tansu.bootstrap, (topic,), unique_name("g")))
    got, polls = [], 0
    try:
        while len(got) < 3 and polls < 200:
            got += src.poll(200, 10)
            polls += 1
    finally:
        src.close()
    assert [(r.offset, r.value) for r in got] == [(0, b"v0"), (1, None), (2, b"v2")]
    assert got[1].read_error is not None and got[1].read_error[0] == "corrupt_record"
    assert CORRUPT_READS == 3
    valid, rejected = triage([got[1]], 10_000)
    assert [r.reason for r in rejected] == ["corrupt_record"]
