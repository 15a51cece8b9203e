"""Relational schema of the store, shared by the service (writer) and the dashboard (reader).

SQLAlchemy Core tables so one code path serves SQLite and PostgreSQL. Times are stored as
timezone-aware UTC datetimes. Buckets are additive rollups (counts and sums only), so several
consumer instances add into the same rows and the dashboard never scans raw items for charts.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

SCHEMA_VERSION = 2  # 2: watermarks, items.held, rollups, outbox final state, alert entity/story

metadata = MetaData()

# One row per news item (idempotent upsert by id: a redelivered item never makes a second row).
items = Table(
    "items",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("text", Text, nullable=False),
    Column("source", String(200), nullable=True),
    Column("url", Text, nullable=True),
    Column("published_at", DateTime(timezone=True), nullable=False),
    Column("ingested_at", DateTime(timezone=True), nullable=False),
    Column("lang", String(16), nullable=True),
    # NULL label/probs/score: language no model covers (stored, shown, kept out of aggregates).
    Column("label", String(16), nullable=True),
    Column("p_negative", Float, nullable=True),
    Column("p_neutral", Float, nullable=True),
    Column("p_positive", Float, nullable=True),
    Column("score", Float, nullable=True),
    Column("topic", String(64), nullable=True),  # best topic above threshold (for filters)
    Column("topics", JSON, nullable=False, default=list),  # [[name, prob], ...] best first
    Column("tickers", JSON, nullable=False, default=list),  # ["AAPL", ...]
    Column("model_version", String(64), nullable=True),
    Column("story_hash", String(64), nullable=True),  # normalised-text fingerprint
    # Syndicated copy of an earlier story: id of the first one (copies count once for spikes).
    Column("duplicate_of", String(128), nullable=True),
    Column("kafka_topic", String(200), nullable=True),
    Column("kafka_partition", Integer, nullable=True),
    Column("kafka_offset", BigInteger, nullable=True),
    # Dated beyond ingested_at + FINSENTRY_MAX_FUTURE_S: kept out of the buckets until the
    # watermark reaches published_at, then added once and the flag cleared (store.watermarks).
    Column("held", Boolean, nullable=True),
    Index("ix_items_published_at", "published_at"),
    Index("ix_items_label_published", "label", "published_at"),
    Index("ix_items_topic_published", "topic", "published_at"),
    Index("ix_items_source_published", "source", "published_at"),
    Index("ix_items_duplicate_of", "duplicate_of"),
    Index("ix_items_story_hash", "story_hash", "published_at"),
    Index("ix_items_held", "held", "published_at"),
)

# Item <-> ticker, for indexed ticker filters without JSON scans.
item_tickers = Table(
    "item_tickers",
    metadata,
    Column("item_id", String(128), primary_key=True),
    Column("ticker", String(32), primary_key=True),
    Column("published_at", DateTime(timezone=True), nullable=False),
    Index("ix_item_tickers_ticker_published", "ticker", "published_at"),
)

# Additive event-time rollups: key_type in {"all", "topic", "ticker", "source"}.
def _bucket_table(name: str) -> Table:
    """A key's counts per time bucket: ``buckets`` (minutes) and its rollups share the layout."""
    return Table(
        name,
        metadata,
        Column("key_type", String(16), primary_key=True),
        Column("key", String(200), primary_key=True),
        Column("bucket_start", DateTime(timezone=True), primary_key=True),
        Column("n_negative", Integer, nullable=False, default=0),
        Column("n_neutral", Integer, nullable=False, default=0),
        Column("n_positive", Integer, nullable=False, default=0),
        Column("n_duplicates", Integer, nullable=False, default=0),  # syndicated copies (not in n_*)
        Column("score_sum", Float, nullable=False, default=0.0),
        Index(f"ix_{name}_start", "bucket_start"),
    )


buckets = _bucket_table("buckets")


# Coarser copies of ``buckets`` (same key and counts), filled by store.rollup before minute buckets
# age out: hourly (kept ``retention_hourly_buckets_days``) and daily (kept).
buckets_hourly = _bucket_table("buckets_hourly")
buckets_daily = _bucket_table("buckets_daily")

# One row per alert episode; id is deterministic (key_type:key:onset) so two instances that
# detect the same episode collide on the primary key and only one of them notifies.
alerts = Table(
    "alerts",
    metadata,
    Column("id", String(300), primary_key=True),
    Column("key_type", String(16), nullable=False),
    Column("key", String(200), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False),  # firing | resolved
    Column("started_at", DateTime(timezone=True), nullable=False),  # event time of onset bucket
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    Column("fingerprint", String(64), nullable=False),
    Column("figures", JSON, nullable=False),  # current, baseline, statistic, ...
    Column("evidence", JSON, nullable=False),  # top headlines [{id, text, source, score}]
    Column("entity", String(200), nullable=True),  # display name of the key's company/organisation
    Column("story", Text, nullable=True),  # headline of the key's biggest story in the window
    Column("story_size", Integer, nullable=True),  # headlines in that story
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_alerts_status", "status"),
    Index("ix_alerts_started", "started_at"),
)

# Persisted outbox of alert notifications: nothing is lost when a receiver or we are down.
alert_outbox = Table(
    "alert_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", String(300), nullable=False),
    Column("status", String(16), nullable=False),  # firing | resolved (the notification kind)
    Column("target", Text, nullable=False),  # webhook URL or alertmanager base URL
    Column("channel", String(16), nullable=False),  # webhook | alertmanager
    Column("payload", JSON, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Final state "failed" (never retried): when and why (max_attempts | max_age | target_removed).
    Column("failed_at", DateTime(timezone=True), nullable=True),
    Column("failed_reason", String(32), nullable=True),
    Index("ix_outbox_pending", "delivered_at", "next_attempt_at"),
    Index("ix_outbox_alert", "alert_id"),
)

# Every dead-lettered record seen (reason + where it came from), for `finsentry status`.
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("topic", String(200), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("reason", String(64), nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False),
    Index("ix_dead_letters_src", "topic", "partition", "offset", unique=True),
)

# Pipeline health snapshots written by each consumer (dashboard reads them; no Prometheus needed).
pipeline_health = Table(
    "pipeline_health",
    metadata,
    Column("instance", String(200), primary_key=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("consumed", BigInteger, nullable=False, default=0),
    Column("processed", BigInteger, nullable=False, default=0),
    Column("dead_lettered", BigInteger, nullable=False, default=0),
    Column("lag", BigInteger, nullable=False, default=0),
    Column("items_per_s", Float, nullable=False, default=0.0),
    Column("model_version", String(64), nullable=True),
    Column("provider", String(64), nullable=True),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# Event-time watermark per input partition (topic, partition), monotone, written in the same
# transaction as the buckets: restored on start and when a partition is assigned (rebalance).
# The row ("*", -1) holds the stream's watermark (the dashboard's "now").
watermarks = Table(
    "watermarks",
    metadata,
    Column("topic", String(200), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("watermark", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
