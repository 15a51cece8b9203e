"""AppTest of every dashboard section, against a seeded store and against empty ones."""

from __future__ import annotations

from datetime import UTC, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine
from streamlit.testing.v1 import AppTest

from store import reads as q
from tests.dashboard.conftest import APP
from tests.dashboard.figs import drawn_points

SECTIONS = ["Alerts now", "Overview", "Sentiment index over time", "Negative share by topic",
            "Sharpest negative moves", "Headlines", "Alert history", "Model & pipeline health"]
RANGE_CHOICES = ["1 h", "6 h", "24 h", "3 d", "7 d", "All"]


def _app(monkeypatch: pytest.MonkeyPatch, url: str, refresh: int = 0) -> AppTest:
    monkeypatch.setenv("FINSENTRY_STORE_URL", url)
    monkeypatch.setenv("FINSENTRY_DASHBOARD_REFRESH_S", str(refresh))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


# Plain (non-selectable) dataframes carry no key in AppTest: find each table by a column of its own.
MARKERS = {"leaderboard": "share_recent", "headlines": "confidence", "alert_table": "delivery",
           "evidence": "score", "health": "instance"}


def _table(at: AppTest, name: str):
    col = MARKERS[name]
    for d in at.dataframe:
        df = d.value
        if col in df.columns and (name != "evidence" or list(df.columns) == ["text", "source", "score", "id"]):
            return df
    raise AssertionError(f"no {name} table on the page")


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.fixture()
def seeded_app(monkeypatch: pytest.MonkeyPatch, seeded_url: str) -> AppTest:
    return _app(monkeypatch, seeded_url, refresh=10)


def test_every_section_renders_on_a_seeded_store(seeded_app: AppTest) -> None:
    at = seeded_app
    assert [s.value for s in at.subheader] == SECTIONS
    # alert timeline + a chart per alert card (2 firing), index, volume by label, by language, topic heatmap
    assert len(at.get("plotly_chart")) == 7
    for name in MARKERS:
        assert len(_table(at, name)) > 0, name
    assert "No news in the store yet" not in " ".join(i.value for i in at.info)
    assert at.selectbox(key="refresh").value == 10  # the configured auto-refresh interval


def test_overview_cards_cover_the_selected_range(seeded_app: AppTest, seeded_url: str) -> None:
    engine = create_engine(seeded_url)
    _, end = q.data_span(engine)
    at = seeded_app
    for choice, span in (("24 h", timedelta(hours=24)), ("1 h", timedelta(hours=1))):
        at.segmented_control(key="range").set_value(choice).run()
        now = q.totals(engine, end - span, end)
        base = q.totals(engine, end - 2 * span, end - span)
        per_min = (now["n"] + now["n_duplicates"]) / (span / timedelta(minutes=1))
        assert _metric(at, f"Items / min · {choice}") == f"{per_min:,.1f}"
        assert _metric(at, f"Negative share · {choice}") == f"{now['neg_share']:.1%}"
        neg = next(m for m in at.metric if m.label == f"Negative share · {choice}")
        assert neg.delta == f"{(now['neg_share'] - base['neg_share']) * 100:+.1f} pp"
        hist = q.alert_history(engine, end - span, end)
        assert _metric(at, f"Alerts · {choice}") == str(len(hist))
    health = q.health(engine)
    assert _metric(at, "Dead-lettered") == f"{int(health['dead_lettered'].sum()):,}"
    # card texts stay short enough for a card (no "…" cut): value and delta under 24 characters
    for m in at.metric:
        assert len(m.value) < 24 and len(m.delta or "") < 24, (m.label, m.value, m.delta)
    engine.dispose()


def test_alerts_come_first_with_chart_and_evidence(seeded_app: AppTest, seeded_url: str) -> None:
    at = seeded_app
    assert at.subheader[0].value == "Alerts now"
    # firing alerts as cards, critical first: banner, the key's own chart, its evidence headlines
    assert "FRC" in at.error[0].value and "CRITICAL" in at.error[0].value
    assert any("All news" in w.value for w in at.warning)
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    assert '"ticker: FRC"' in specs[1] and '"rect"' in specs[1]  # card chart of FRC with its episode shaded
    engine = create_engine(seeded_url)
    frc = q.active_alerts(engine).query("key == 'FRC'").iloc[0]
    md = " ".join(m.value for m in at.markdown)
    assert "Evidence headlines" in md and frc["evidence"][0]["text"][:60] in md
    # the timeline lists every alerting key of the range
    at.segmented_control(key="range").set_value("All").run()
    timeline = at.get("plotly_chart")[0].proto.spec
    for a in q.alert_history(engine, *q.data_span(engine)).itertuples():
        name = "All news" if a.key_type == "all" else f"{a.key_type}: {a.key}"
        assert name in timeline, name
    engine.dispose()


