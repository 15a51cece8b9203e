"""CLI commands of this package (registered on the root `finsentry` app)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    from monitor.alerting.cli import register as register_alerts

    register_alerts(app)
    app.add_typer(monitor_app, name="monitor")


monitor_app = typer.Typer(help="Trends and spike detection: evaluation on real news.", no_args_is_help=True)


@monitor_app.command("evaluate")
def evaluate(
    stream: str = typer.Option(
        ..., "--stream", help="Stream file (JSONL or JSONL.gz: id, text, published_at, source, lang)."
    ),
    shock: str | None = typer.Option(
        None, help="Shock start (ISO date/time, UTC); known for the bundled svb/covid streams."
    ),
    store: str | None = typer.Option(
        None, "--store", help="Store URL for the replay (default: a throw-away SQLite file)."
    ),
    json_out: str | None = typer.Option(
        None, "--json", help="Also write the summary and alert table to this JSON file."
    ),
    model: str | None = typer.Option(None, "--model", help="Model directory (default: the shipped model)."),
    calendar: str = typer.Option(
        "data/eval/crises.yml", "--calendar",
        help="Crisis calendar (entities, aliases, dates); its entry for the stream adds per-entity delays.",
    ),
) -> None:
    """Replay a real news stream through the classifier and the monitor; report alerts vs the shock."""
    import json
    from datetime import UTC, datetime

    from finsentry.logs import configure
    from finsentry.settings import load_settings
    from monitor.evaluate import render_markdown, replay

    settings = load_settings(model_path=model)
    configure(settings.log_level if settings.log_level.upper() != "INFO" else "WARNING", "console")
    shock_at = None
    if shock:
        shock_at = datetime.fromisoformat(shock)
        shock_at = shock_at.replace(tzinfo=UTC) if shock_at.tzinfo is None else shock_at
    from finsentry.errors import FinsentryError

    try:
        report = replay(stream, settings, store_url=store, shock=shock_at)
    except FinsentryError as exc:
        typer.echo(f"evaluate failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(render_markdown(report))
    summary = report.summary()
    from pathlib import Path

    from monitor import calendar as crisis_calendar

    try:
        cal = crisis_calendar.Calendar.load(calendar).for_stream(stream) if Path(calendar).is_file() else None
    except FinsentryError as exc:
        typer.echo(f"evaluate: {exc}", err=True)
        raise typer.Exit(1) from exc
    if cal is not None:
        scored = crisis_calendar.score(cal, report.alerts)
        typer.echo("\n".join(crisis_calendar.render(scored)))
        summary["calendar"] = scored
    if json_out:
        with open(json_out, "w", encoding="utf-8") as fh:
            json.dump({"summary": summary, "alerts": report.table()}, fh, indent=2)
    typer.echo(json.dumps(summary))
