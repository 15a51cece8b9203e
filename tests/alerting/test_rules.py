"""The shipped Prometheus rules: promtool check + unit tests, and consistency with metrics.py."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from finsentry.metrics import Metrics

RULES_DIR = Path(__file__).resolve().parents[2] / "monitor" / "rules"
RULES = RULES_DIR / "finsentry.rules.yml"
TESTS = RULES_DIR / "tests.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool missing: run `make sysdeps`")


def promtool(*args: str, cwd: Path = RULES_DIR) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


@needs_promtool
def test_promtool_check_rules() -> None:
    res = promtool("check", "rules", str(RULES))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout


@needs_promtool
def test_promtool_unit_tests_pass() -> None:
    res = promtool("test", "rules", str(TESTS))
    assert res.returncode == 0, res.stdout + res.stderr


@needs_promtool
def test_promtool_unit_tests_can_fail(tmp_path: Path) -> None:
    """Negative control: a wrong expected figure makes promtool fail, so the suite has teeth."""
    shutil.copy(RULES, tmp_path / RULES.name)
    bad = TESTS.read_text().replace("spike score 6.25.", "spike score 6.26.")
    assert bad != TESTS.read_text()
    (tmp_path / "tests.yml").write_text(bad)
    res = promtool("test", "rules", "tests.yml", cwd=tmp_path)
    assert res.returncode != 0 and "6.26" in res.stdout + res.stderr


def _rules() -> list[dict]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def test_every_metric_used_by_the_rules_exists_in_metrics_py() -> None:
    exported = {m.name for m in Metrics(CollectorRegistry()).registry.collect()}
    # prometheus_client strips _total from counter family names; samples keep it.
    exported |= {f"{n}_total" for n in exported}
    used = set()
    for rule in _rules():
        used |= set(re.findall(r"\bfinsentry_[a-z_]+\b", rule["expr"]))
    assert used, "the rules read no finsentry metric"
    assert used <= exported, f"rules use unknown metrics: {sorted(used - exported)}"


def test_spike_alert_labels_match_the_pushed_alerts() -> None:
    """Same label set as monitor.alerting.payload, so Alertmanager deduplicates both paths."""
    (spike,) = [r for r in _rules() if r.get("alert") == "NegativeSentimentSpike"]
    assert "labels" not in spike  # only key_type, key, severity from the aggregation
    assert "by (key_type, key, severity)" in " ".join(
        r["expr"] for r in _rules() if r.get("record") == "finsentry:spike_active:max"
    )
    assert {"summary", "description", "negative_share", "baseline_negative_share", "spike_score"} <= set(
        spike["annotations"]
    )