@pytest.mark.parametrize("choice", RANGE_CHOICES)
def test_every_range_draws_its_data(monkeypatch: pytest.MonkeyPatch, seeded_url: str, choice: str) -> None:
    at = _app(monkeypatch, seeded_url)
    at.segmented_control(key="range").set_value(choice).run()
    assert not at.exception
    drawn, steps = drawn_points(_index_spec(at), "All news")
    assert steps >= 50 and drawn >= 0.5 * steps, (choice, drawn, steps)  # a line over the range, not a dot
    assert any(c.value.startswith("**") and "steps** · range" in c.value for c in at.caption)


def _index_spec(at: AppTest) -> str:
    """The main sentiment-index chart (the alert cards have their own)."""
    return next(c.proto.spec for c in at.get("plotly_chart") if c.key == "index_chart")


def test_index_chart_shades_episodes_and_marks_alerts(seeded_app: AppTest) -> None:
    fig = _index_spec(seeded_app)
    assert '"All news"' in fig and '"ticker: FRC"' in fig  # firing ticker compared by default
    assert '"triangle-down"' in fig and '"rect"' in fig  # alert marker + shaded episode


def test_compare_topics_and_tickers(seeded_app: AppTest) -> None:
    at = seeded_app
    at.multiselect(key="topics").set_value(["Financials"]).run()
    at.multiselect(key="tickers").set_value(["SIVB", "AAPL"]).run()
    assert not at.exception
    spec = _index_spec(at)
    for name in ("topic: Financials", "ticker: SIVB", "ticker: AAPL"):
        assert f'"{name}"' in spec


def test_selections_survive_a_range_change(seeded_app: AppTest) -> None:
    at = seeded_app
    at.multiselect(key="topics").set_value(["Dividend", "IPO"]).run()
    at.segmented_control(key="range").set_value("1 h").run()
    assert not at.exception
    assert at.multiselect(key="topics").value == ["Dividend", "IPO"]


def test_time_range_selector_changes_the_window(seeded_app: AppTest) -> None:
    at = seeded_app
    at.segmented_control(key="range").set_value("1 h").run()
    assert not at.exception
    assert "range 2023-03-13 15:00 UTC → 2023-03-13 16:00 UTC" in at.caption[0].value
    assert any(c.value.startswith("**1 min steps**") for c in at.caption)
    at.segmented_control(key="range").set_value("All").run()
    assert "range 2023-03-06 16:00 UTC" in at.caption[0].value


def test_leaderboard_ranks_the_ticker_in_a_negative_burst_first(seeded_app: AppTest) -> None:
    lb = _table(seeded_app, "leaderboard")
    assert lb.iloc[0]["key"] in {"FRC", "TSLA", "WFC"} or lb["delta"].iloc[0] == lb["delta"].max()
    assert lb["delta"].is_monotonic_decreasing
    assert "FRC" in set(lb["key"])


def _headlines(at: AppTest):
    return _table(at, "headlines")


def test_headlines_newest_first_with_confidence(seeded_app: AppTest) -> None:
    df = _headlines(seeded_app)
    assert 0 < len(df) <= 200
    assert df["published_at"].is_monotonic_decreasing
    scored = df[~df["label"].str.startswith("unscored")]
    assert ((scored["confidence"] >= 1 / 3) & (scored["confidence"] <= 1)).all()


def test_headline_filters(seeded_app: AppTest) -> None:
    at = seeded_app
    at.multiselect(key="hl_labels").set_value(["unscored"]).run()
    df = _headlines(at)
    assert len(df) > 0 and set(df["label"]) == {"unscored (pl)"} and set(df["lang"]) == {"pl"}
    at.multiselect(key="hl_labels").set_value(["negative"]).run()
    at.selectbox(key="hl_ticker").set_value("FRC").run()
    df = _headlines(at)
    assert len(df) > 0 and set(df["label"]) == {"negative"}
    assert all("FRC" in t for t in df["tickers"])
    at.selectbox(key="hl_ticker").set_value("(any)").run()
    at.selectbox(key="hl_topic").set_value("Financials").run()
    at.selectbox(key="hl_source").set_value("Reuters").run()
    df = _headlines(at)
    assert len(df) > 0
    assert set(df["topic"]) == {"Financials"} and set(df["source"]) == {"Reuters"}
    at.selectbox(key="hl_topic").set_value("(any)").run()
    at.text_input(key="hl_search").input("DEPOSIT").run()  # case-insensitive
    df = _headlines(at)
    assert len(df) > 0 and set(df["source"]) == {"Reuters"} and set(df["label"]) == {"negative"}
    assert all("deposit" in t.lower() for t in df["text"])
    at.text_input(key="hl_search").input("no such words anywhere").run()
    assert any("No headlines match" in i.value for i in at.info)
    assert not at.exception


def test_headline_time_window(seeded_app: AppTest) -> None:
    at = seeded_app
    at.selectbox(key="hl_window").set_value("last 15 min").run()
    df = _headlines(at)
    assert len(df) > 0
    assert (df["published_at"] >= pd.Timestamp("2023-03-13 15:45", tz="UTC")).all()
    assert any("2023-03-13 15:45 UTC → 2023-03-13 16:00 UTC" in c.value for c in at.caption)


