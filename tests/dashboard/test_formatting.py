"""Pure text helpers of the page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from dashboard.formatting import age_text, fmt_time, heartbeat_note, num, pct

NOW = datetime(2024, 1, 1, 12, tzinfo=UTC)


def test_heartbeat_note_flags_silent_consumers_only() -> None:
    assert heartbeat_note(NOW - timedelta(seconds=20), NOW) == ""
    assert "silent for 3 h" in heartbeat_note(pd.Timestamp(NOW - timedelta(hours=3, minutes=5)), NOW)
    assert heartbeat_note(None, NOW) == "" and heartbeat_note(pd.NaT, NOW) == ""


def test_texts() -> None:
    assert age_text(timedelta(seconds=42)) == "42 s" and age_text(timedelta(days=2, hours=5)) == "2 d"
    assert fmt_time(NOW) == "2024-01-01 12:00 UTC" and fmt_time(None) == "—" and fmt_time(pd.NaT) == "—"
    assert pct(0.4234) == "42.3%" and pct(float("nan")) == "—" and pct(None) == "—"
    assert num(3.14159, ".1f") == "3.1" and num(float("nan"), ".1f") == "—"
