"""Issue 12, bounded retries: a record the producer or broker refuses for its own sake is sent a
bounded number of times, then isolated (cut-down dead letter, else the quarantine file), and the
batch commits; broker outages and store permission errors stay outages (nothing committed).
In-memory Kafka twins + a real SQLite store; the live versions are in tests/faults/."""

from __future__ import annotations

import base64
import json
import threading

import pytest
import sqlalchemy as sa

from finsentry.errors import StorePermissionDenied, StoreUnavailable
from finsentry.metrics import Metrics
from finsentry.progress import LoopProgress
from ingest.contract import encode
from ingest.kafka_io import Record, SendFailure
from ingest.publish import dlq_budget
from ingest.quarantine import Quarantine
from ingest.records import DLQ_STUB_BYTES
from ingest.service import IngestService, LoopConfig
from model.languages import LanguageDetector, ModelRouter
from store import Store
from store.dialect import translate
from tests.ingest.payloads import valid
from tests.ingest.test_units import FakeModel
from tests.support.twins import MemorySink, MemorySource


class RefusingSink(MemorySink):
    """Refuses (record-side, like MessageSizeTooLarge) every send for which ``refuse`` is true,
    ``times`` times per distinct record (None = always); logs every attempt in ``attempts``."""

    def __init__(self, refuse, times: int | None = None) -> None:
        super().__init__()
        self.refuse, self.times = refuse, times
        self.attempts: list[tuple[str, bytes | None, dict]] = []
        self.refusals: dict[tuple[str, bytes | None], int] = {}
        self._batch: list[tuple[str, bytes | None, dict]] = []

    def send(self, topic, value, key=None, headers=None, timestamp_ms=None) -> None:  # noqa: ANN001
        entry = (topic, value, dict(headers or []))
        self.attempts.append(entry)
        self._batch.append(entry)

    def flush(self, timeout_s: float = 30.0) -> list[SendFailure]:
        out = []
        for i, (topic, value, headers) in enumerate(self._batch):
            n = self.refusals.get((topic, value), 0)
            if self.refuse(topic, value, headers) and (self.times is None or n < self.times):
                self.refusals[(topic, value)] = n + 1
                out.append(SendFailure(i, "MessageSizeTooLargeError: simulated"))
            else:
                self.sent.append((topic, value))
        self._batch = []
        return out


def _records(n: int, extra: list[bytes] = ()) -> list[Record]:
    values = [encode(m) for m in valid(n, "pb")] + list(extra)
    return [Record("news", 0, i, None, v, [], 1_678_450_000_000) for i, v in enumerate(values)]


def _service(store, src, sink, tmp_path, metrics=None, progress=None, attempts=3):
    svc = IngestService(
        LoopConfig(dlq_topic="dlq", output_topic="out", batch_max_records=1000, backoff_initial_s=0.01,
                   publish_max_attempts=attempts, quarantine_path=str(tmp_path / "q" / "quarantine.jsonl")),
        source_factory=lambda **kw: src, sink_factory=lambda: sink, store=store,
        router=ModelRouter({"en": "shipped"}, lambda p: FakeModel("fake")), metrics=metrics or Metrics(),
        detector=LanguageDetector(preferred=["en"]), progress=progress,
    )
    svc.source, svc.sink = src, sink
    return svc


def _value(sink: RefusingSink, topic: str) -> list[tuple[bytes | None, dict]]:
    return [(v, h) for t, v, h in sink.attempts if t == topic]


def test_a_scored_copy_refused_every_time_is_dropped_after_n_attempts_with_a_dlq_note(sqlite_url, tmp_path):
    store, metrics = Store(sqlite_url), Metrics()
    src = MemorySource(_records(10))
    sink = RefusingSink(lambda t, v, h: t == "out" and b'"pb-3"' in (v or b""))
    svc = _service(store, src, sink, tmp_path, metrics)
    assert svc.process(src.poll(0, 1000), threading.Event()) is True
    assert src.committed() == {("news", 0): 10}
    assert store.status()["items"] == 10  # the item is stored; only its scored copy is missing
    assert len([v for v, _ in _value(sink, "out") if b'"pb-3"' in v]) == 3  # bounded: 3 attempts
    assert len([v for t, v in sink.sent if t == "out"]) == 9
    notes = [(v, h) for v, h in _value(sink, "dlq")]
    assert len(notes) == 1 and notes[0][1]["finsentry-reason"] == b"publish_rejected"
    assert notes[0][1]["finsentry-source-offset"] == b"3" and b'"pb-3"' in notes[0][0]  # the source record
    assert metrics.registry.get_sample_value("finsentry_publish_rejected_records_total", {"kind": "scored"}) == 1
    assert metrics.registry.get_sample_value("finsentry_dead_lettered_records_total",
                                             {"reason": "publish_rejected"}) == 1


def test_a_transient_refusal_is_retried_and_nothing_is_isolated(sqlite_url, tmp_path):
    store, metrics = Store(sqlite_url), Metrics()
    src = MemorySource(_records(5))
    sink = RefusingSink(lambda t, v, h: t == "out", times=1)  # every copy refused once, then accepted
    svc = _service(store, src, sink, tmp_path, metrics)
    assert svc.process(src.poll(0, 1000), threading.Event()) is True
    assert len([1 for t, _ in sink.sent if t == "out"]) == 5 and _value(sink, "dlq") == []
    assert metrics.registry.get_sample_value("finsentry_publish_rejected_records_total", {"kind": "scored"}) is None


