"""A crisis calendar (entities, aliases, dates from public history) and how a replay's alerts meet it.

The calendar for the bundled streams is ``data/eval/crises.yml``; ``finsentry monitor evaluate``
reports, per stream: for each company, the delay from its first (crisis) headline to the first
alert keyed on it; for each market event, the delay from the shock to the first market-wide alert
(the whole stream or a ``Markets`` topic); and alerts per calm week.

    >>> cal = Calendar.from_mapping({"s": {"calm": [{"start": "2023-02-15", "end": "2023-03-07"}],
    ...     "events": [{"entity": "SVB", "kind": "company", "aliases": ["SVB", "SIVB"],
    ...                 "first_headline": {"published_at": "2023-03-09T20:03:55Z"}}]}})
    >>> cal.streams["s"].events[0].first_headline.isoformat()
    '2023-03-09T20:03:55+00:00'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from finsentry.errors import DataError
from finsentry.records import AlertEvent
from finsentry.timeutil import as_utc

MARKET_KEYS = {("all", "*"), ("topic", "Markets")}  # what counts as a market-wide alert


def _time(value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return as_utc(value)
    text = str(value).strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise DataError(f"calendar: not a date/time: {value!r}") from exc
    return as_utc(parsed)


def _headline_time(event: Mapping[str, Any], *names: str) -> datetime | None:
    for name in names:
        entry = event.get(name)
        if isinstance(entry, Mapping) and entry.get("published_at"):
            return _time(entry["published_at"])
    return None


@dataclass(frozen=True, slots=True)
class CrisisEvent:
    entity: str
    kind: str  # company | market
    aliases: tuple[str, ...]
    shock: datetime | None
    first_headline: datetime | None  # the first headline of the crisis itself, where the calendar has one

    def keyed_on(self, alert: AlertEvent) -> bool:
        """An alert is about this company when its key or its entity's display name is one of the
        company's names or tickers."""
        if self.kind == "market":
            return (alert.key_type, alert.key) in MARKET_KEYS
        names = {alert.key.casefold(), alert.entity.casefold()} - {""}
        return any(a.casefold() in names for a in self.aliases)


@dataclass(frozen=True, slots=True)
class StreamCalendar:
    calm: tuple[tuple[datetime, datetime], ...]  # [start, end) in UTC, end exclusive (the day after)
    events: tuple[CrisisEvent, ...]

    def calm_days(self) -> float:
        return sum((end - start).total_seconds() for start, end in self.calm) / 86400.0

    def in_calm(self, ts: datetime) -> bool:
        return any(start <= ts < end for start, end in self.calm)


@dataclass(frozen=True, slots=True)
class Calendar:
    streams: Mapping[str, StreamCalendar]

    @classmethod
    def load(cls, path: str | Path) -> Calendar:
        import yaml

        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise DataError(f"cannot read the crisis calendar {path}: {exc}") from exc
        if not isinstance(data, Mapping):
            raise DataError(f"crisis calendar {path}: expected a mapping of streams")
        return cls.from_mapping(data)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Calendar:
        streams: dict[str, StreamCalendar] = {}
        for name, body in data.items():
            calm = []
            for span in body.get("calm", []):
                start, end = _time(span["start"]), _time(span["end"])
                if start is None or end is None:
                    raise DataError(f"calendar {name}: a calm span needs start and end")
                calm.append((start, end + timedelta(days=1)))
            events = tuple(
                CrisisEvent(
                    entity=str(e["entity"]), kind=str(e.get("kind", "company")),
                    aliases=tuple(str(a) for a in e.get("aliases", [])), shock=_time(e.get("shock")),
                    first_headline=_headline_time(e, "first_crisis_headline", "first_headline_en", "first_headline"),
                )
                for e in body.get("events", [])
            )
            streams[str(name)] = StreamCalendar(tuple(calm), events)
        return cls(streams)

    def for_stream(self, stream_name: str) -> StreamCalendar | None:
        """The calendar of a stream file (``svb_2023.jsonl.gz`` -> ``svb_2023``)."""
        stem = Path(stream_name).name.split(".")[0]
        return self.streams.get(stem)


def _hours(a: datetime, b: datetime) -> float:
    return round((b - a).total_seconds() / 3600.0, 1)


def score(cal: StreamCalendar, alerts: Sequence[AlertEvent]) -> dict[str, Any]:
    """Delays per calendar event and calm-period alert counts for one replay's firing alerts."""
    rows = []
    for ev in cal.events:
        since = ev.first_headline if ev.kind == "company" else ev.shock
        if since is None:
            continue
        mine = sorted((a for a in alerts if ev.keyed_on(a) and a.started_at >= since - timedelta(days=1)),
                      key=lambda a: a.started_at)
        first = mine[0] if mine else None
        rows.append({
            "entity": ev.entity, "kind": ev.kind, "since": since.isoformat(),
            "since_what": "first headline" if ev.kind == "company" else "shock",
            "first_alert": first.started_at.isoformat() if first else None,
            "first_alert_key": f"{first.key_type}:{first.key}" if first else None,
            "delay_h": _hours(since, first.started_at) if first else None,
        })
    calm_alerts = [a for a in alerts if cal.in_calm(a.started_at)]
    weeks = cal.calm_days() / 7.0
    return {
        "events": rows,
        "calm_alerts": len(calm_alerts),
        "calm_days": round(cal.calm_days(), 1),
        "alerts_per_calm_week": round(len(calm_alerts) / weeks, 2) if weeks else None,
    }


def render(result: Mapping[str, Any]) -> list[str]:
    """Markdown lines: one row per calendar event, then the calm-period line."""
    lines = ["", "| entity | kind | since (UTC) | first alert on it (UTC) | key | delay |", "|---|---|---|---|---|---|"]
    for r in result["events"]:
        first = (r["first_alert"] or "none")[:16].replace("T", " ")
        delay = f"{r['delay_h']:+.1f} h" if r["delay_h"] is not None else "-"
        since = f"{r['since_what']} {r['since'][:16].replace('T', ' ')}"
        lines.append(f"| {r['entity']} | {r['kind']} | {since} | {first} | {r['first_alert_key'] or '-'} | {delay} |")
    lines += ["", f"- calm periods: {result['calm_alerts']} alerts in {result['calm_days']} days "
                  f"({result['alerts_per_calm_week']} per calm week)"]
    return lines


__all__ = ["Calendar", "CrisisEvent", "StreamCalendar", "render", "score"]
