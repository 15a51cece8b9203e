"""The same reads and page against the real PostgreSQL: results identical to SQLite."""

from __future__ import annotations

import os
from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from streamlit.testing.v1 import AppTest

from store import reads as q
from tests.dashboard.conftest import APP
from tests.support.seed import seed_store

ADMIN_URL = os.environ.get("FINSENTRY_TEST_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
N, SPAN = 4000, timedelta(days=2)


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory):
    name = f"finsentry_dash_test_{os.getpid()}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable: {exc.orig}")
    pg_url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    pg = create_engine(pg_url)
    lite = create_engine(f"sqlite:///{tmp_path_factory.mktemp('pg') / 'same.db'}")
    seed_store(pg, n_items=N, span=SPAN)
    seed_store(lite, n_items=N, span=SPAN)
    yield pg_url, pg, lite
    pg.dispose()
    lite.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_same_results_as_sqlite(stores) -> None:
    _, pg, lite = stores
    span = q.data_span(pg)
    assert span == q.data_span(lite)
    first, last = span
    for a, b in ((q.totals(pg, first, last), q.totals(lite, first, last)),):
        assert a == pytest.approx(b)
    for bin_s in (300, 3600):
        pd.testing.assert_frame_equal(
            q.series(pg, "topic", None, first, last, bin_s), q.series(lite, "topic", None, first, last, bin_s)
        )
    assert q.sources(pg) == q.sources(lite)
    for kt in ("topic", "ticker", "source"):
        assert q.keys_of(pg, kt) == q.keys_of(lite, kt)
    pd.testing.assert_frame_equal(
        q.top_keys(pg, "ticker", first, last, 15), q.top_keys(lite, "ticker", first, last, 15)
    )
    pd.testing.assert_frame_equal(
        q.leaderboard(pg, last, min_recent=2, min_baseline=3), q.leaderboard(lite, last, min_recent=2, min_baseline=3)
    )
    for kwargs in (
        {},
        {"labels": ["negative", "unscored"]},
        {"ticker": "AAPL"},
        {"search": "DEPOSIT"},
        {"topic": "Financials", "source": "Reuters"},
    ):
        a, b = q.headlines(pg, first, last, **kwargs), q.headlines(lite, first, last, **kwargs)
        assert len(a) > 0 and a["id"].tolist() == b["id"].tolist(), kwargs
    assert q.unscored_count(pg, first, last) == q.unscored_count(lite, first, last) > 0
    ha, hb = q.alert_history(pg, first, last), q.alert_history(lite, first, last)
    assert ha["id"].tolist() == hb["id"].tolist() and len(ha) > 0
    assert ha["started_at"].tolist() == hb["started_at"].tolist()
    assert (
        q.delivery_summary(q.delivery(pg, ha["id"].tolist())).to_dict()
        == q.delivery_summary(q.delivery(lite, hb["id"].tolist())).to_dict()
    )
    assert q.active_alerts(pg)["id"].tolist() == q.active_alerts(lite)["id"].tolist()
    assert len(q.health(pg)) == 2


def test_page_renders_on_postgres(stores, monkeypatch: pytest.MonkeyPatch) -> None:
    pg_url = stores[0]
    monkeypatch.setenv("FINSENTRY_STORE_URL", pg_url)
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    keys = {c.key for c in at.get("plotly_chart")}
    assert "Headlines" in [s.value for s in at.subheader]
    assert {"alert_timeline", "index_chart", "volume_chart", "language_chart", "topic_heatmap"} <= keys
