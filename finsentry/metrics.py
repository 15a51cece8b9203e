"""All Prometheus metrics of finsentry, on an injectable registry.

Names follow Prometheus conventions: ``finsentry_<noun>_<unit>``, counters end in ``_total``,
durations in seconds. Ticker label values are bounded by the caller (watchlist / top-K), so
cardinality cannot explode.

    >>> m = Metrics(CollectorRegistry()); m.consumed.inc(3)
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    """Pipeline and sentiment metrics; one instance per process, passed to components."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        # --- pipeline -----------------------------------------------------------------
        self.consumed = Counter(
            "finsentry_consumed_records_total", "Kafka records consumed.", ["topic"], registry=r
        )
        self.processed = Counter(
            "finsentry_processed_items_total", "Valid items classified and stored.", registry=r
        )
        self.dead_lettered = Counter(
            "finsentry_dead_lettered_records_total",
            "Invalid records sent to the dead-letter topic.",
            ["reason"],
            registry=r,
        )
        self.duplicates = Counter(
            "finsentry_redelivered_items_total",
            "Items already in the store (redelivery after a restart): not stored twice.",
            registry=r,
        )
        self.batch_size = Histogram(
            "finsentry_batch_size_records", "Records per processed batch.", buckets=_BATCH_BUCKETS, registry=r
        )
        self.batch_latency = Histogram(
            "finsentry_batch_duration_seconds",
            "Wall time to process one batch (validate, classify, store, commit).",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.inference_latency = Histogram(
            "finsentry_inference_duration_seconds",
            "Wall time of one classify() call on a batch.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.store_write_latency = Histogram(
            "finsentry_store_write_duration_seconds",
            "Wall time of one store write transaction.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.publish_rejected = Counter(
            "finsentry_publish_rejected_records_total",
            "Records a topic kept refusing for their own sake (too large, invalid) after the bounded attempts.",
            ["kind"],  # dlq | scored
            registry=r,
        )
        self.quarantined = Counter(
            "finsentry_quarantined_records_total",
            "Records written to the local quarantine file (even their cut-down dead letter was refused).",
            registry=r,
        )
        self.store_errors = Counter(
            "finsentry_store_errors_total", "Failed store writes (batch retried, offsets not committed).", registry=r
        )
        self.consumer_lag = Gauge(
            "finsentry_consumer_lag_records",
            "Records behind the fetch high watermark, per partition.",
            ["topic", "partition"],
            registry=r,
        )
        self.late_items = Counter(
            "finsentry_late_items_total",
            "Items older than the allowed lateness behind the event-time watermark.",
            registry=r,
        )
        self.future_items_held = Counter(
            "finsentry_future_items_held_total",
            "Items dated beyond ingest time + max_future_s: stored, kept out of trends until their time.",
            registry=r,
        )
        self.unsupported_language = Counter(
            "finsentry_unscored_items_total",
            "Items stored without a sentiment (no model for their language).",
            ["lang"],
            registry=r,
        )
        # --- sentiment ----------------------------------------------------------------
        self.items_by_label = Counter(
            "finsentry_items_total", "Classified items by label and best topic.", ["label", "topic"], registry=r
        )
        self.negative_share = Gauge(
            "finsentry_negative_share_ratio",
            "Negative share in the latest closed window, per key.",
            ["key_type", "key"],
            registry=r,
        )
        self.baseline_negative_share = Gauge(
            "finsentry_baseline_negative_share_ratio",
            "Robust baseline of the negative share, per key.",
            ["key_type", "key"],
            registry=r,
        )
        self.spike_score = Gauge(
            "finsentry_spike_score",
            "Test statistic of the spike detector (z-like; >= threshold means a spike), per key.",
            ["key_type", "key"],
            registry=r,
        )
        self.spike_active = Gauge(
            "finsentry_spike_active",
            "1 while the detector considers the key in a negative-spike episode, else 0.",
            ["key_type", "key", "severity"],
            registry=r,
        )
        self.window_items = Gauge(
            "finsentry_window_items",
            "Unique items in the latest closed detection window, per key.",
            ["key_type", "key"],
            registry=r,
        )
        # --- alert delivery -----------------------------------------------------------
        self.alert_notifications = Counter(
            "finsentry_alert_notifications_total",
            "Alert notifications delivered, by channel and status.",
            ["channel", "status"],
            registry=r,
        )
        self.alert_delivery_failures = Counter(
            "finsentry_alert_delivery_failures_total",
            "Failed delivery attempts (retried with backoff).",
            ["channel"],
            registry=r,
        )
        self.alert_notifications_failed = Counter(
            "finsentry_alert_notifications_failed_total",
            "Notifications given up (final state failed: max_attempts, max_age, target_removed).",
            ["channel", "reason"],
            registry=r,
        )
        # --- retention (store/retention.py) ----------------------------------------------
        self.retention_deleted = Counter(
            "finsentry_retention_deleted_rows_total",
            "Rows removed by retention, by table (minute buckets: moved into the hourly/daily rollups).",
            ["table"],
            registry=r,
        )
        self.retention_duration = Histogram(
            "finsentry_retention_run_duration_seconds",
            "Wall time of one retention pass.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.alert_outbox_pending = Gauge(
            "finsentry_alert_outbox_pending", "Notifications waiting in the outbox.", registry=r
        )
