"""This consumer's health snapshot in the store (what `finsentry status` and the dashboard show);
the lag also goes to the loop's :class:`finsentry.progress.LoopProgress` (``/healthz``)."""

from __future__ import annotations

import time

from finsentry.errors import StoreUnavailable
from finsentry.metrics import Metrics
from finsentry.progress import LoopProgress
from ingest.kafka_io import Source
from model.languages import ModelRouter
from store import Store


class HealthReporter:
    """Writes consumed/processed/dead-lettered counts, lag, rate and model of one instance."""

    def __init__(self, store: Store, router: ModelRouter, metrics: Metrics, instance: str,
                 progress: LoopProgress | None = None) -> None:
        self.store, self.router, self.metrics, self.instance = store, router, metrics, instance
        self.progress = progress
        self._rate_mark = (time.monotonic(), 0)

    def lag(self, source: Source | None) -> int:
        if source is None:
            return 0
        try:
            lags = source.lag()
        except Exception:  # noqa: BLE001 - lag is best effort: a health line must not fail the loop
            return 0
        for (topic, part), lag in lags.items():
            self.metrics.consumer_lag.labels(topic, str(part)).set(lag)
        total = sum(lags.values())
        if self.progress is not None:
            self.progress.set_lag(total)
        return total

    def write(self, source: Source | None, consumed: int, processed: int, dead_lettered: int) -> None:
        now = time.monotonic()
        t_prev, n_prev = self._rate_mark
        rate = (processed - n_prev) / max(now - t_prev, 1e-6)
        self._rate_mark = (now, processed)
        model = self.router.models[0] if self.router.models else None
        try:
            self.store.upsert_health(
                self.instance, consumed=consumed, processed=processed, dead_lettered=dead_lettered,
                lag=self.lag(source), items_per_s=round(rate, 2),
                model_version=getattr(model, "version", None), provider=getattr(model, "provider", None))
        except StoreUnavailable:
            pass  # the batch path reports store outages
