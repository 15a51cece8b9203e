"""Commands of the ingest package: ``run``, ``status``, ``broker``, ``produce``, ``demo``.

Heavy imports (kafka, onnxruntime, sqlalchemy) happen inside the commands.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import typer

from finsentry.errors import ConfigError, FinsentryError

if TYPE_CHECKING:
    from finsentry.settings import Settings


def _settings(**overrides: object) -> Settings:
    from finsentry.settings import load_settings

    try:
        return load_settings(**overrides)
    except FinsentryError:
        raise
    except Exception as exc:  # pydantic ValidationError: a bad flag or env value
        raise ConfigError(f"invalid settings: {exc}") from exc


def _fail(exc: FinsentryError) -> None:
    from finsentry.logs import get_logger

    get_logger("finsentry").error("command.failed", error=str(exc), kind=type(exc).__name__)
    raise typer.Exit(2 if isinstance(exc, ConfigError) else 1)


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""

    @app.command("run")
    def run_cmd(
        bootstrap: str = typer.Option(None, "--bootstrap", help="Kafka bootstrap servers (default: embedded broker)."),
        topic: str = typer.Option(None, "--topic", help="Input topic(s), comma-separated (default news)."),
        group: str = typer.Option(None, "--group", help="Consumer group (default finsentry)."),
        store: str = typer.Option(None, "--store", help="Store SQLAlchemy URL (sqlite:///PATH or postgresql+psycopg://...)."),
        metrics_port: int = typer.Option(None, "--metrics-port", help="Port of /metrics (0 = off)."),
        webhook: list[str] = typer.Option(None, "--webhook", help="Alert webhook URL (repeatable)."),
        model: str = typer.Option(None, "--model", help="Model directory (default: the shipped model)."),
        output_topic: str = typer.Option(None, "--output-topic", help="Scored-items topic ('' = none)."),
    ) -> None:
        """Run the consumer service (Kafka -> classify -> store -> monitor -> commit)."""
        from app.root import run

        try:
            s = _settings(kafka_bootstrap=bootstrap, topic=topic, group=group, store_url=store,
                          metrics_port=metrics_port, alert_webhook_urls=webhook or None, model_path=model,
                          output_topic=output_topic)
            raise typer.Exit(run(s))
        except FinsentryError as exc:
            _fail(exc)

    @app.command("status")
    def status_cmd(
        store: str = typer.Option(None, "--store", help="Store SQLAlchemy URL (default FINSENTRY_STORE_URL)."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object (last line)."),
    ) -> None:
        """Counts of stored items, labels, dead letters, alerts and the last item time."""
        from store import Store
        from store.reads.warmup import WarmupNeeds, warmup_state

        try:
            settings = _settings(store_url=store)
            opened = Store.open_existing(settings.store_url)
            try:
                st = opened.status()
                needs = WarmupNeeds(
                    block_s=settings.detector_block_s, block_min_items=settings.detector_block_min_items,
                    min_blocks=settings.detector_min_blocks, baseline_s=settings.detector_baseline_s,
                    dense_warmup_s=settings.detector_volume_dense_warmup_s,
                )
                st["monitor_warmup"] = warmup_state(opened.engine, needs).as_dict()
            finally:
                opened.close()
        except FinsentryError as exc:
            _fail(exc)
            return
        if not as_json:
            typer.echo(f"items          {st['items']}")
            for label, n in st["by_label"].items():
                typer.echo(f"  {label:<12} {n}")
            typer.echo(f"dead-lettered  {st['dead_lettered']}")
            for reason, n in st["dead_lettered_by_reason"].items():
                typer.echo(f"  {reason:<12} {n}")
            typer.echo(f"alerts         {st['alerts']} ({st['alerts_firing']} firing)")
            typer.echo(f"last item      {st['last_published_at'] or '-'} (ingested {st['last_ingested_at'] or '-'})")
            typer.echo(f"consumers      {st['consumers']}")
            w = st["monitor_warmup"]
            typer.echo(
                f"monitor        {w['phase']}: {w['history_h']} h of stream, {w['blocks']}/{w['blocks_needed']} "
                f"busy blocks (share baseline: {w['share_baseline']}), volume test "
                f"{'on' if w['volume_ready'] else 'waiting'}, topic/stream volume test "
                f"{'on' if w['dense_volume_ready'] else 'waiting'}, full baseline "
                f"{'yes' if w['baseline_complete'] else 'not yet'}"
            )
            return
        typer.echo(json.dumps(st, sort_keys=True))

    @app.command("broker")
    def broker_cmd(
        port: int = typer.Option(9092, "--port", help="Port on 127.0.0.1 (0 = a free port)."),
        topics: str = typer.Option(None, "--create-topics", help="Topics to create (default: input, DLQ, output)."),
    ) -> None:
        """Run the embedded Kafka-protocol broker (Tansu, in memory) in the foreground."""
        import signal
        import threading

        from finsentry.logs import configure
        from ingest.broker import EmbeddedBroker
        from ingest.kafka_io import ensure_topics

        try:
            s = _settings()
            configure(s.log_level, "console")
            b = EmbeddedBroker(port=port).start()
        except FinsentryError as exc:
            _fail(exc)
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            names = topics.split(",") if topics else [*s.topic, s.dlq_topic, s.output_topic]
            ensure_topics(b.bootstrap, names, s.topic_partitions)
            typer.echo(f"broker listening on {b.bootstrap} (in memory; Ctrl-C stops it)", err=True)
            while not stop.wait(0.5):
                if not b.running:
                    raise typer.Exit(1)
        except KeyboardInterrupt:
            pass
        finally:
            b.stop()

    @app.command("produce")
    def produce_cmd(
        file: str = typer.Argument(..., help="JSONL or CSV file (optionally .gz); 'svb' / 'covid' = bundled streams."),
        bootstrap: str = typer.Option(None, "--bootstrap", help="Kafka bootstrap (default FINSENTRY_KAFKA_BOOTSTRAP)."),
        topic: str = typer.Option(None, "--topic", help="Topic (default: the first input topic)."),
        rate: float = typer.Option(None, "--rate", help="Messages per second."),
        speedup: float = typer.Option(None, "--speedup", help="Replay by published_at at X times real time."),
        max_gap: float = typer.Option(None, "--max-gap", help="With --speedup: cap each quiet gap (s)."),
        limit: int = typer.Option(0, "--limit", help="Send only the first N rows."),
    ) -> None:
        """Publish a news file to Kafka with a progress bar."""
        from app.demo import stream_path
        from ingest.kafka_io import Sink, ensure_topics
        from ingest.produce import produce, read_rows

        if rate and speedup:
            _fail(ConfigError("give --rate or --speedup, not both"))
        try:
            s = _settings(kafka_bootstrap=bootstrap)
            if not s.kafka_bootstrap:
                raise ConfigError("no broker: give --bootstrap HOST:PORT or set FINSENTRY_KAFKA_BOOTSTRAP")
            name = topic or s.topic[0]
            rows = list(read_rows(stream_path(file)))
            if limit:
                rows = rows[:limit]
            ensure_topics(s.kafka_bootstrap, [name], s.topic_partitions)
            sink = Sink(s.kafka_bootstrap, client_id="finsentry-produce")
            n = produce(lambda v, k: sink.send(name, v, key=k), rows, rate=rate, speedup=speedup,
                        max_gap_s=max_gap, flush=sink.flush)
            sink.close()
        except FinsentryError as exc:
            _fail(exc)
            return
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        typer.echo(f"sent {n} messages to {name} on {s.kafka_bootstrap}", err=True)

    @app.command("demo")
    def demo_cmd(
        stream: str = typer.Option("svb", "--stream", help="svb | covid | a JSONL/CSV path."),
        speedup: float = typer.Option(10_000.0, "--speedup", help="Replay speed (x real time)."),
        max_gap: float = typer.Option(2.0, "--max-gap", help="Cap each quiet gap in the replay (s)."),
        store: str = typer.Option(None, "--store", help="Store URL (default FINSENTRY_STORE_URL)."),
        metrics_port: int = typer.Option(None, "--metrics-port", help="Port of /metrics."),
        dashboard_port: int = typer.Option(None, "--dashboard-port", help="Port of the dashboard."),
        no_dashboard: bool = typer.Option(False, "--no-dashboard", help="Do not start the dashboard."),
        webhook: list[str] = typer.Option(  # noqa: B008 - typer declares options this way
            [], "--webhook", help="Also POST signed alerts to this URL (repeatable; adds to the configured ones)."),
        webhook_secret: str = typer.Option(
            None, "--webhook-secret", help="Signing secret for --webhook (default: FINSENTRY_ALERT_WEBHOOK_SECRET)."),
    ) -> None:
        """The main job: embedded broker + service + metrics + dashboard + replay of a real news stream."""
        from app.demo import run_demo

        try:
            s = _settings(store_url=store, metrics_port=metrics_port, log_format="console")
            if webhook or webhook_secret:
                s = _settings(**{**s.model_dump(), "alert_webhook_urls": [*s.alert_webhook_urls, *webhook],
                                 "alert_webhook_secret": webhook_secret or s.alert_webhook_secret})
            raise typer.Exit(run_demo(s, stream, speedup, max_gap, not no_dashboard, dashboard_port))
        except FinsentryError as exc:
            _fail(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use the finsentry command")
