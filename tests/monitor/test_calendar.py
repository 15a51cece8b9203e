"""The crisis calendar: loading the bundled one, matching alerts to entities, calm-week counts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from finsentry.errors import DataError
from finsentry.records import AlertEvent
from monitor.calendar import Calendar, render, score

ROOT = Path(__file__).resolve().parents[2]


def alert(key_type: str, key: str, at: datetime) -> AlertEvent:
    return AlertEvent(
        alert_id=f"{key_type}:{key}:{at.isoformat()}",
        status="firing",
        key_type=key_type,  # type: ignore[arg-type]
        key=key,
        severity="warning",
        started_at=at,
        resolved_at=None,
        figures={},
    )


def test_the_bundled_calendar_covers_both_streams() -> None:
    cal = Calendar.load(ROOT / "data" / "eval" / "crises.yml")
    svb, covid = cal.for_stream("data/streams/svb_2023.jsonl.gz"), cal.for_stream("covid_2020.jsonl.gz")
    assert svb is not None and covid is not None
    assert {e.entity for e in svb.events} >= {"Silicon Valley Bank", "Signature Bank", "Credit Suisse"}
    assert svb.calm_days() == 21.0 and any(e.kind == "market" for e in covid.events)


def test_delays_are_per_entity_and_calm_alerts_per_week() -> None:
    cal = Calendar.from_mapping(
        {
            "s": {
                "calm": [{"start": "2023-02-15", "end": "2023-02-28"}],
                "events": [
                    {
                        "entity": "Silicon Valley Bank",
                        "kind": "company",
                        "aliases": ["SVB", "SIVB"],
                        "first_headline": {"published_at": "2023-03-09T20:00:00Z"},
                    },
                    {"entity": "US stocks", "kind": "market", "shock": "2023-03-09T14:30Z"},
                    {
                        "entity": "Nobody",
                        "kind": "company",
                        "aliases": ["NOPE"],
                        "first_headline": {"published_at": "2023-03-01T00:00:00Z"},
                    },
                ],
            }
        }
    ).for_stream("s.jsonl")
    assert cal is not None
    alerts = [
        alert("ticker", "AAPL", datetime(2023, 2, 20, tzinfo=UTC)),  # calm period
        alert("ticker", "SIVB", datetime(2023, 3, 10, 6, tzinfo=UTC)),
        alert("topic", "Markets", datetime(2023, 3, 10, 14, 30, tzinfo=UTC)),
    ]
    result = score(cal, alerts)
    rows = {r["entity"]: r for r in result["events"]}
    assert (
        rows["Silicon Valley Bank"]["delay_h"] == 10.0
        and rows["Silicon Valley Bank"]["first_alert_key"] == "ticker:SIVB"
    )
    assert rows["US stocks"]["delay_h"] == 24.0
    assert rows["Nobody"]["first_alert"] is None
    assert result["calm_alerts"] == 1 and result["calm_days"] == 14.0 and result["alerts_per_calm_week"] == 0.5
    assert any("+10.0 h" in line for line in render(result))


def test_a_malformed_calendar_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "c.yml"
    bad.write_text("s:\n  calm: [{start: 'yesterday', end: '2023-01-01'}]\n")
    with pytest.raises(DataError, match="not a date"):
        Calendar.load(bad)
