"""The `finsentry` console script: one typer app; each package registers its own commands.

Heavy imports (onnxruntime, kafka, streamlit, torch) happen inside the commands, so
`finsentry --help` is instant and the serving commands never import training libraries.
"""

from __future__ import annotations

import typer

from app.commands import register as register_ingest
from dashboard.cli import register as register_dashboard
from finsentry.configref import config_command
from model.cli import register as register_model
from monitor.cli import register as register_monitor

app = typer.Typer(
    name="finsentry",
    help="Financial-news sentiment monitor: Kafka in, scored items, trends, spike alerts, dashboard.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

@app.callback()
def _root() -> None:
    """Financial-news sentiment monitor."""


@app.command()
def version() -> None:
    """Print the finsentry version."""
    from finsentry import __version__

    typer.echo(__version__)


register_ingest(app)
register_model(app)
register_monitor(app)
register_dashboard(app)
app.command("config")(config_command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
