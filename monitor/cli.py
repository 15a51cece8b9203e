"""CLI commands of this package (registered on the root `finsentry` app)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    from monitor.alerting.cli import register as register_alerts

    register_alerts(app)
