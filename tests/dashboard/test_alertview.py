"""The alert-first view, new-alert notices, language filter and warm-up note."""

from __future__ import annotations

import io
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine, insert
from streamlit.testing.v1 import AppTest

from dashboard import charts
from dashboard.alertview import display_name, labelled, story_text
from dashboard.notify import chime, new_alert_ids
from dashboard.warmup import warmup_text
from store import reads as q
from store.reads.warmup import WarmupNeeds, warmup_state
from store.schema import alerts
from tests.dashboard.conftest import APP
from tests.dashboard.figs import values
from tests.support.seed import seed_store


def _app(monkeypatch: pytest.MonkeyPatch, url: str) -> AppTest:
    monkeypatch.setenv("FINSENTRY_STORE_URL", url)
    monkeypatch.setenv("FINSENTRY_DASHBOARD_REFRESH_S", "0")
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _alert(i: str, key_type: str, key: str, t: datetime, figures: dict, status: str = "firing",
           **described: object) -> dict:
    return {**described, "id": i, "key_type": key_type, "key": key, "severity": "warning", "status": status,
            "started_at": t,
            "resolved_at": None if status == "firing" else t + timedelta(minutes=20), "fingerprint": i,
            "figures": {"negative_share": 0.6, "baseline_negative_share": 0.1, "z": 4.0, "window_items": 30.0,
                        **figures},
            "evidence": [{"id": "x1", "text": "Regulators close Silicon Valley Bank", "source": "Reuters",
                          "score": -0.9}],
            "created_at": t, "updated_at": t}


@pytest.fixture()
def small_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'small.db'}"
    eng = create_engine(url)
    seed_store(eng, n_items=3000, span=timedelta(days=1))
    eng.dispose()
    return url


def test_story_and_entity_name_are_shown_when_the_alert_carries_them(monkeypatch, small_url: str) -> None:
    t = datetime(2023, 3, 13, 15, 55, tzinfo=UTC)
    eng = create_engine(small_url)
    with eng.begin() as conn:
        conn.execute(insert(alerts), [_alert("entity:svb", "entity", "svb", t, {}, entity="Silicon Valley Bank",
                                             story="Regulators close SVB", story_size=14)])
    eng.dispose()
    at = _app(monkeypatch, small_url)
    text = " ".join([e.value for e in at.warning] + [m.value for m in at.markdown])
    assert "entity: svb (Silicon Valley Bank)" in text
    assert "**Story:** Regulators close SVB · 14 headlines" in text
    assert "Regulators close Silicon Valley Bank" in text  # evidence headline on the first screen


def test_an_alert_resolved_between_refreshes_is_still_announced(monkeypatch, small_url: str) -> None:
    at = _app(monkeypatch, small_url)
    t = datetime(2023, 3, 13, 15, 40, tzinfo=UTC)
    eng = create_engine(small_url)
    with eng.begin() as conn:  # fired and already resolved before the next refresh
        conn.execute(insert(alerts), [_alert("ticker:QQQ:1", "ticker", "QQQ", t, {}, status="resolved")])
    eng.dispose()
    at.toggle(key="alert_sound").set_value(True)
    at.button(key="refresh_now").click().run()
    assert not at.exception
    assert [x.value for x in at.toast] == ["New alert: ticker: QQQ"]  # only the new one (the others were seen)
    assert len(at.get("audio")) == 1  # the chime, since the option is on
    assert any("ticker: QQQ" in i.value for i in at.info)  # its card: resolved alerts are blue
    at.button(key="refresh_now").click().run()
    assert len(at.get("audio")) == 0  # announced once


def test_language_filter(monkeypatch, seeded_url: str) -> None:
    at = _app(monkeypatch, seeded_url)
    opts = at.multiselect(key="hl_langs").options
    assert {"en", "pl"} <= set(opts)
    at.multiselect(key="hl_langs").set_value(["pl"]).run()
    df = next(d.value for d in at.dataframe if "confidence" in d.value.columns)
    assert len(df) > 0 and set(df["lang"]) == {"pl"} and set(df["label"]) == {"unscored (pl)"}
    spec = next(c.proto.spec for c in at.get("plotly_chart") if "(unscored)" in c.proto.spec)
    assert '"pl (unscored)"' in spec and '"en"' in spec  # the language chart marks unscored languages
    assert any("pl " in c.value and "unscored)" in c.value for c in at.caption)
    # a week of items is not scanned on every refresh: the chart reads the range's last 24 h and says so
    at.segmented_control(key="range").set_value("7 d").run()
    assert any(c.value.startswith("Items by language over the last 24 h of the range") for c in at.caption)
    assert set(next(d.value for d in at.dataframe if "confidence" in d.value.columns)["lang"]) == {"pl"}