def test_alert_history_shows_times_and_delivery(seeded_app: AppTest) -> None:
    table = _table(seeded_app, "alert_table")
    assert len(table) == 2  # the two episodes overlapping the default 24 h range
    assert set(table["status"]) == {"firing"}
    assert any(d.startswith("pending") and "connection refused" in d for d in table["delivery"])
    at = seeded_app
    at.segmented_control(key="range").set_value("All").run()
    table = _table(at, "alert_table")
    assert len(table) == 6
    resolved = table[table["status"] == "resolved"]
    assert resolved["resolved_at"].notna().all() and (resolved["resolved_at"] > resolved["started_at"]).all()
    assert set(resolved["delivery"]) == {"delivered 4/4"}  # firing + resolved, two targets each


def test_alert_drill_down_shows_evidence(seeded_app: AppTest, seeded_url: str) -> None:
    at = seeded_app
    at.segmented_control(key="range").set_value("All").run()
    hist = q.alert_history(create_engine(seeded_url), *q.data_span(create_engine(seeded_url)))
    sivb = hist[hist["key"] == "SIVB"].iloc[0]
    at.selectbox(key="alert_pick").set_value(sivb["id"]).run()
    assert not at.exception
    ev = _table(at, "evidence")
    assert list(ev["text"]) == [e["text"] for e in sivb["evidence"]]
    assert (ev["score"] < 0).all()
    assert _metric(at, "Negative share") != ""  # overview metric is still there
    shares = [m.value for m in at.metric if m.label == "Negative share"]
    assert f"{sivb['share']:.1%}" in shares


def test_pipeline_health_table(seeded_app: AppTest) -> None:
    df = _table(seeded_app, "health")
    assert len(df) == 2 and {"lag", "items_per_s", "model_version", "provider"} <= set(df.columns)


def test_alert_cards_put_critical_and_whole_stream_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from datetime import datetime

    from sqlalchemy import insert

    from store.schema import alerts
    from tests.support.seed import seed_store

    url = f"sqlite:///{tmp_path / 'many.db'}"
    engine = create_engine(url)
    seed_store(engine, n_items=3000, span=timedelta(days=1))
    t = datetime(2023, 3, 13, 15, 50, tzinfo=UTC)
    with engine.begin() as conn:  # five more recent warnings on tickers
        conn.execute(insert(alerts), [
            {"id": f"ticker:T{i}:x", "key_type": "ticker", "key": f"T{i}", "severity": "warning",
             "status": "firing", "started_at": t, "resolved_at": None, "fingerprint": f"f{i}",
             "figures": {"negative_share": 0.5, "baseline_negative_share": 0.2, "z": 3.0, "window_items": 20.0},
             "evidence": [], "created_at": t, "updated_at": t}
            for i in range(5)
        ])
    engine.dispose()
    at = _app(monkeypatch, url)
    assert len(at.error) == 1 and "FRC" in at.error[0].value  # the critical one, although older
    assert "All news" in at.warning[0].value  # whole stream before single tickers
    assert len(at.error) + len(at.warning) == 3  # three cards
    assert any("more alert(s) in the range: see **Alert history**" in c.value for c in at.caption)
    timeline = at.get("plotly_chart")[0].proto.spec
    assert all(f"ticker: T{i}" in timeline for i in range(5))  # every alerting key on the timeline


# --- empty and broken stores ---------------------------------------------------------------


def test_empty_store_shows_a_helpful_screen(monkeypatch: pytest.MonkeyPatch, empty_url: str) -> None:
    at = _app(monkeypatch, empty_url)
    assert any("No news in the store yet" in i.value for i in at.info)
    assert "make run" in " ".join(m.value for m in at.markdown)
    assert len(at.get("plotly_chart")) == 0


def test_missing_store_file_is_not_created(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "nowhere.db"
    at = _app(monkeypatch, f"sqlite:///{path}")
    assert any("does not exist yet" in i.value for i in at.info)
    assert not path.exists()


def test_store_without_schema(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "bare.db"
    create_engine(f"sqlite:///{path}").connect().close()
    at = _app(monkeypatch, f"sqlite:///{path}")
    assert any("no finsentry tables" in i.value for i in at.info)


def test_unreachable_store_is_an_error_box_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(monkeypatch, "postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    assert any("cannot be read" in e.value for e in at.error)


def test_sources_of_unscored_items_are_filterable(seeded_app: AppTest) -> None:
    at = seeded_app
    assert "Bankier.pl" in at.selectbox(key="hl_source").options  # no rollups: learnt from the items
    at.selectbox(key="hl_source").set_value("Bankier.pl").run()
    df = _headlines(at)
    assert len(df) > 0 and set(df["label"]) == {"unscored (pl)"} and set(df["source"]) == {"Bankier.pl"}

