"""Retention on SQLite and PostgreSQL: minute buckets roll up exactly into hourly/daily rows before
they age out, items age in event time (a replayed stream is not deleted on arrival), dead letters and
finished outbox rows by the wall clock, in small transactions; the settings refuse a minute retention
shorter than the detector's horizon."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from finsentry.errors import ConfigError
from finsentry.metrics import Metrics
from finsentry.records import AlertEvent, Counts
from finsentry.settings import Settings
from store import DeadLetter, Store
from store.reads.rollups import data_span, series, series_all_resolutions
from store.retention import RetentionJob, RetentionPolicy
from store.schema import alert_outbox, buckets, buckets_daily, buckets_hourly, dead_letters, item_tickers, items
from tests.store.test_store import item

# A replayed historical stream: event time in 2023, wall clock years later.
WM = datetime(2023, 3, 20, 12, 0, tzinfo=UTC)
WALL = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
KEYS = [("all", "*"), ("ticker", "SIVB"), ("topic", "Banking")]


def _policy(**kw: object) -> RetentionPolicy:
    base: dict[str, object] = {"items": timedelta(days=3), "dead_letters": timedelta(days=14),
                               "outbox": timedelta(days=30), "minute_buckets": timedelta(days=2),
                               "hourly_buckets": timedelta(days=5), "batch_rows": 50}
    base.update(kw)
    return RetentionPolicy(**base)  # type: ignore[arg-type]


def _fill_buckets(store: Store, days: int = 9, step_min: int = 6) -> pd.DataFrame:
    """Minute buckets every ``step_min`` minutes for ``days`` up to the watermark; returns them."""
    rows = {}
    t = WM - timedelta(days=days)
    i = 0
    while t <= WM:
        for j, (kt, k) in enumerate(KEYS):
            rows[(kt, k, t)] = Counts(i % 3 + j, (i + j) % 4, i % 2, i % 5 == 0, -0.25 * (i % 3) + 0.1 * j)
        t += timedelta(minutes=step_min)
        i += 1
    with store.transaction() as txn:
        txn.add_buckets(rows)
    return pd.DataFrame([{"key_type": kt, "key": k, "t": s, "n_negative": c.n_negative, "n_neutral": c.n_neutral,
                          "n_positive": c.n_positive, "n_duplicates": c.n_duplicates, "score_sum": c.score_sum}
                         for (kt, k, s), c in rows.items()])


def _per_day(df: pd.DataFrame, key_type: str) -> pd.DataFrame:
    sub = df[df["key_type"] == key_type].copy()
    sub["t"] = pd.to_datetime(sub["t"], utc=True).dt.floor("D")
    cols = ["n_negative", "n_neutral", "n_positive", "n_duplicates", "score_sum"]
    out = sub.groupby(["key", "t"], as_index=False)[cols].sum().astype({c: float for c in cols})
    return out.sort_values(["key", "t"]).reset_index(drop=True)


def _count(store: Store, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one())


def test_minute_buckets_roll_up_exactly_and_late_rows_join_them(store_url: str) -> None:
    store = Store(store_url)
    truth = _fill_buckets(store)
    metrics = Metrics(CollectorRegistry())
    job = RetentionJob(store.engine, _policy(), metrics, clock=lambda: WALL)
    report = job.run_once()
    assert report.reference == WM  # the stream's watermark, not the wall clock
    minute_cut = WM - timedelta(days=2)  # 12:00 is already an hour boundary
    hourly_from = (WM - timedelta(days=5)).replace(hour=0)
    assert _count(store, buckets, buckets.c.bucket_start < minute_cut) == 0
    assert _count(store, buckets) == len(truth[pd.to_datetime(truth["t"], utc=True) >= minute_cut])
    assert _count(store, buckets_hourly, buckets_hourly.c.bucket_start < hourly_from) == 0
    assert _count(store, buckets_hourly, buckets_hourly.c.bucket_start >= minute_cut) == 0
    assert _count(store, buckets_daily) > 0
    assert report.deleted["buckets"] == len(truth) - _count(store, buckets)
    assert metrics.registry.get_sample_value("finsentry_retention_deleted_rows_total",
                                             {"table": "buckets"}) == report.deleted["buckets"]
    # Every day's sums, read across the three resolutions, equal what was written.
    lo, hi = WM - timedelta(days=10), WM + timedelta(days=1)
    for kt, _ in KEYS:
        got = series_all_resolutions(store.engine, kt, None, lo, hi, 86_400)
        got = got[["key", "t", "n_negative", "n_neutral", "n_positive", "n_duplicates", "score_sum"]]
        pd.testing.assert_frame_equal(got.reset_index(drop=True), _per_day(truth, kt), check_exact=False)
    # The dashboard's read (`series`) reaches into the rollups for the old days: same daily sums.
    pd.testing.assert_frame_equal(series(store.engine, "all", None, lo, hi, 86_400),
                                  series_all_resolutions(store.engine, "all", None, lo, hi, 86_400))
    assert data_span(store.engine) is not None and data_span(store.engine)[0] < minute_cut - timedelta(days=4)
    # The hourly detail survives within its retention.
    hourly = series_all_resolutions(store.engine, "all", ["*"], hourly_from, minute_cut, 3600)
    assert len(hourly) == 24 * 3 + 12 and hourly["t"].min() == hourly_from

    # A second pass has nothing to do; a late item for a rolled-up minute joins the rollups once.
    assert job.run_once().deleted == {}
    late_t = WM - timedelta(days=3, minutes=3)
    with store.transaction() as txn:
        txn.add_buckets({("all", "*", late_t): Counts(5, 0, 0, 0, -4.0)})
    assert job.run_once().deleted == {"buckets": 1}
    total_after = series_all_resolutions(store.engine, "all", ["*"], lo, hi, 20 * 86_400)
    assert total_after["n_negative"].sum() == truth[truth["key_type"] == "all"]["n_negative"].sum() + 5
    store.close()


def test_items_age_in_event_time_so_a_replay_is_not_deleted_on_arrival(store_url: str) -> None:
    store = Store(store_url)
    _fill_buckets(store, days=1, step_min=60)  # the watermark: WM
    old = [item(i) for i in range(30)]  # published 2023-03-10: 10 days behind the watermark
    store.write_batch(old)
    recent = [replace(item(100 + i), published_at=WM - timedelta(hours=i)) for i in range(5)]
    store.write_batch(recent)
    with store.transaction() as txn:  # a future-dated bucket (an older version let it in) changes nothing
        txn.add_buckets({("all", "*", datetime(2999, 1, 1, tzinfo=UTC)): Counts(1, 0, 0, 0, -1.0)})
    job = RetentionJob(store.engine, _policy(batch_rows=7), clock=lambda: WALL)
    report = job.run_once()
    assert report.reference == WM
    assert report.deleted.get("items") == 30 and report.transactions >= 30 // 7
    assert _count(store, items) == 5  # years older than the wall clock, yet recent in the stream: kept
    assert _count(store, item_tickers) == 5
    store.close()


def _alert(alert_id: str, status: str) -> AlertEvent:
    return AlertEvent(alert_id=alert_id, status="firing", key_type="ticker", key=alert_id, severity="warning",
                      started_at=WM, resolved_at=None, figures={}, evidence=())  # type: ignore[arg-type]


def test_dead_letters_and_finished_outbox_rows_age_by_the_wall_clock(store_url: str) -> None:
    store = Store(store_url)
    store.record_dead_letters([DeadLetter("news", 0, i, "bad_json") for i in range(10)],
                              seen_at=WALL - timedelta(days=20))
    store.record_dead_letters([DeadLetter("news", 0, 100 + i, "bad_json") for i in range(3)],
                              seen_at=WALL - timedelta(days=1))
    old = WALL - timedelta(days=40)
    with store.transaction() as txn:
        for aid in ("a-resolved", "b-firing"):
            txn.insert_alert(_alert(aid, "firing"), "fp", old)
        txn.resolve_alert("a-resolved", WM, old)
        for aid, status in (("a-resolved", "firing"), ("a-resolved", "resolved"), ("b-firing", "firing"),
                            ("b-firing", "firing")):
            txn.enqueue(aid, status, "webhook", "http://r/h", {}, old)
    with store.engine.connect() as conn:
        ids = sorted(conn.execute(sa.select(alert_outbox.c.id)).scalars())
    store.mark_delivered(ids[0], old)  # a-resolved firing: delivered 40 days ago -> deleted
    store.fail_final(ids[1], WALL - timedelta(days=1), "max_age")  # failed yesterday -> kept
    store.mark_delivered(ids[2], old)  # firing notification of a still-firing alert -> kept
    store.fail_final(ids[3], old, "max_attempts")  # failed long ago -> deleted (b still firing: not needed)
    job = RetentionJob(store.engine, _policy(), clock=lambda: WALL)
    report = job.run_once()
    assert report.reference is None  # no buckets: nothing ages in event time
    assert report.deleted == {"dead_letters": 10, "alert_outbox": 2}
    assert _count(store, dead_letters) == 3
    with store.engine.connect() as conn:
        left = sorted(conn.execute(sa.select(alert_outbox.c.id)).scalars())
    assert left == [ids[1], ids[2]]
    store.close()


def test_settings_refuse_minute_retention_shorter_than_the_detector_horizon() -> None:
    horizon = 3 * 86_400 + 7 * 86_400 + 3600  # DetectorConfig.horizon_s with the defaults
    RetentionPolicy.from_settings(Settings(), horizon)  # defaults are consistent
    with pytest.raises(ConfigError, match="MINUTE_BUCKETS_DAYS=8 is shorter than the detector's horizon"):
        RetentionPolicy.from_settings(Settings(retention_minute_buckets_days=8), horizon)
    with pytest.raises(ConfigError, match="HOURLY"):
        RetentionPolicy.from_settings(Settings(retention_hourly_buckets_days=12), horizon)
    with pytest.raises(ConfigError, match="ITEMS_DAYS"):
        RetentionPolicy.from_settings(Settings(retention_items_days=0.5), horizon)
    keep = RetentionPolicy.from_settings(Settings(retention_minute_buckets_days=0, retention_hourly_buckets_days=0,
                                                  retention_items_days=0), horizon)
    assert keep.minute_buckets is None and keep.items is None


def test_the_job_runs_on_its_own_thread_until_closed(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    store.record_dead_letters([DeadLetter("news", 0, 1, "bad_json")], seen_at=WALL - timedelta(days=30))
    metrics = Metrics(CollectorRegistry())
    done = threading.Event()
    job = RetentionJob(store.engine, _policy(interval_s=0.05), metrics, clock=lambda: WALL)
    original = job.run_once

    def spy(now: datetime | None = None):  # type: ignore[no-untyped-def]
        out = original(now)
        done.set()
        return out

    job.run_once = spy  # type: ignore[method-assign]
    job.start(first_after_s=0.01)
    assert done.wait(30)
    job.close()
    assert _count(store, dead_letters) == 0
    assert metrics.registry.get_sample_value("finsentry_retention_run_duration_seconds_count") >= 1
    store.close()
