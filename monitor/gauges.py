"""Per-key Prometheus gauges of the detector's figures, with bounded labels.

Topics and the whole stream are few; tickers, sources and entities (organisations found in the
text) are unbounded, so only the watchlist and the K most active of the last day get series, and a
key that leaves that set loses its series.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from finsentry.records import KeyId
from monitor.detector import Evaluation

if TYPE_CHECKING:
    from finsentry.metrics import Metrics
    from store.protocol import MonitorStore

TOP_K_SPAN = timedelta(days=1)  # "most active" keys for metric labels: last day
BOUNDED = ("ticker", "source", "entity")  # key types whose metric labels are the top-K only


class KeyGauges:
    """``refresh`` picks the labelled keys from the store; ``update`` sets the gauges of an evaluation step."""

    def __init__(self, metrics: Metrics, ticker_top_k: int, source_top_k: int, watchlist: Sequence[str]) -> None:
        self.metrics = metrics
        self.ticker_top_k = ticker_top_k
        self.source_top_k = source_top_k
        self.watchlist = set(watchlist)
        self.labels: dict[str, set[str]] = {kt: set() for kt in BOUNDED}

    def refresh(self, store: MonitorStore, closed_end: datetime) -> None:
        if not (self.ticker_top_k or self.source_top_k):
            return
        start = closed_end - TOP_K_SPAN
        self.labels["ticker"] = self.watchlist | {
            k for k, _ in store.top_keys("ticker", start, closed_end, self.ticker_top_k)}
        self.labels["source"] = {k for k, _ in store.top_keys("source", start, closed_end, self.source_top_k)}
        # Organisations found in the text are unbounded: only the K most active get series.
        self.labels["entity"] = {k for k, _ in store.top_keys("entity", start, closed_end, self.ticker_top_k)}

    def labelled(self, key: KeyId) -> bool:
        kt, k = key
        if kt in BOUNDED:
            return k in self.labels[kt] or (kt == "ticker" and k in self.watchlist)
        return True

    def update(self, evals: Iterable[Evaluation]) -> None:
        m = self.metrics
        last: dict[KeyId, Evaluation] = {}
        for ev in evals:
            last[ev.key] = ev
        for key, ev in last.items():
            if not self.labelled(key):
                continue
            kt, k = key
            m.negative_share.labels(kt, k).set(ev.share)
            m.baseline_negative_share.labels(kt, k).set(ev.baseline.share if ev.baseline else 0.0)
            m.spike_score.labels(kt, k).set(ev.z)
            m.window_items.labels(kt, k).set(ev.n)
            for sev in ("warning", "critical"):
                m.spike_active.labels(kt, k, sev).set(1.0 if ev.severity == sev else 0.0)
        self._drop_unlabelled()

    def _drop_unlabelled(self) -> None:
        """Keys that left the watchlist/top-K lose their series (bounded labels)."""
        m = self.metrics
        for gauge in (m.negative_share, m.baseline_negative_share, m.spike_score, m.window_items, m.spike_active):
            for labels in list(gauge._metrics):  # noqa: SLF001 - prometheus_client keeps children here
                if labels[0] in BOUNDED and not self.labelled((labels[0], labels[1])):
                    try:
                        gauge.remove(*labels)
                    except KeyError:
                        pass
