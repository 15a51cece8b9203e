from __future__ import annotations

import json

from typer.testing import CliRunner

from app.cli import app


def test_eval_cli_reports_metrics_and_skipped_rows(tmp_path, shipped):
    csv = tmp_path / "eval.csv"
    csv.write_text(
        "sentence,gold\n"
        "Net profit more than doubled and guidance was raised .,positive\n"
        "Shares plunged 30 % after a profit warning .,NEGATIVE\n"
        "The meeting will be held in Helsinki .,neutral\n"
        "   ,neutral\n"
        "Something happened .,bullish\n",
        encoding="utf-8",
    )
    res = CliRunner().invoke(app, ["model", "eval", "--input", str(csv), "--text-col", "sentence",
                                   "--label-col", "gold", "--provider", "cpu"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["n"] == 3 and summary["skipped"] == 2
    assert 0 <= summary["accuracy"] <= 1 and 0 <= summary["macro_f1"] <= 1
    assert any("empty_text" in ln for ln in lines) and any("unknown_label" in ln for ln in lines)


def test_eval_cli_topic_task(tmp_path, shipped):
    csv = tmp_path / "topic.csv"
    csv.write_text('text,label\n"Fed raises rates by 75 basis points",Fed | Central Banks\n', encoding="utf-8")
    res = CliRunner().invoke(app, ["model", "eval", "--input", str(csv), "--task", "topic", "--provider", "cpu"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.strip().splitlines()[-1])["n"] == 1


def test_eval_cli_missing_column(tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text("a,b\nx,y\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["model", "eval", "--input", str(csv)])
    assert res.exit_code != 0
