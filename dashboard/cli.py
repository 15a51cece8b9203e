"""`finsentry dashboard`: serve the Streamlit app on loopback (by default) against a store.

Streamlit is run as a subprocess (`python -m streamlit run dashboard/app.py`, headless) so the
page gets its own process; the store URL and refresh interval travel as the settings'
environment variables (FINSENTRY_STORE_URL, FINSENTRY_DASHBOARD_REFRESH_S).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

import typer
from sqlalchemy.engine import make_url

APP_PATH = Path(__file__).with_name("app.py")


def absolute_store_url(url: str) -> str:
    """Relative SQLite paths made absolute, so the page finds the same file from any cwd."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:" \
            and not u.database.startswith("file:"):
        return u.set(database=str(Path(u.database).resolve())).render_as_string(hide_password=False)
    return url


def streamlit_command(host: str, port: int, app_path: Path = APP_PATH) -> list[str]:
    """The streamlit command line: headless, no file watcher, no telemetry, no dev toolbar."""
    return [
        sys.executable, "-m", "streamlit", "run", str(app_path),
        f"--server.address={host}",
        f"--server.port={port}",
        "--server.headless=true",
        "--server.fileWatcherType=none",
        "--server.runOnSave=false",
        "--browser.gatherUsageStats=false",
        "--client.toolbarMode=viewer",
        "--theme.base=light",
        # Red means "negative" on this page, so widgets and bars take a neutral navy instead.
        "--theme.primaryColor=#1f3b73",
    ]


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""

    @app.command("dashboard")
    def dashboard(
        port: int = typer.Option(None, "--port", help="Port (default FINSENTRY_DASHBOARD_PORT or 8501)."),
        host: str = typer.Option(None, "--host", help="Bind address (default 127.0.0.1)."),
        store: str = typer.Option(None, "--store", help="Store SQLAlchemy URL (default FINSENTRY_STORE_URL)."),
        refresh: int = typer.Option(None, "--refresh", help="Auto-refresh interval in seconds (0 = off)."),
    ) -> None:
        """Serve the live dashboard (Streamlit) reading the store."""
        from finsentry.errors import ConfigError
        from finsentry.logs import configure, get_logger
        from finsentry.settings import load_settings

        try:
            settings = load_settings(dashboard_port=port, dashboard_host=host, store_url=store,
                                     dashboard_refresh_s=refresh)
        except Exception as exc:  # pydantic ValidationError: bad flag/env value
            raise ConfigError(f"invalid dashboard settings: {exc}") from exc
        configure(settings.log_level, settings.log_format)
        log = get_logger(__name__)
        url = absolute_store_url(settings.store_url)
        env = {
            **os.environ,
            "FINSENTRY_STORE_URL": url,
            "FINSENTRY_DASHBOARD_REFRESH_S": str(settings.dashboard_refresh_s),
        }
        cmd = streamlit_command(settings.dashboard_host, settings.dashboard_port)
        proc = subprocess.Popen(cmd, env=env)
        log.info("dashboard.serving", url=f"http://{settings.dashboard_host}:{settings.dashboard_port}",
                 store=make_url(url).render_as_string(hide_password=True), pid=proc.pid,
                 refresh_s=settings.dashboard_refresh_s)

        def _stop(signum: int, _frame: FrameType | None) -> None:
            if proc.poll() is None:
                proc.terminate()

        signal.signal(signal.SIGTERM, _stop)
        try:
            rc = proc.wait()
        except KeyboardInterrupt:
            _stop(signal.SIGINT, None)
            rc = 0
        finally:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.info("dashboard.stopped", rc=rc)
        raise typer.Exit(0 if rc in (0, -signal.SIGTERM) else rc)
