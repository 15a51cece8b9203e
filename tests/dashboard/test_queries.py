"""The dashboard's read API (``store.reads``) against a seeded SQLite store: rollup arithmetic,
filters, indexes, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import create_engine, func, select, text

from dashboard.timerange import bin_seconds, window
from finsentry.errors import StoreUnavailable
from store import reads as q
from store.reads.rollups import type_range
from store.schema import buckets, items, metadata


@pytest.fixture(scope="module")
def engine(seeded_url: str):
    eng = create_engine(seeded_url)
    yield eng
    eng.dispose()


def test_span_and_totals_agree_with_the_items(engine) -> None:
    first, last = q.data_span(engine)
    tot = q.totals(engine, first, last + timedelta(minutes=1))
    with engine.connect() as conn:
        scored = conn.execute(select(func.count()).where(items.c.label.is_not(None))).scalar()
        copies = conn.execute(
            select(func.count()).where(items.c.label.is_not(None), items.c.duplicate_of.is_not(None))
        ).scalar()
        negative = conn.execute(
            select(func.count()).where(items.c.label == "negative", items.c.duplicate_of.is_(None))
        ).scalar()
    assert tot["n"] == scored - copies and tot["n_duplicates"] == copies and tot["n_negative"] == negative


@pytest.mark.parametrize("bin_s", [60, 900, 3600, 86400])
def test_binned_series_sum_to_the_totals(engine, bin_s: int) -> None:
    first, last = q.data_span(engine)
    start = last - timedelta(days=2)
    s = q.series(engine, "all", ["*"], start, last, bin_s)
    tot = q.totals(engine, start, last)
    assert s["n"].sum() == tot["n"] and s["n_duplicates"].sum() == tot["n_duplicates"]
    assert s["score_sum"].sum() == pytest.approx(tot["score_sum"])
    epoch = (s["t"] - pd.Timestamp(0, tz="UTC")).dt.total_seconds().astype(int)
    assert (epoch % bin_s == 0).all() and s["t"].is_monotonic_increasing
    assert s["index"].dropna().between(-1, 1).all() and s["neg_share"].dropna().between(0, 1).all()


def test_every_key_series_matches_the_listed_keys(engine) -> None:
    first, last = q.data_span(engine)
    every = q.series(engine, "topic", None, last - timedelta(hours=6), last, 900)
    two = q.series(engine, "topic", ["Financials", "Macro"], last - timedelta(hours=6), last, 900)
    pd.testing.assert_frame_equal(
        every[every["key"].isin(["Financials", "Macro"])].reset_index(drop=True), two.reset_index(drop=True)
    )
    assert q.series(engine, "topic", [], first, last, 900).empty


def test_keys_of_matches_a_plain_distinct(engine) -> None:
    with engine.connect() as conn:
        for kt in ("all", "topic", "ticker", "source"):
            plain = sorted(
                conn.execute(text("SELECT DISTINCT key FROM buckets WHERE key_type = :kt"), {"kt": kt}).scalars()
            )
            assert q.keys_of(conn, kt) == plain and plain
    assert q.keys_of(engine, "nothing") == []


def test_sources_include_unscored_outlets(engine) -> None:
    with engine.connect() as conn:
        plain = sorted(conn.execute(text("SELECT DISTINCT source FROM items WHERE source IS NOT NULL")).scalars())
    assert q.sources(engine) == plain and "Bankier.pl" in plain


def test_range_queries_seek_the_primary_key_per_key(engine) -> None:
    _, last = q.data_span(engine)
    with engine.connect() as conn:
        cond = type_range(conn, "topic", last - timedelta(hours=1), last)
        stmt = select(func.count()).select_from(buckets).where(cond)
        sql = str(stmt.compile(conn, compile_kwargs={"literal_binds": True}))
        plan = " ".join(str(r) for r in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))
    assert "key=? AND bucket_start>? AND bucket_start<?" in plan, plan


def test_top_keys_are_ranked_by_volume(engine) -> None:
    first, last = q.data_span(engine)
    top = q.top_keys(engine, "ticker", first, last, 10)
    assert len(top) == 10 and top["n"].is_monotonic_decreasing
    assert top.iloc[0]["key"] == "AAPL"  # Zipf head of the seeded ticker mix


def test_leaderboard_puts_a_burst_above_calm_keys(engine) -> None:
    _, last = q.data_span(engine)
    lb = q.leaderboard(engine, last, min_recent=5, min_baseline=10)
    assert lb["delta"].is_monotonic_decreasing
    frc = lb[lb["key"] == "FRC"].iloc[0]  # burst in the last 35 minutes
    assert frc["share_recent"] > 0.6 and frc["delta"] > 0.25


def test_headline_filters_and_limit(engine) -> None:
    first, last = q.data_span(engine)
    df = q.headlines(engine, first, last, limit=50)
    assert len(df) == 50 and df["published_at"].is_monotonic_decreasing
    assert df["published_at"].iloc[0] <= last
    neg = q.headlines(engine, first, last, labels=["negative", "unscored"], limit=500)
    assert set(neg["label"]) == {"negative", "unscored"}
    sivb = q.headlines(engine, first, last, ticker="SIVB", limit=500)
    assert len(sivb) > 0 and all("SIVB" in t.split(", ") for t in sivb["tickers"])
    hit = q.headlines(engine, first, last, search="Loan LOSSES", source="Bloomberg", topic="Financials")
    assert len(hit) > 0 and all("loan losses" in t.lower() for t in hit["text"])
    assert set(hit["source"]) == {"Bloomberg"} and set(hit["topic"]) == {"Financials"}
    # LIKE wildcards typed by a user are literal text
    assert q.headlines(engine, first, last, search="%").empty
    assert q.headlines(engine, first, last, search="_").empty
    window_only = q.headlines(engine, last - timedelta(minutes=5), last, limit=1000)
    assert (window_only["published_at"] >= last - timedelta(minutes=5)).all()


def test_unscored_items_are_counted_and_shown(engine) -> None:
    first, last = q.data_span(engine)
    n = q.unscored_count(engine, first, last)
    df = q.headlines(engine, first, last, labels=["unscored"], limit=n + 10)
    assert n > 0 and len(df) == n
    assert df["confidence"].isna().all() and df["score"].isna().all()


def test_headline_queries_use_indexes(engine) -> None:
    first, last = q.data_span(engine)
    with engine.connect() as conn:
        stmt = select(items.c.id).where(items.c.published_at >= first).order_by(items.c.published_at.desc()).limit(5)
        sql = str(stmt.compile(conn, compile_kwargs={"literal_binds": True}))
        plan = " ".join(str(r) for r in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))
    assert "ix_items_published_at" in plan and "SCAN items" not in plan.replace("USING INDEX", "")


def test_alerts_figures_evidence_and_delivery(engine) -> None:
    first, last = q.data_span(engine)
    active = q.active_alerts(engine)
    assert set(active["status"]) == {"firing"} and active["started_at"].is_monotonic_decreasing
    hist = q.alert_history(engine, first, last)
    assert len(hist) == 6 and hist["share"].notna().all() and (hist["share"] > hist["baseline"]).all()
    ev = q.evidence_frame(hist.iloc[0]["evidence"])
    assert list(ev.columns) == ["text", "source", "score", "id"] and len(ev) == 5
    summary = q.delivery_summary(q.delivery(engine, hist["id"].tolist()))
    assert summary.str.startswith("pending").sum() == 1
    recent = q.alert_history(engine, last - timedelta(hours=1), last)
    assert set(recent["status"]) == {"firing"}  # resolved episodes outside the window are left out


def test_figure_aliases() -> None:
    assert q.figure({"share": 0.5, "baseline": 0.1, "statistic": 4}, "share") == 0.5
    assert q.figure({"current_share": 0.7}, "share") == 0.7
    assert q.figure({"z": 3.2}, "statistic") == 3.2
    assert q.figure({"z": "n/a"}, "statistic") is None
    assert q.figure(None, "baseline") is None


def test_delivery_summary_texts() -> None:
    rows = pd.DataFrame(
        {
            "alert_id": ["a", "a", "b"],
            "delivered_at": [pd.Timestamp("2023-01-01", tz="UTC"), pd.NaT, pd.NaT],
            "last_error": [None, "HTTP 503", None],
        }
    )
    s = q.delivery_summary(rows)
    assert s["a"] == "pending: 1/2 delivered · last error: HTTP 503" and s["b"] == "pending: 0/1 delivered"
    assert q.delivery_summary(rows.iloc[:0]).empty
    final = rows.assign(failed_at=[pd.NaT, pd.Timestamp("2023-01-02", tz="UTC"), pd.NaT],
                        failed_reason=[None, "max_attempts", None])
    s = q.delivery_summary(final)
    assert s["a"] == "FAILED: 1/2 delivered · 1 given up (max_attempts)" and s["b"] == "pending: 0/1 delivered"


def test_empty_store(tmp_path) -> None:
    eng = create_engine(f"sqlite:///{tmp_path / 'e.db'}")
    metadata.create_all(eng)
    assert q.has_schema(eng) and q.data_span(eng) is None
    now = datetime(2024, 1, 1, tzinfo=UTC)
    assert q.series(eng, "all", ["*"], now - timedelta(hours=1), now, 60).empty
    assert q.headlines(eng, now - timedelta(hours=1), now).empty
    assert q.leaderboard(eng, now).empty and q.active_alerts(eng).empty and q.health(eng).empty
    assert q.totals(eng, now - timedelta(hours=1), now)["n"] == 0


def test_unreachable_store_is_translated(tmp_path) -> None:
    eng = create_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    with pytest.raises(StoreUnavailable):
        q.has_schema(eng)


@pytest.mark.parametrize(
    ("choice", "hours", "bin_s"),
    [("1 h", 1, 60), ("6 h", 6, 300), ("24 h", 24, 900), ("3 d", 72, 3600), ("7 d", 168, 7200)],
)
def test_time_windows(choice: str, hours: int, bin_s: int) -> None:
    last = datetime(2023, 3, 13, 16, tzinfo=UTC)
    w = window(choice, last - timedelta(days=30), last)
    assert w.end == last and w.span == timedelta(hours=hours) and w.bin_s == bin_s
    assert 60 <= w.span / timedelta(seconds=w.bin_s) <= 100  # a readable number of steps per chart


def test_bins_are_multiples_of_a_wider_rollup() -> None:
    last = datetime(2023, 3, 13, 16, tzinfo=UTC)
    w = window("1 h", last - timedelta(days=1), last, bucket_s=300)
    assert w.bin_s == 300
    assert bin_seconds(timedelta(days=7), bucket_s=900) % 900 == 0


def test_all_range_starts_at_the_first_data() -> None:
    last = datetime(2023, 3, 13, 16, tzinfo=UTC)
    w = window("All", last - timedelta(days=45), last)
    assert w.start == last - timedelta(days=45) and w.bin_s == bin_seconds(timedelta(days=45), max_bins=100)
    assert w.span / timedelta(seconds=w.bin_s) <= 100
