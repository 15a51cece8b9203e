"""`finsentry alerts test`: a sample signed payload reaches a real receiver."""

from __future__ import annotations

from typer.testing import CliRunner

from app.cli import app
from monitor.alerting import verify
from tests.alerting.receiver import Receiver, free_port


def test_alerts_test_sends_a_signed_sample(receiver: Receiver) -> None:
    res = CliRunner().invoke(app, ["alerts", "test", "--url", receiver.url, "--secret", "k"])
    assert res.exit_code == 0, res.output
    assert f"POST {receiver.url} -> HTTP 200 (signed)" in res.output
    (got,) = receiver.wait_for(1)
    assert verify(got.body, got.headers, "k") and not verify(got.body, got.headers, "j")
    assert "X-Finsentry-Signature" not in got.headers  # no body-only signature: it could be replayed
    body = got.json()
    assert body["version"] == "4" and body["alerts"][0]["labels"]["key"] == "TEST"


def test_alerts_test_uses_the_configured_secret(receiver: Receiver, monkeypatch) -> None:
    monkeypatch.setenv("FINSENTRY_ALERT_WEBHOOK_SECRET", "from-env")
    res = CliRunner().invoke(app, ["alerts", "test", "--url", receiver.url])
    assert res.exit_code == 0, res.output
    (got,) = receiver.wait_for(1)
    assert verify(got.body, got.headers, "from-env")


def test_alerts_test_reports_failures() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    res = CliRunner().invoke(app, ["alerts", "test", "--url", url, "--secret", "k"])
    assert res.exit_code == 1
    assert "Connection refused" in res.output


def test_alerts_test_reports_http_errors() -> None:
    rx = Receiver(status=500).start()
    try:
        res = CliRunner().invoke(app, ["alerts", "test", "--url", rx.url, "--secret", "k"])
    finally:
        rx.stop()
    assert res.exit_code == 1 and "HTTP 500" in res.output
