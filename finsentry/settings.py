"""The one settings object. Read once, at the composition root (the CLI), then passed down.

Every field is settable as an environment variable ``FINSENTRY_<FIELD>`` (upper case) or a
``.env`` file; CLI flags override. Components never read the environment themselves: they get
the values (or small frozen config objects built from them) through their constructors.
Lists accept comma-separated strings, e.g. ``FINSENTRY_ALERT_WEBHOOK_URLS=http://a,http://b``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CsvList = Annotated[list[str], NoDecode]


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FINSENTRY_", env_file=".env", extra="ignore", frozen=False
    )

    # --- Kafka (ingest) ------------------------------------------------------------------
    kafka_bootstrap: str | None = Field(
        default=None, description="Kafka bootstrap servers (host:port,...). Empty = start the embedded broker."
    )
    topic: CsvList = Field(default=["news"], description="Input topic(s), comma-separated.")
    group: str = Field(default="finsentry", description="Consumer group id.")
    dlq_topic: str = Field(default="news.dlq", description="Dead-letter topic for invalid records.")
    output_topic: str = Field(default="news.scored", description="Topic for scored items ('' = do not publish).")
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        default="earliest", description="Where a new consumer group starts."
    )
    topic_partitions: int = Field(default=4, ge=1, description="Partitions when finsentry creates a topic.")
    batch_max_records: int = Field(default=256, ge=1, description="Max records per poll/batch.")
    batch_max_wait_ms: int = Field(default=200, ge=1, description="Max wait for a batch to fill (ms).")
    classify_overlap: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="Classify the next batch on a worker thread while the previous one is stored, "
        "published and committed (commits stay in order; at most two batches in memory). "
        "auto = on when a model runs on CUDA; on CPU it was measured to add latency, not throughput.",
    )
    max_text_chars: int = Field(default=10_000, ge=1, description="Longest accepted text; longer goes to the DLQ.")
    session_timeout_ms: int = Field(default=6000, ge=1000, description="Consumer group session timeout (ms).")
    publish_max_attempts: int = Field(
        default=3, ge=1,
        description="Sends of one record the broker or producer refuses for its own sake (too large, invalid) "
        "before it is isolated: its dead letter goes out cut down, then to the quarantine file; a scored "
        "copy is dropped from the output topic with a DLQ note. Broker outages are retried without limit.",
    )
    producer_max_request_bytes: int = Field(
        default=1_048_576, ge=16_384,
        description="Largest record the producer sends (kafka-python max_request_size); dead letters are "
        "cut to fit.",
    )
    quarantine_path: str = Field(
        default="var/quarantine.jsonl",
        description="JSON Lines file (fsync'd before the offset commit) for records even the DLQ refused.",
    )
    embedded_broker_port: int = Field(default=0, ge=0, description="Port for the embedded broker (0 = free port).")

    # --- Store ---------------------------------------------------------------------------
    store_url: str = Field(
        default="sqlite:///var/finsentry.db",
        description="SQLAlchemy URL of the store (sqlite:///PATH or postgresql+psycopg://...).",
    )
    store_statement_timeout_s: float = Field(
        default=30.0, ge=0,
        description="PostgreSQL: the server cancels a statement running longer (s, 0 = no limit), so a "
        "hung query fails the batch (re-read after backoff) instead of stalling the consumer.",
    )
    store_idle_in_transaction_timeout_s: float = Field(
        default=60.0, ge=0,
        description="PostgreSQL: the server ends a session idle inside an open transaction this long "
        "(s, 0 = no limit), releasing its locks.",
    )

    # --- Model ---------------------------------------------------------------------------
    model_path: str | None = Field(default=None, description="Model directory (empty = the shipped model).")
    provider: Literal["auto", "cuda", "cpu"] = Field(default="auto", description="ONNX Runtime provider.")
    language_models: dict[str, str] = Field(
        default={"en": "shipped", "pl": "multilingual", "zh": "multilingual"},
        description='Language -> model table as JSON, e.g. {"en": "shipped", "de": "/models/de"}; "shipped" = '
        'the English model (or --model), "multilingual" = the packaged Polish/Chinese model (docs/model.md).',
    )
    topic_threshold: float = Field(default=0.3, ge=0, le=1, description="Min probability for a topic tag.")

    # --- Monitor: buckets, windows, spikes -------------------------------------------------
    bucket_seconds: int = Field(default=60, ge=1, description="Event-time bucket width (s).")
    allowed_lateness_s: int = Field(
        default=3600, ge=0, description="Items later than this behind the watermark count as late."
    )
    max_future_s: int = Field(
        default=300, ge=0, description="An item dated further than this ahead of its ingest time is stored but held "
        "out of the trends until the watermark reaches it (clock skew, typos like year 2999) (s).",
    )
    partition_idle_s: float = Field(
        default=30.0, gt=0, description="A caught-up partition that delivered nothing for this long stops holding "
        "the event-time watermark back (wall-clock s).",
    )
    syndication_window_s: int = Field(
        default=86_400, ge=0, description="Same story_hash within this span of an earlier item = syndicated copy (s)."
    )
    # Spike detector (monitor/detector.py; maths in docs/monitor.md). All spans are event time.
    detector_window_min_s: int = Field(default=60, ge=1, description="Shortest trailing detection window (s).")
    detector_window_max_s: int = Field(
        default=3 * 86_400, ge=1,
        description="Longest trailing detection window (s); the window grows from the minimum until it holds "
        "detector_min_items.",
    )
    detector_min_items: int = Field(
        default=10, ge=1, description="Unique scored items a window needs before it is tested (minimum volume)."
    )
    detector_min_negative: int = Field(default=5, ge=1, description="Negative items a window needs before it can fire.")
    detector_min_delta: float = Field(
        default=0.10, ge=0, le=1, description="Negative share must exceed the baseline by at least this to fire."
    )
    detector_baseline_s: int = Field(
        default=7 * 86_400, ge=60, description="History the baseline is learned from, before the window (s)."
    )
    detector_block_s: int = Field(
        default=3600, ge=60,
        description="Baseline history is cut into blocks of this length; the baseline is the median block share.",
    )
    detector_block_min_items: int = Field(
        default=5, ge=1, description="Blocks with fewer unique items are ignored by the baseline."
    )
    detector_min_blocks: int = Field(
        default=6, ge=1, description="Blocks a key needs for its own baseline; fewer = use the whole-stream baseline."
    )
    detector_noise_floor: float = Field(
        default=0.02, ge=0, le=1, description="Minimum over-dispersion of the negative share (absolute share units)."
    )
    detector_z_on: float = Field(default=4.5, gt=0, description="Fire when the spike score reaches this.")
    detector_z_off: float = Field(
        default=2.0, ge=0, description="Resolve once the spike score stays below this for detector_resolve_s."
    )
    detector_z_critical: float = Field(
        default=7.0, gt=0, description="Spike score at or above this makes the alert critical."
    )
    detector_resolve_s: int = Field(
        default=600, ge=0, description="Event time the score must stay below z_off before an episode resolves (s)."
    )
    detector_cooldown_s: int = Field(
        default=1800, ge=0, description="After a resolve, the same key cannot fire again for this long (s)."
    )
    detector_warmup_prior_share: float = Field(
        default=0.25, ge=0, lt=1,
        description="Warm-up: negative share assumed for a fresh stream until it has its own baseline (0 = no test).",
    )
    detector_warmup_prior_noise: float = Field(
        default=0.10, gt=0, description="Warm-up: spread (tau) of that assumed share: only overwhelming surges fire.",
    )
    detector_evidence: int = Field(
        default=5, ge=0, description="Top negative headlines attached to an alert as evidence."
    )
    detector_volume_key_types: CsvList = Field(
        default=["ticker", "entity"],
        description="Key types also tested on their count of negatives (volume test); '' = off.",
    )
    detector_volume_z_on: float = Field(
        default=3.5, gt=0, description="Volume test: z at which a surge of negatives about a key fires."
    )
    detector_volume_min_negative: int = Field(
        default=4, ge=1, description="Volume test: negatives a window needs before it is tested."
    )
    detector_volume_min_share: float = Field(
        default=0.3, ge=0, le=1, description="Volume test: negative share a window needs before it is tested."
    )
    detector_volume_min_ratio: float = Field(
        default=5.0, ge=1, description="Volume test: negatives must be at least this many times the expected count."
    )
    detector_volume_prior_per_day: float = Field(
        default=0.5, gt=0, description="Volume test: a key's negatives per day assumed before it has history."
    )
    detector_volume_prior_days: float = Field(
        default=3.0, gt=0, description="Volume test: how many days of evidence that assumption is worth."
    )
    detector_volume_dense_z_on: float = Field(
        default=5.0, gt=0, description="Volume test on topic and whole-stream keys: their (stricter) threshold."
    )
    detector_volume_dense_warmup_s: int = Field(
        default=86_400, ge=0, description="Volume test on topic and whole-stream keys: stream seen before it runs (s)."
    )
    detector_volume_dense_min_ratio: float = Field(
        default=2.0, ge=1, description="Volume test on topic and whole-stream keys: negatives over the expected count.",
    )
    detector_volume_profile: bool = Field(
        default=True, description="Volume test: weigh hours by the stream's time-of-week profile (daily/weekly cycle)."
    )

    # --- Metrics -------------------------------------------------------------------------
    metrics_host: str = Field(default="127.0.0.1", description="Bind address of /metrics.")
    metrics_port: int = Field(default=9108, ge=0, description="Port of /metrics and /healthz (0 = disabled).")
    health_stall_s: float = Field(
        default=120.0, gt=0,
        description="/healthz answers 503 when the consumer loop holds partitions and has not completed "
        "an iteration for this long (s), or has not started yet.",
    )
    ticker_watchlist: CsvList = Field(default=[], description="Tickers exported as metric labels (bounded).")
    ticker_top_k: int = Field(default=25, ge=0, description="Also export the K most active tickers.")
    source_top_k: int = Field(default=25, ge=0, description="Sources exported as metric labels: the K most active.")

    # --- Alerting ------------------------------------------------------------------------
    alert_webhook_urls: CsvList = Field(default=[], description="Webhook URLs for direct Alertmanager-format alerts.")
    alert_webhook_secret: SecretStr | None = Field(
        default=None, description="Webhook signing secret (HMAC-SHA256, Standard Webhooks; whsec_<base64> or any "
        "string). Signs first; more in alert_webhook_secrets.",
    )
    alert_webhook_secrets: SecretStr | None = Field(
        default=None, description="More active signing secrets, comma-separated (key rotation: every secret signs "
        "each webhook; receivers accept any).",
    )
    alert_webhook_unsigned: bool = Field(
        default=False, description="Allow webhooks without a signature when no secret is set (else startup fails).",
    )
    alert_max_attempts: int = Field(
        default=300, ge=1, description="Delivery attempts of one notification before it is marked failed "
        "(300 with the 1 s..5 min backoff span about a day).",
    )
    alert_max_age_s: int = Field(
        default=86_400, ge=60, description="A notification not delivered this long after it was queued is marked "
        "failed (s).",
    )
    alertmanager_url: str | None = Field(default=None, description="Alertmanager base URL (v2 API) to push alerts to.")
    alert_resend_s: int = Field(default=60, ge=5, description="Re-send interval for active alerts (s).")
    alert_timeout_s: float = Field(
        default=5.0, gt=0, le=60,
        description="Total deadline of one alert POST: connect, send, answer and body together (s).",
    )
    external_url: str = Field(default="http://127.0.0.1:8501", description="Link put in alerts (the dashboard).")

    # --- Retention -----------------------------------------------------------------------
    retention_items_days: float = Field(
        default=30, ge=0, description="Items (and their ticker rows) older than this behind the event-time "
        "watermark are deleted (days, 0 = keep).",
    )
    retention_dead_letters_days: float = Field(
        default=14, ge=0, description="Dead-letter records seen longer ago are deleted (days, wall clock, 0 = keep).",
    )
    retention_outbox_days: float = Field(
        default=30, ge=0, description="Delivered or failed notifications are deleted this long after (days, wall "
        "clock, 0 = keep).",
    )
    retention_minute_buckets_days: float = Field(
        default=14, ge=0, description="Minute buckets older than this behind the watermark are rolled up into "
        "hourly and daily ones and deleted (days, 0 = keep); at least the detector's horizon.",
    )
    retention_hourly_buckets_days: float = Field(
        default=90, ge=0, description="Hourly buckets older than this behind the watermark are deleted (days, "
        "0 = keep); daily ones are kept.",
    )
    retention_interval_s: float = Field(
        default=600, gt=0, description="How often the service runs the retention job (s).",
    )
    retention_batch_rows: int = Field(
        default=1000, ge=1, description="Rows deleted per retention transaction (short transactions).",
    )

    # --- Dashboard -----------------------------------------------------------------------
    dashboard_host: str = Field(default="127.0.0.1", description="Bind address of the dashboard.")
    dashboard_port: int = Field(default=8501, ge=1, description="Port of the dashboard.")
    dashboard_refresh_s: int = Field(default=10, ge=0, description="Auto-refresh interval (s, 0 = off).")

    # --- Logging -------------------------------------------------------------------------
    log_level: str = Field(default="INFO", description="Log level.")
    log_format: Literal["json", "console"] = Field(default="json", description="Log line format.")

    _split = field_validator("topic", "ticker_watchlist", "alert_webhook_urls", "detector_volume_key_types",
                             mode="before")(_split_csv)


def load_settings(**overrides: object) -> Settings:
    """Read the environment once and apply CLI overrides (``None`` values are ignored)."""
    # Any: the values are validated (and coerced) by pydantic, not by the type checker.
    clean: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)
