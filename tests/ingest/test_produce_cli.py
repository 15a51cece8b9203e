"""`finsentry produce` publishes a file to a real broker; `--speedup` replays by published_at."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from tests.ingest.harness import ROOT, consume_all


def test_produce_jsonl_and_csv(tmp_path, tansu, kafka_topic):
    jl = tmp_path / "news.jsonl"
    jl.write_text("\n".join(json.dumps({"id": f"j{i}", "text": f"headline {i}"}) for i in range(30)) + "\n")
    csv = tmp_path / "news.csv"
    csv.write_text("id,text,source\n" + "".join(f"c{i},csv headline {i},FT\n" for i in range(20)))
    for f in (jl, csv):
        subprocess.run([sys.executable, "-m", "finsentry", "produce", str(f), "--bootstrap", tansu.bootstrap,
                        "--topic", kafka_topic, "--rate", "500"], check=True, cwd=ROOT, timeout=60,
                       capture_output=True)
    got = consume_all(tansu.bootstrap, kafka_topic, 50)
    values = [json.loads(r.value) for r in got]
    assert sorted(v["id"] for v in values) == sorted([f"j{i}" for i in range(30)] + [f"c{i}" for i in range(20)])
    assert {"id": "c3", "text": "csv headline 3", "source": "FT"} in values
    assert all(r.key == json.loads(r.value)["id"].encode() for r in got)


def test_speedup_replays_event_time_gaps(tmp_path, tansu, kafka_topic):
    f = tmp_path / "s.jsonl"
    rows = [{"id": "a", "text": "a", "published_at": "2023-03-10T10:00:00Z"},
            {"id": "b", "text": "b", "published_at": "2023-03-10T10:00:20Z"}]
    f.write_text("\n".join(json.dumps(r) for r in rows))
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "finsentry", "produce", str(f), "--bootstrap", tansu.bootstrap,
                    "--topic", kafka_topic, "--speedup", "10"], check=True, cwd=ROOT, timeout=60,
                   capture_output=True)
    assert time.monotonic() - t0 >= 2.0  # 20 s of event time at 10x
    got = sorted(consume_all(tansu.bootstrap, kafka_topic, 2), key=lambda r: r.timestamp_ms)
    assert [json.loads(r.value)["id"] for r in got] == ["a", "b"]
    assert got[1].timestamp_ms - got[0].timestamp_ms >= 1900