def test_a_dead_letter_refused_whole_goes_out_cut_down_with_the_error(sqlite_url, tmp_path):
    big = b"x" * 200_000  # not JSON: a dead letter; the twin refuses it above 100 kB
    store, metrics = Store(sqlite_url), Metrics()
    src = MemorySource(_records(4, [big]))
    sink = RefusingSink(lambda t, v, h: t == "dlq" and len(v or b"") > 100_000)
    svc = _service(store, src, sink, tmp_path, metrics)
    assert svc.process(src.poll(0, 1000), threading.Event()) is True
    sent = [v for t, v in sink.sent if t == "dlq"]
    assert len(sent) == 1 and len(sent[0]) <= DLQ_STUB_BYTES and big.startswith(sent[0])
    stub_headers = [h for v, h in _value(sink, "dlq") if v == sent[0]][0]
    assert stub_headers["finsentry-reason"] == b"not_json" and b"MessageSizeTooLarge" in stub_headers[
        "finsentry-publish-error"]
    assert len(_value(sink, "dlq")) == 3 + 1  # 3 attempts of the whole copy, then the stub
    assert not (tmp_path / "q" / "quarantine.jsonl").exists()
    assert src.committed() == {("news", 0): 5}


def test_a_record_even_the_stub_cannot_carry_goes_to_the_quarantine_file(sqlite_url, tmp_path):
    poison = b"\xff" * 3000
    store, metrics = Store(sqlite_url), Metrics()
    src = MemorySource(_records(4, [poison]))
    sink = RefusingSink(lambda t, v, h: t == "dlq")  # the DLQ refuses everything
    svc = _service(store, src, sink, tmp_path, metrics)
    assert svc.process(src.poll(0, 1000), threading.Event()) is True
    lines = Quarantine(tmp_path / "q" / "quarantine.jsonl").read()
    assert len(lines) == 1
    q = lines[0]
    assert (q["topic"], q["partition"], q["offset"], q["reason"]) == ("news", 0, 4, "not_utf8")
    assert base64.b64decode(q["value_b64"]) == poison and "simulated" in q["error"]  # whole, raw bytes
    assert metrics.registry.get_sample_value("finsentry_quarantined_records_total") == 1
    assert src.committed() == {("news", 0): 5} and store.status()["items"] == 4


def test_an_unwritable_quarantine_file_commits_nothing(sqlite_url, tmp_path):
    store = Store(sqlite_url)
    src = MemorySource(_records(2, [b"not json"]))
    sink = RefusingSink(lambda t, v, h: t == "dlq")
    svc = _service(store, src, sink, tmp_path)
    (tmp_path / "q").write_text("a file where the quarantine directory should be")
    assert svc.process(src.poll(0, 1000), threading.Event()) is False
    assert src.commits == [] and src.position == {("news", 0): 0}  # re-read later, nothing lost
    assert "quarantine" in (svc.progress.snapshot().last_error or "")


def test_a_serialisation_error_on_a_scored_copy_is_isolated_at_once(sqlite_url, tmp_path, monkeypatch):
    import ingest.publish as publish

    def boom(it):
        if it.id == "pb-1":
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        return json.dumps({"id": it.id}).encode()

    monkeypatch.setattr(publish, "scored_payload", boom)
    store, metrics = Store(sqlite_url), Metrics()
    src = MemorySource(_records(3))
    sink = RefusingSink(lambda t, v, h: False)
    svc = _service(store, src, sink, tmp_path, metrics)
    assert svc.process(src.poll(0, 1000), threading.Event()) is True
    notes = _value(sink, "dlq")
    assert len(notes) == 1 and b"UnicodeEncodeError" in notes[0][1]["finsentry-detail"]


class DeniedStore(Store):
    def __init__(self, url, denials):
        super().__init__(url)
        self.denials = denials

    def write_batch(self, batch, in_txn=None):
        if self.denials:
            self.denials -= 1
            raise StorePermissionDenied("write: store refuses writes (permission): simulated")
        return super().write_batch(batch, in_txn)


def test_a_store_permission_error_is_an_outage_with_unhealthy_health_not_dead_letters(sqlite_url, tmp_path):
    store, progress = DeniedStore(sqlite_url, denials=2), LoopProgress()
    src = MemorySource(_records(6))
    sink = RefusingSink(lambda t, v, h: False)
    svc = _service(store, src, sink, tmp_path, progress=progress)
    stop = threading.Event()
    for _ in range(2):
        assert svc.process(src.poll(0, 1000), stop) is False
        assert src.commits == [] and sink.sent == []  # nothing dead-lettered, nothing committed
        progress.beat(1)
        code, body = progress.health(120)
        assert code == 503 and body["status"] == "faulted" and "permission" in body["fault"]
    assert svc.process(src.poll(0, 1000), stop) is True
    assert progress.health(120)[0] == 200 and store.status()["items"] == 6 and store.status()["dead_lettered"] == 0


def test_sqlite_read_only_database_is_classified_as_permission_denied(tmp_path):
    path = tmp_path / "ro.db"
    sa.create_engine(f"sqlite:///{path}").connect().close()
    eng = sa.create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        with pytest.raises(sa.exc.OperationalError) as info, eng.begin() as conn:
            conn.exec_driver_sql("create table t (x int)")
    finally:
        eng.dispose()
    err = translate(info.value, "write")
    assert isinstance(err, StorePermissionDenied) and isinstance(err, StoreUnavailable)


def test_the_dlq_budget_leaves_room_for_framing():
    assert dlq_budget(1_048_576) == 1_000_000
    assert dlq_budget(200_000) == 151_424 and dlq_budget(10) == 1024
