"""``finsentry demo`` pieces: the replay plan and progress bar, the alert targets it names, and the
redelivery counter on the bundled stream (which repeats two rows back to back)."""

from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry

from app.demo import ReplayPlan, ReplayProgress, alert_targets, stream_path
from finsentry.metrics import Metrics
from finsentry.records import ScoredItem
from finsentry.settings import load_settings
from ingest.batch import Batch, count_durable
from ingest.produce import read_rows
from monitor.alerting.notifier import NotifierConfig

SVB = list(read_rows(stream_path("svb")))


def test_replay_plan_of_the_bundled_stream() -> None:
    plan = ReplayPlan.of(SVB, speedup=10_000, max_gap_s=2.0)
    assert plan.first.startswith("2023-02-15") and plan.last.startswith("2023-03-31")
    assert 300 < plan.duration_s < 480  # the README's "about 6.5 min"
    svb_week = plan.reached_at(SVB, "2023-03-08")
    assert svb_week is not None and 150 < svb_week < 240  # "about 3 min in"
    assert plan.reached_at(SVB, "2099") is None
    assert plan.offsets == sorted(plan.offsets)


def test_progress_bar_shows_items_and_event_time() -> None:
    out = io.StringIO()
    bar = ReplayProgress(SVB[:3], enabled=True, file=out)
    sent: list[bytes] = []
    send = bar.wrap(lambda v, k: sent.append(v))
    for _ in range(3):
        send(b"x", None)
    bar.bar.refresh()
    bar.close()
    text = out.getvalue()
    assert bar.sent == 3 and len(sent) == 3
    assert "3/3 items" in text and "event time 2023-02-15" in text


def test_alert_targets_name_the_webhook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINSENTRY_ALERT_WEBHOOK_URLS", "http://127.0.0.1:8080/finsentry?token=abcdef0123456789abcdef")
    monkeypatch.setenv("FINSENTRY_ALERT_WEBHOOK_SECRET", "s3cret-s3cret")
    s = load_settings()
    text = alert_targets(s)
    assert text.startswith("webhook http://127.0.0.1:8080/finsentry") and "abcdef0123456789abcdef" not in text
    cfg = NotifierConfig.from_settings(s)  # what the demo's service delivers to (same settings object)
    assert cfg.webhook_urls == ("http://127.0.0.1:8080/finsentry?token=abcdef0123456789abcdef",)
    monkeypatch.delenv("FINSENTRY_ALERT_WEBHOOK_URLS")
    assert alert_targets(load_settings()).startswith("none (set FINSENTRY_ALERT_WEBHOOK_URLS")


def _redelivered(registry: CollectorRegistry) -> float:
    return registry.get_sample_value("finsentry_redelivered_items_total") or 0.0


def test_a_row_sent_twice_in_one_poll_is_not_a_redelivery() -> None:
    repeated = [i for i, n in Counter(r["id"] for r in SVB).items() if n > 1]
    assert repeated  # the bundled stream does repeat rows (back to back)
    now = datetime(2023, 3, 10, tzinfo=UTC)
    items = [ScoredItem(id=i, text="t", published_at=now, ingested_at=now, lang="en") for i in ("a", "b", "b")]
    new = items[:2]  # the store keeps "b" once
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    count_durable(metrics, Batch([], [], [], now, 0.0), items, new)
    assert _redelivered(registry) == 0
    # after a restart the same ids come again: now they are redeliveries
    count_durable(metrics, Batch([], [], [], now, 0.0), items, [])
    assert _redelivered(registry) == 2


def test_demo_webhook_flags_add_a_signed_target(monkeypatch: pytest.MonkeyPatch) -> None:
    """`finsentry demo --webhook URL --webhook-secret S` adds the receiver to the configured targets."""
    from typer.testing import CliRunner

    import app.demo
    from app.cli import app as cli

    seen = {}

    def fake_run_demo(settings, *args: object) -> int:
        seen["s"] = settings
        return 0

    monkeypatch.setattr(app.demo, "run_demo", fake_run_demo)
    monkeypatch.setenv("FINSENTRY_ALERT_WEBHOOK_URLS", "http://127.0.0.1:9/configured")
    res = CliRunner().invoke(cli, ["demo", "--no-dashboard", "--webhook", "http://127.0.0.1:8080/finsentry",
                                   "--webhook-secret", "s3cret"])
    assert res.exit_code == 0, res.output
    s = seen["s"]
    assert s.alert_webhook_urls == ["http://127.0.0.1:9/configured", "http://127.0.0.1:8080/finsentry"]
    assert s.alert_webhook_secret.get_secret_value() == "s3cret"
    assert alert_targets(s) == "webhook http://127.0.0.1:9/configured, webhook http://127.0.0.1:8080/finsentry"
