"""Streamlit caching around ``store.reads``: one engine per store URL, short-lived results.

Query results live ``DATA_TTL_S`` seconds, below the default auto-refresh interval, so each
refresh reads fresh rollups while reruns caused by widget clicks reuse them. The engine is
passed as ``_engine`` (not hashed); the URL is the cache key.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection

from store import reads as q
from store.reads.warmup import WarmupNeeds, WarmupState, warmup_state

DATA_TTL_S = 5


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases or in-memory SQLite)."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def safe_url(url: str) -> str:
    """The URL without its password, for display."""
    return make_url(url).render_as_string(hide_password=True)


@st.cache_resource(show_spinner=False)
def engine(url: str) -> Engine:
    """One pooled engine per store URL; SQLite connections are read-only for the dashboard."""
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        kwargs["connect_args"] = {"timeout": 5, "check_same_thread": False}
    elif backend == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": 5}  # an unreachable store: an error box, not a hang
    eng = create_engine(url, **kwargs)
    if eng.dialect.name == "sqlite":

        @event.listens_for(eng, "connect")
        def _read_only(dbapi_conn: DBAPIConnection, _rec: object) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA query_only=ON")
            cur.close()

    return eng


def clear() -> None:
    """Drop cached query results (the engine stays)."""
    st.cache_data.clear()


@st.cache_data(ttl=DATA_TTL_S, show_spinner=False)
def has_schema(url: str, _engine: Engine) -> bool:
    return q.has_schema(_engine)


@st.cache_data(ttl=DATA_TTL_S, show_spinner=False)
def data_span(url: str, _engine: Engine, bucket_s: int = 60) -> tuple[datetime, datetime] | None:
    return q.data_span(_engine, bucket_s)


@st.cache_data(ttl=DATA_TTL_S, show_spinner=False)
def totals(url: str, _engine: Engine, start: datetime, end: datetime, key_type: str = "all",
           key: str = q.ALL_KEY) -> dict[str, float]:
    return q.totals(_engine, start, end, key_type, key)


@st.cache_data(ttl=DATA_TTL_S, show_spinner=False)
def series(url: str, _engine: Engine, key_type: str, keys: tuple[str, ...] | None, start: datetime, end: datetime,
           bin_s: int) -> pd.DataFrame:
    return q.series(_engine, key_type, keys, start, end, bin_s)


@st.cache_data(ttl=DATA_TTL_S, show_spinner=False)
def keys_of(url: str, _engine: Engine, key_type: str) -> list[str]:
    return q.keys_of(_engine, key_type)


@st.cache_data(ttl=DATA_TTL_S, show_spinner=False)
def top_keys(url: str, _engine: Engine, key_type: str, start: datetime, end: datetime, limit: int) -> pd.DataFrame:
    return q.top_keys(_engine, key_type, start, end, limit)


@st.cache_data(ttl=DATA_TTL_S, show_spinner=False)
def leaderboard(url: str, _engine: Engine, end: datetime, recent_s: int, baseline_s: int) -> pd.DataFrame:
    return q.leaderboard(_engine, end, recent=timedelta(seconds=recent_s), baseline=timedelta(seconds=baseline_s))


@st.cache_data(ttl=DATA_TTL_S, show_spinner=False)
def headlines(url: str, _engine: Engine, start: datetime, end: datetime, labels: tuple[str, ...],
              topic: str | None, ticker: str | None, source: str | None, search: str | None,
              limit: int, langs: tuple[str, ...] = ()) -> pd.DataFrame:
    return q.headlines(_engine, start, end, labels=labels, topic=topic, ticker=ticker, source=source,
                       search=search, limit=limit, langs=langs)


@st.cache_data(ttl=DATA_TTL_S, show_spinner=False)
def unscored_count(url: str, _engine: Engine, start: datetime, end: datetime) -> int:
    return q.unscored_count(_engine, start, end)


@st.cache_data(ttl=DATA_TTL_S, show_spinner=False)
def sources(url: str, _engine: Engine) -> list[str]:
    return q.sources(_engine)


@st.cache_data(ttl=DATA_TTL_S, show_spinner=False)
def active_alerts(url: str, _engine: Engine) -> pd.DataFrame:
    return q.active_alerts(_engine)


@st.cache_data(ttl=DATA_TTL_S, show_spinner=False)
def alert_history(url: str, _engine: Engine, start: datetime, end: datetime) -> pd.DataFrame:
    return q.alert_history(_engine, start, end)


@st.cache_data(ttl=DATA_TTL_S, show_spinner=False)
def delivery(url: str, _engine: Engine, alert_ids: tuple[str, ...]) -> pd.DataFrame:
    return q.delivery(_engine, alert_ids)


@st.cache_data(ttl=DATA_TTL_S, show_spinner=False)
def failed_deliveries(url: str, _engine: Engine) -> pd.DataFrame:
    return q.failed_deliveries(_engine)


@st.cache_data(ttl=DATA_TTL_S, show_spinner=False)
def health(url: str, _engine: Engine) -> pd.DataFrame:
    return q.health(_engine)


@st.cache_data(ttl=DATA_TTL_S, show_spinner=False)
def language_series(url: str, _engine: Engine, start: datetime, end: datetime, bin_s: int) -> pd.DataFrame:
    return q.language_series(_engine, start, end, bin_s)


@st.cache_data(ttl=DATA_TTL_S, show_spinner=False)
def sharpest_moves(url: str, _engine: Engine, end: datetime) -> tuple[pd.DataFrame, q.MoveWindow]:
    return q.sharpest_moves(_engine, end)


@st.cache_data(ttl=DATA_TTL_S, show_spinner=False, hash_funcs={WarmupNeeds: repr})
def warmup(url: str, _engine: Engine, needs: WarmupNeeds) -> WarmupState:
    return warmup_state(_engine, needs)
