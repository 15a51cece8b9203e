"""The dashboard page: sidebar, empty screens, and the auto-refreshing body (``main``).

Data comes from ``dashboard.cached`` (wrapping ``store.reads``), figures from ``dashboard.charts``.
The store URL comes from the one settings object (``FINSENTRY_STORE_URL``, set by the CLI).
Everything below the sidebar lives in one ``st.fragment`` that re-runs every N seconds.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import cached
from dashboard.alertview import alerts_now, labelled
from dashboard.context import (
    REFRESH_CHOICES,
    Page,
)
from dashboard.formatting import fmt_time
from dashboard.overview import overview, topic_heat
from dashboard.sections import alerts_section, headlines_section, pipeline_section, trends
from dashboard.timerange import DEFAULT_RANGE, RANGES, window
from dashboard.warmup import needs_of, warmup_note
from finsentry.errors import FinsentryError
from finsentry.settings import load_settings
from store.reads.warmup import WarmupNeeds


def empty_screen(url: str, reason: str) -> None:
    st.title("finsentry · news sentiment")
    st.info(f"**No news in the store yet.** {reason}", icon=":material/inbox:")
    st.markdown(
        f"""
The dashboard reads the store `{cached.safe_url(url)}`. It fills as soon as the service
scores news; this page refreshes by itself.

1. **Everything at once** (embedded Kafka, the service, this dashboard, the bundled real news
   stream of the March 2023 SVB collapse): `make run`
2. **Or step by step**: start the service against your broker and this store
   `finsentry run --bootstrap HOST:9092 --store {cached.safe_url(url)}`, then publish news
   `finsentry produce data/<stream>.jsonl --topic news`.
3. **Another store?** `finsentry dashboard --store postgresql+psycopg://user@host/db`
   (or set `FINSENTRY_STORE_URL`).
"""
    )


def sidebar(default_refresh: int, url: str) -> tuple[str, int, bool]:
    with st.sidebar:
        st.markdown("### :material/monitoring: finsentry")
        choice = st.segmented_control("Time range", list(RANGES), default=DEFAULT_RANGE, key="range",
                                      required=True) or DEFAULT_RANGE
        choices = sorted(set(REFRESH_CHOICES) | {default_refresh})
        refresh = st.selectbox(
            "Auto-refresh", choices, index=choices.index(default_refresh), key="refresh",
            format_func=lambda s: "off" if s == 0 else f"every {s} s",
        )
        if st.button("Refresh now", key="refresh_now", width="stretch"):
            cached.clear()
        sound = st.toggle("Sound on new alerts", key="alert_sound",
                          help="A short chime when a new alert appears (every new alert also shows a toast).")
        st.caption(f"Store: `{cached.safe_url(url)}`")
        st.caption("Times are event times (UTC); *now* is the stream's watermark (its newest event time).")
    return choice, int(refresh), bool(sound)


# --- sections ------------------------------------------------------------------------------


def body(url: str, choice: str, bucket_s: int, sound: bool = False, needs: WarmupNeeds | None = None) -> None:
    path = cached.sqlite_path(url)
    if path is not None and not path.exists():
        empty_screen(url, f"The store file `{path}` does not exist yet.")
        return
    try:
        eng = cached.engine(url)
        if not cached.has_schema(url, eng):
            empty_screen(url, "The store has no finsentry tables yet (the service creates them on start).")
            return
        span = cached.data_span(url, eng, bucket_s)
        if span is None:
            empty_screen(url, "The tables exist but hold no items.")
            return
        first, last = span
        p = Page(url=url, engine=eng, win=window(choice, first, last, bucket_s), first=first)
        st.title("finsentry · news sentiment")
        st.caption(f"Data as of **{fmt_time(last)}** (stream watermark) · range {fmt_time(p.win.start)} → "
                   f"{fmt_time(p.win.end)}")
        warmup_note(p, needs or WarmupNeeds())
        active = cached.active_alerts(url, eng)
        hist = cached.alert_history(url, eng, p.win.start, p.win.end)
        alerts_now(p, active, hist, sound)
        overview(p, active, hist)
        in_range = labelled(pd.concat([active, hist], ignore_index=True).drop_duplicates("id")
                            if not active.empty else hist)
        heat, ranked = topic_heat(p)
        # Busiest topics of the range first, then every other known topic: a stable option list,
        # so a selection survives a change of range.
        topic_opts = ranked + [k for k in cached.keys_of(url, eng, "topic") if k not in set(ranked)]
        # Options list every known key (one index seek each); ranking them over a 7-day range
        # would cost a full aggregation just to order a drop-down.
        ticker_opts = cached.keys_of(url, eng, "ticker")
        trends(p, in_range, heat, topic_opts, ticker_opts)
        source_opts = cached.sources(url, eng)  # includes sources of unscored items (no rollups)
        headlines_section(p, topic_opts, ticker_opts, source_opts)
        alerts_section(p, active)
        pipeline_section(p)
    except FinsentryError as exc:
        st.error(f"**The store cannot be read right now.** {exc}", icon=":material/error:")
        st.caption("The page retries on its next refresh.")


def main() -> None:
    st.set_page_config(page_title="finsentry · news sentiment", page_icon="📉", layout="wide")
    settings = load_settings()
    url = settings.store_url
    choice, refresh, sound = sidebar(settings.dashboard_refresh_s, url)
    st.fragment(run_every=refresh if refresh > 0 else None)(body)(url, choice, settings.bucket_seconds, sound,
                                                                   needs_of(settings))
