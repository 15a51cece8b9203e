"""Replay a bundled real-news stream through the classifier and the monitor; score the alerts.

    finsentry monitor evaluate --stream data/streams/svb_2023.jsonl.gz

In process, no Kafka: the stream (JSONL[.gz] in the input contract: id, text, published_at,
source, lang) is classified as the service would (language declared or detected, routed by
``FINSENTRY_LANGUAGE_MODELS`` through the same ``model.languages.ModelRouter``), written to a
throw-away store through the same ``Store.write_batch`` + ``MonitorService`` path as the service,
in arrival-order batches, and the alerts it fires are compared with the known shock: detection delay after the shock,
and alerts before it (the calm days). Items in a language no configured model covers are
stored unscored and kept out of the trends, as the service does.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from finsentry.errors import DataError
from finsentry.logs import get_logger
from finsentry.records import AlertEvent, ScoredItem
from finsentry.settings import Settings
from finsentry.timeutil import as_utc

log = get_logger(__name__)

# Known shocks of the bundled streams (start of the first day of market stress, UTC).
SHOCKS: dict[str, tuple[datetime, str]] = {
    "svb": (datetime(2023, 3, 9, tzinfo=UTC), "SVB: capital-raise and share collapse 9 Mar 2023, closure 10 Mar"),
    "covid": (datetime(2020, 2, 24, tzinfo=UTC), "COVID crash: markets fall from Mon 24 Feb 2020"),
}


class _Classifier(Protocol):
    def classify(self, texts: list[str]) -> list[Any]: ...


class _Router(Protocol):
    """``model.languages.ModelRouter``: language -> model."""

    @property
    def languages(self) -> list[str]: ...

    def classify(self, texts: Sequence[str], langs: Sequence[str | None]) -> list[tuple[Any, str | None]]: ...


@dataclass(frozen=True, slots=True)
class StreamRecord:
    id: str
    text: str
    published_at: datetime
    source: str | None
    lang: str | None


def read_stream(path: str | Path) -> list[StreamRecord]:
    """Records of a JSONL(.gz) stream, sorted by event time (then id)."""
    p = Path(path)
    opener = gzip.open if p.suffix == ".gz" else open
    out: list[StreamRecord] = []
    try:
        with opener(p, "rt", encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                obj = json.loads(line)
                ts = datetime.fromisoformat(str(obj["published_at"]).replace("Z", "+00:00"))
                out.append(
                    StreamRecord(str(obj["id"]), str(obj["text"]), as_utc(ts), obj.get("source"), obj.get("lang"))
                )
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"cannot read stream {p} (line {locals().get('n', 0)}): {exc}") from exc
    out.sort(key=lambda r: (r.published_at, r.id))
    return out


def shock_for(path: str | Path) -> tuple[datetime, str] | None:
    name = Path(path).name.lower()
    return next((v for k, v in SHOCKS.items() if k in name), None)


def score_records(
    records: Sequence[StreamRecord], router: _Router, batch: int = 256
) -> list[ScoredItem]:
    """Classify each record by its language's model (declared, else detected, as the service does);
    records in a language no model covers stay unscored."""
    from model.languages import LanguageDetector

    detector = LanguageDetector(preferred=router.languages)
    langs = [detector.language_of(r.text, r.lang) for r in records]
    preds: dict[int, tuple[Any, str | None]] = {}
    try:
        from tqdm import tqdm

        chunks: Any = tqdm(range(0, len(records), batch), desc="classify", unit="batch", leave=False)
    except ImportError:  # pragma: no cover - tqdm is a runtime dependency
        chunks = range(0, len(records), batch)
    for start in chunks:
        idx = list(range(start, min(start + batch, len(records))))
        for i, p in zip(idx, router.classify([records[i].text for i in idx], [langs[i] for i in idx]), strict=True):
            preds[i] = p
    items: list[ScoredItem] = []
    for i, r in enumerate(records):
        it = ScoredItem(id=r.id, text=r.text, published_at=r.published_at, ingested_at=r.published_at,
                        source=r.source, lang=langs[i])  # fmt: skip
        p, version = preds.get(i, (None, None))
        if p is not None:
            it.label = p.label
            it.p_negative = float(p.probs.get("negative", 0.0))
            it.p_neutral = float(p.probs.get("neutral", 0.0))
            it.p_positive = float(p.probs.get("positive", 0.0))
            it.score = float(p.score)
            it.topics = [(str(t), float(q)) for t, q in p.topics]
            it.model_version = version
        items.append(it)
    return items


@dataclass
class EvalReport:
    stream: str
    items: int
    scored: int
    negative: int
    duplicates: int
    first_at: datetime
    last_at: datetime
    shock_at: datetime | None
    shock_note: str
    alerts: list[AlertEvent] = field(default_factory=list)  # firing events, first per episode
    # Alerts from this long before the shock on count as early detection, not as calm-day noise
    # (SVB's trouble was public the evening before; COVID selling began on the Friday before).
    lead: timedelta = timedelta(days=1)
    model_version: str | None = None
    detector: dict[str, Any] = field(default_factory=dict)  # the parameters the replay ran with

    def _delay_h(self, events: Sequence[AlertEvent]) -> float | None:
        if self.shock_at is None:
            return None
        after = [e.started_at for e in events if e.started_at >= self.shock_at - self.lead]
        return round((min(after) - self.shock_at).total_seconds() / 3600, 1) if after else None

    def summary(self) -> dict[str, Any]:
        shock = self.shock_at
        before = [a for a in self.alerts if shock is not None and a.started_at < shock - self.lead]
        calm_days = sorted({a.started_at.date().isoformat() for a in before})
        all_key = [a for a in self.alerts if a.key_type == "all"]
        days = max(1, (self.last_at.date() - self.first_at.date()).days + 1)
        calm_span = max(1, ((shock - self.lead).date() - self.first_at.date()).days) if shock else days
        return {
            "stream": self.stream,
            "items": self.items,
            "scored": self.scored,
            "negative": self.negative,
            "syndicated_copies": self.duplicates,
            "first": self.first_at.isoformat(),
            "last": self.last_at.isoformat(),
            "shock": shock.isoformat() if shock else None,
            "alerts": len(self.alerts),
            "alerts_by_key_type": dict(Counter(a.key_type for a in self.alerts)),
            "delay_any_key_h": self._delay_h(self.alerts),
            "delay_all_stream_h": self._delay_h(all_key),
            "alerts_before_shock": len(before),
            "calm_days_with_alerts": len(calm_days),
            "calm_days": calm_span,
            "alerts_per_calm_day": round(len(before) / calm_span, 3),
            "model_version": self.model_version,
            "detector": self.detector,
        }

    def table(self) -> list[dict[str, Any]]:
        rows = []
        for a in sorted(self.alerts, key=lambda e: (e.started_at, e.alert_id)):
            top = a.evidence[0].text[:90] if a.evidence else ""
            rows.append({
                "onset": a.started_at.strftime("%Y-%m-%d %H:%M"),
                "key": f"{a.key_type}:{a.key}",
                "severity": a.severity,
                "share": round(a.figures.get("negative_share", 0.0), 2),
                "baseline": round(a.figures.get("baseline_negative_share", 0.0), 2),
                "n": int(a.figures.get("window_items", 0)),
                "z": round(a.figures.get("z", 0.0), 1),
                "phase": _phase(a.started_at, self.shock_at, self.lead),
                "entity": a.entity,
                "story": f"{a.story[:70]} ({a.story_size})" if a.story else "",
                "top_headline": top,
            })  # fmt: skip
        return rows


def _phase(ts: datetime, shock: datetime | None, lead: timedelta) -> str:
    if shock is None:
        return ""
    if ts < shock - lead:
        return "calm"
    return "shock" if ts < shock + timedelta(days=5) else "after"


def replay(
    path: str | Path,
    settings: Settings,
    classifier: _Classifier | None = None,
    store_url: str | None = None,
    batch: int = 256,
    shock: datetime | None = None,
    lead: timedelta = timedelta(days=1),
) -> EvalReport:
    """Classify and replay ``path`` through a fresh store + MonitorService; collect the alerts.
    ``classifier``: one model for every configured language (tests); default: the configured routing."""
    records = read_stream(path)
    if not records:
        raise DataError(f"stream {path} is empty")
    from model.languages import ModelRouter

    if classifier is None:
        from functools import partial

        from model import load_classifier

        loader: Any = partial(load_classifier, provider=settings.provider, topic_threshold=settings.topic_threshold)
        router = ModelRouter(settings.language_models, loader, settings.model_path)
    else:  # one given classifier (tests) serves every configured language
        fixed = classifier
        router = ModelRouter(settings.language_models, lambda _path: fixed)  # type: ignore[arg-type,return-value]
    scored = score_records(records, router)
    known = shock_for(path)
    if shock is None and known is not None:
        shock, note = known
    else:
        note = ""
    return replay_scored(scored, Path(path).name, settings, store_url, batch, shock, lead, note)


def replay_scored(
    scored: list[ScoredItem],
    name: str,
    settings: Settings,
    store_url: str | None = None,
    batch: int = 256,
    shock_at: datetime | None = None,
    lead: timedelta = timedelta(days=1),
    shock_note: str = "",
) -> EvalReport:
    """Replay already-classified items (event order) through a fresh store + MonitorService."""
    from prometheus_client import CollectorRegistry

    from finsentry.metrics import Metrics
    from monitor.alerting import Notifier, NotifierConfig
    from monitor.service import MonitorConfig, MonitorService
    from store import Store

    events: list[AlertEvent] = []
    with tempfile.TemporaryDirectory(prefix="finsentry-eval-") as tmp:
        store = Store(store_url or f"sqlite:///{Path(tmp) / 'eval.db'}")
        metrics = Metrics(CollectorRegistry())
        # Alerts go to the throw-away store only: never to the user's webhooks or Alertmanager.
        notifier = Notifier(NotifierConfig(), store, metrics)
        monitor = MonitorService(
            MonitorConfig.from_settings(settings), store, metrics, notifier, on_event=events.append
        )
        try:
            for chunk in _chunks(scored, batch):
                monitor.enrich(chunk)
                new = store.write_batch(chunk, monitor.in_transaction)
                if new:
                    monitor.after_write(new)
        finally:
            monitor.close()
            store.close()
    firsts: dict[str, AlertEvent] = {}
    for e in events:
        if e.status == "firing":
            firsts.setdefault(e.alert_id, e)
    return EvalReport(
        stream=name,
        items=len(scored),
        scored=sum(1 for it in scored if it.scored),
        negative=sum(1 for it in scored if it.label == "negative" and it.duplicate_of is None),
        duplicates=sum(1 for it in scored if it.duplicate_of is not None),
        first_at=scored[0].published_at,
        last_at=scored[-1].published_at,
        shock_at=shock_at,
        shock_note=shock_note,
        alerts=list(firsts.values()),
        lead=lead,
        model_version=next((it.model_version for it in scored if it.model_version), None),
        detector={k: v for k, v in settings.model_dump().items() if k.startswith("detector_")}
        | {"bucket_seconds": settings.bucket_seconds, "syndication_window_s": settings.syndication_window_s},
    )


def _chunks(items: list[ScoredItem], n: int) -> Iterator[list[ScoredItem]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def render_markdown(report: EvalReport) -> str:
    s = report.summary()
    by_type = ", ".join(f"{k} {v}" for k, v in sorted(s["alerts_by_key_type"].items()))
    lines = [
        f"### {s['stream']}",
        "",
        f"{s['items']} items ({s['scored']} scored, {s['negative']} negative unique, "
        f"{s['syndicated_copies']} syndicated copies), {s['first'][:10]} .. {s['last'][:10]}. "
        f"Shock: {s['shock'][:10] if s['shock'] else 'n/a'} {report.shock_note}",
        "",
        f"- alerts: {s['alerts']} ({by_type})",
        f"- detection delay after the shock: any key {s['delay_any_key_h']} h, "
        f"whole stream {s['delay_all_stream_h']} h",
        f"- before the shock: {s['alerts_before_shock']} alerts on {s['calm_days_with_alerts']} of "
        f"{s['calm_days']} calm days ({s['alerts_per_calm_day']} per calm day)",
        f"- model {s['model_version']}; detector z_on {s['detector'].get('detector_z_on')}, "
        f"min_items {s['detector'].get('detector_min_items')}, "
        f"window_max_s {s['detector'].get('detector_window_max_s')}; volume test "
        f"{','.join(s['detector'].get('detector_volume_key_types') or []) or 'off'} "
        f"z_on {s['detector'].get('detector_volume_z_on')}",
        "",
        "| onset (UTC) | key | entity | severity | neg. share | baseline | n | z | phase | story (headlines) "
        "| top headline |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report.table():
        headline = r["top_headline"].replace("|", "/")
        key = r["key"].replace("|", "\\|")
        lines.append(
            f"| {r['onset']} | {key} | {r['entity'] or '-'} | {r['severity']} | {r['share']} | {r['baseline']} "
            f"| {r['n']} | {r['z']} | {r['phase']} | {r['story'].replace('|', '/') or '-'} | {headline} |"
        )
    return "\n".join(lines)