def test_pure_helpers() -> None:
    assert display_name("ticker", "SIVB", "SVB Financial") == "ticker: SIVB (SVB Financial)"
    assert display_name("entity", "svb", "SVB") == "entity: svb" and display_name("all", "*", None) == "All news"
    assert story_text("Bank run", 3) == "Bank run · 3 headlines" and story_text("Bank run", float("nan")) == "Bank run"
    assert story_text("", 4) is None and story_text(None, None) is None
    t = pd.Timestamp("2023-03-10", tz="UTC")
    df = pd.DataFrame({"id": ["a", "b", "c"], "started_at": [t, t - pd.Timedelta("1h"), t + pd.Timedelta("1h")]})
    assert new_alert_ids(df, {"a"}) == ["b", "c"] and new_alert_ids(df.iloc[:0], set()) == []
    with wave.open(io.BytesIO(chime())) as w:
        assert w.getnframes() > 0.3 * w.getframerate()
    assert labelled(pd.DataFrame(columns=q.ALERT_COLUMNS)).empty


def test_gaps_stay_gaps_on_the_step_grid() -> None:
    start = pd.Timestamp("2023-03-13 10:00", tz="UTC")
    s = pd.DataFrame({"name": "All news", "t": [start, start + pd.Timedelta("30min")], "index": [0.5, -0.5],
                      "n": [4.0, 2.0]})
    grid = charts.on_grid(s, start.to_pydatetime(), (start + pd.Timedelta("1h")).to_pydatetime(), 900)
    assert list(grid["index"].isna()) == [False, True, False, True]  # 4 steps, 2 of them empty
    fig = charts.index_chart(s, pd.DataFrame(), start, start + pd.Timedelta("1h"), 900)
    tr = fig.data[0]
    assert tr.connectgaps is False and "markers" in tr.mode  # a lone step is a dot, a gap is a break
    assert values(list(tr.y))[1] is None


def test_warm_up_is_shown_on_a_young_store(monkeypatch, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'young.db'}"
    eng = create_engine(url)
    seed_store(eng, n_items=600, span=timedelta(hours=3))
    state = warmup_state(eng, WarmupNeeds())
    eng.dispose()
    assert state.phase == "warming up"
    text = warmup_text(state)
    assert text is not None and "shipped prior" in text and "3.0 h of stream" in text
    at = _app(monkeypatch, url)
    assert any("warming up" in i.value and text in i.value for i in at.info)


def test_no_warm_up_note_once_ready(monkeypatch, seeded_url: str) -> None:
    eng = create_engine(seeded_url)
    assert warmup_state(eng, WarmupNeeds()).phase == "ready"
    eng.dispose()
    at = _app(monkeypatch, seeded_url)
    assert not any("warming up" in i.value for i in at.info)


def test_an_alert_already_out_of_a_short_range_is_still_announced(monkeypatch, small_url: str) -> None:
    """A fast replay moves "now" by hours between two refreshes: an alert that came and went in
    between is no longer in a 1 h range, and is announced all the same."""
    at = _app(monkeypatch, small_url)
    at.segmented_control(key="range").set_value("1 h").run()
    t = datetime(2023, 3, 13, 11, 0, tzinfo=UTC)  # 5 h before "now"
    eng = create_engine(small_url)
    with eng.begin() as conn:
        conn.execute(insert(alerts), [_alert("ticker:ZZZ:1", "ticker", "ZZZ", t, {}, status="resolved")])
    eng.dispose()
    at.button(key="refresh_now").click().run()
    assert [x.value for x in at.toast] == ["New alert: ticker: ZZZ"]
    assert "ticker: ZZZ" not in at.get("plotly_chart")[0].proto.spec  # not on the 1 h timeline


def test_given_up_notifications_are_shown_in_red_with_their_reason(monkeypatch, small_url: str) -> None:
    """A notification in its final `failed` state is named on the alert and listed under health
    (target credentials masked)."""
    from store.schema import alert_outbox

    t = datetime(2023, 3, 13, 15, 30, tzinfo=UTC)
    eng = create_engine(small_url)
    with eng.begin() as conn:
        conn.execute(insert(alerts), [_alert("ticker:SIVB:x", "ticker", "SIVB", t, {})])
        conn.execute(insert(alert_outbox), [{
            "alert_id": "ticker:SIVB:x", "status": "firing", "target": "https://hooks.example/T0K3N?key=s3cret",
            "channel": "webhook", "payload": {}, "attempts": 300, "next_attempt_at": t, "created_at": t,
            "last_error": "HTTP 503 from https://hooks.example/T0K3N?key=s3cret", "failed_at": t,
            "failed_reason": "max_attempts"}])
    eng.dispose()
    at = _app(monkeypatch, small_url)
    assert any("were given up" in e.value for e in at.error)
    table = next(d.value for d in at.dataframe
                 if "failed_reason" in d.value.columns and "delivered_at" not in d.value.columns)
    assert list(table["failed_reason"]) == ["max_attempts"]
    assert "s3cret" not in table.to_string()
    history = next(d.value for d in at.dataframe if "delivery" in d.value.columns)
    assert "FAILED: 0/1 delivered · 1 given up (max_attempts)" in set(history["delivery"])
