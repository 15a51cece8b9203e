"""`finsentry alerts ...`: operator commands of alert delivery."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from finsentry.records import AlertEvent

alerts_app = typer.Typer(help="Alert delivery: test webhooks.", no_args_is_help=True)


def sample_event() -> AlertEvent:
    """A clearly labelled sample alert (ticker TEST) for receiver checks."""
    from finsentry.records import AlertEvent, Evidence

    now = datetime.now(UTC).replace(microsecond=0)
    return AlertEvent(
        alert_id=f"ticker:TEST:{now.strftime('%Y-%m-%dT%H:%M:%SZ')}",
        status="firing",
        key_type="ticker",
        key="TEST",
        severity="warning",
        started_at=now,
        resolved_at=None,
        figures={"negative_share": 0.62, "baseline_negative_share": 0.2, "z": 5.1, "window_items": 40.0},
        evidence=(Evidence("finsentry-test", "finsentry test alert: please ignore", "finsentry", -0.9),),
    )


@alerts_app.command("test")
def test_webhook(
    url: str = typer.Option(..., "--url", help="Webhook URL to POST the sample payload to."),
    secret: str | None = typer.Option(
        None, "--secret", help="HMAC secret (default: FINSENTRY_ALERT_WEBHOOK_SECRET(S)).", show_default=False
    ),
    show: bool = typer.Option(False, "--show", help="Also print the payload that was sent."),
) -> None:
    """Send a sample signed Alertmanager-format (version 4) payload and print the HTTP result."""
    from finsentry.errors import DeliveryError
    from finsentry.settings import load_settings
    from monitor.alerting.payload import encode, webhook_body
    from monitor.alerting.transport import HttpSender

    settings = load_settings()
    secrets: list[str] = [secret] if secret else []
    if not secrets:
        for field in (settings.alert_webhook_secret, settings.alert_webhook_secrets):
            if field is not None:
                secrets += [x.strip() for x in field.get_secret_value().split(",") if x.strip()]
    body = webhook_body([sample_event()], settings.external_url)
    sender = HttpSender(read_timeout_s=10.0)
    try:
        status = sender.post_webhook(url, body, secrets)
    except DeliveryError as exc:
        typer.echo(f"FAILED {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        sender.close()
    if show:
        typer.echo(encode(body).decode())
    typer.echo(f"POST {url} -> HTTP {status} ({'signed' if secrets else 'unsigned: no secret set'})")


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")
