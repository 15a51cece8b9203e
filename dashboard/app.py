"""The finsentry dashboard page: `finsentry dashboard` runs `streamlit run` on this file.

Thin page script: data comes from ``dashboard.cached`` (wrapping ``dashboard.queries``),
figures from ``dashboard.charts``. The store URL comes from the one settings object
(``FINSENTRY_STORE_URL``, set by the CLI). Everything below the sidebar lives in one
``st.fragment`` that re-runs every N seconds (auto-refresh).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from dashboard import cached, charts
from dashboard.formatting import age_text, fmt_time, heartbeat_note, num, pct
from dashboard.theme import LABEL_COLORS, LABELS, SEVERITY_COLORS, UNSCORED_COLOR
from dashboard.timerange import DEFAULT_RANGE, RANGES, Window, bin_seconds, window
from finsentry.errors import FinsentryError
from finsentry.settings import load_settings
from store.reads import UNSCORED, delivery_summary, evidence_frame

CURRENT = timedelta(minutes=15)  # "now" in the overview
BASELINE = timedelta(hours=24)  # what "now" is compared with
LEADER_RECENT_S, LEADER_BASE_S = 3600, 86400
HEADLINE_LIMIT = 200
REFRESH_CHOICES = (0, 5, 10, 30, 60, 300)
ANY = "(any)"
MAX_BANNERS = 5
HEADLINE_WINDOWS: dict[str, timedelta | None] = {
    "whole range": None, "last 15 min": timedelta(minutes=15), "last hour": timedelta(hours=1),
    "last 6 h": timedelta(hours=6),
}


@dataclass(frozen=True)
class Page:
    url: str
    engine: Engine
    win: Window
    first: datetime


def label_style(value: str) -> str:
    return f"color: {LABEL_COLORS.get(value, UNSCORED_COLOR)}; font-weight: 600"


def alert_style(value: str) -> str:
    color = SEVERITY_COLORS.get(value) or (SEVERITY_COLORS["critical"] if value == "firing" else "")
    return f"color: {color}; font-weight: 600" if color else ""


def delivery_style(value: str) -> str:
    return f"color: {SEVERITY_COLORS['warning']}" if value.startswith("pending") else ""


# --- screens -------------------------------------------------------------------------------


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


def sidebar(default_refresh: int, url: str) -> tuple[str, int]:
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
        st.caption(f"Store: `{cached.safe_url(url)}`")
        st.caption("Times are event times (UTC); *now* is the newest item in the store.")
    return choice, int(refresh)


# --- sections ------------------------------------------------------------------------------


def overview(p: Page) -> pd.DataFrame:
    end = p.win.end
    now = cached.totals(p.url, p.engine, end - CURRENT, end)
    base = cached.totals(p.url, p.engine, end - CURRENT - BASELINE, end - CURRENT)
    active = cached.active_alerts(p.url, p.engine)
    health = cached.health(p.url, p.engine)
    unscored = cached.unscored_count(p.url, p.engine, p.win.start, end)

    spark = cached.series(p.url, p.engine, "all", ("*",), p.win.start, end, p.win.bin_s).tail(48)
    per_bin_min = p.win.bin_s / 60
    st.subheader("Overview", anchor="overview")
    c = st.columns(6)
    per_min = (now["n"] + now["n_duplicates"]) / (CURRENT.total_seconds() / 60)
    c[0].metric("Items / min", f"{per_min:,.1f}", help="Scored items (incl. syndicated copies) per minute, last 15 min.",
                border=True, height="stretch", chart_data=((spark["n"] + spark["n_duplicates"]) / per_bin_min).round(1).tolist() or None,
                chart_type="bar")
    d_share = None if math.isnan(now["neg_share"]) or math.isnan(base["neg_share"]) else \
        (now["neg_share"] - base["neg_share"]) * 100
    c[1].metric("Negative share", pct(now["neg_share"]),
                delta=None if d_share is None else f"{d_share:+.1f} pp vs 24 h",
                delta_color="inverse", border=True, height="stretch", help=f"Last 15 min vs the 24 h before it ({pct(base['neg_share'])}).",
                chart_data=(spark["neg_share"].fillna(0) * 100).round(1).tolist() or None, chart_type="area")
    d_index = None if math.isnan(now["index"]) or math.isnan(base["index"]) else now["index"] - base["index"]
    c[2].metric("Sentiment index", num(now["index"], "+.2f"),
                delta=None if d_index is None else f"{d_index:+.2f} vs 24 h", border=True, height="stretch",
                chart_data=spark["index"].fillna(0).round(3).tolist() or None,
                help="Mean of p(positive) − p(negative), last 15 min (−1 … +1).")
    n_crit = int((active["severity"] == "critical").sum()) if not active.empty else 0
    c[3].metric("Active alerts", len(active), delta=f"{n_crit} critical" if n_crit else "none critical",
                delta_color="inverse" if n_crit else "off", delta_arrow="off", border=True, height="stretch")
    if health.empty:
        c[4].metric("Items / s (pipeline)", "—", help="No consumer has reported yet.", border=True, height="stretch")
        c[5].metric("Dead-lettered", "—", border=True, height="stretch")
    else:
        c[4].metric("Items / s (pipeline)", f"{health['items_per_s'].sum():,.0f}/s",
                    delta=f"lag {int(health['lag'].sum()):,}", delta_color="off", delta_arrow="off", border=True, height="stretch")
        c[5].metric("Dead-lettered", f"{int(health['dead_lettered'].sum()):,}",
                    delta=f"of {int(health['consumed'].sum()):,} consumed", delta_color="off", delta_arrow="off",
                    border=True, height="stretch")
    models = ", ".join(sorted({f"{m} on {pv}" for m, pv in zip(health.get("model_version", []),
                                                                  health.get("provider", []))})) or "—"
    last_beat = health["updated_at"].max() if not health.empty else None
    silent = heartbeat_note(last_beat, datetime.now(timezone.utc))
    st.caption(
        f"Model {models} · {len(health)} consumer instance(s) · last heartbeat {fmt_time(last_beat)}{silent} · "
        f"{unscored:,} item(s) in the range in languages no model covers (shown, not scored)."
    )
    for a in alert_banner_order(active).head(MAX_BANNERS).itertuples():
        text = (f"**{a.severity.upper()}** · **{charts.series_name(a.key_type, a.key)}** — negative share "
                f"{pct(a.share)} vs baseline {pct(a.baseline)} · statistic {num(a.statistic, '.1f')} · "
                f"firing since {fmt_time(a.started_at)}")
        if a.severity == "critical":
            st.error(text, icon=":material/crisis_alert:")
        else:
            st.warning(text, icon=":material/warning:")
    if len(active) > MAX_BANNERS:
        st.caption(f"… and {len(active) - MAX_BANNERS} more firing alert(s): see **Alerts** below.")
    return active


def alert_banner_order(active: pd.DataFrame) -> pd.DataFrame:
    """Critical first, the whole stream before its parts, then the newest onset."""
    if active.empty:
        return active
    rank = {"all": 0, "topic": 1, "ticker": 2, "source": 3}
    keyed = active.assign(_sev=(active["severity"] != "critical").astype(int),
                          _kt=active["key_type"].map(rank).fillna(9))
    return keyed.sort_values(["_sev", "_kt", "started_at"], ascending=[True, True, False]).drop(columns=["_sev", "_kt"])


def topic_heat(p: Page) -> tuple[pd.DataFrame, list[str]]:
    """Every topic's binned rollup (topics are a bounded set) and the topics by volume."""
    w = p.win
    heat = cached.series(p.url, p.engine, "topic", None, w.start, w.end,
                         max(w.bin_s, bin_seconds(w.span, 96, bucket_s=w.bin_s)))
    ranked = heat.groupby("key")["n"].sum().sort_values(ascending=False).index.tolist() if not heat.empty else []
    return heat, ranked


def trends(p: Page, active: pd.DataFrame, heat: pd.DataFrame, topic_opts: list[str], ticker_opts: list[str]) -> None:
    w = p.win
    st.subheader("Sentiment index over time", anchor="sentiment-index")
    firing = active[active["key_type"].isin(["topic", "ticker"])] if not active.empty else active
    default_topics = [k for k in firing.loc[firing["key_type"] == "topic", "key"] if k in topic_opts][:2] \
        if not firing.empty else []
    default_tickers = [k for k in firing.loc[firing["key_type"] == "ticker", "key"] if k in ticker_opts][:3] \
        if not firing.empty else []
    c1, c2 = st.columns(2)
    topics = c1.multiselect("Compare topics", topic_opts, default=default_topics, key="topics",
                            placeholder="add topics")
    tickers = c2.multiselect("Compare tickers", ticker_opts, default=default_tickers, key="tickers",
                             placeholder="add tickers")
    frames = []
    for key_type, keys in (("all", ["*"]), ("topic", topics), ("ticker", tickers)):
        if keys:
            s = cached.series(p.url, p.engine, key_type, tuple(keys), w.start, w.end, w.bin_s)
            frames.append(s.assign(name=[charts.series_name(key_type, k) for k in s["key"]]))
    all_series = frames[0] if frames else pd.DataFrame()
    series = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    shown = {("all", "*")} | {("topic", k) for k in topics} | {("ticker", k) for k in tickers}
    hist = cached.alert_history(p.url, p.engine, w.start, w.end)
    if not hist.empty:
        eps = hist[[(kt, k) in shown for kt, k in zip(hist["key_type"], hist["key"])]].copy()
        eps["label"] = [f"{r.severity} · {charts.series_name(r.key_type, r.key)}: {pct(r.share)} vs {pct(r.baseline)}"
                        for r in eps.itertuples()]
    else:
        eps = pd.DataFrame(columns=["started_at", "resolved_at", "severity", "label"])
    st.plotly_chart(charts.index_chart(series, eps, w.start, w.end), key="index_chart",
                    config={"displaylogo": False})
    if not all_series.empty:
        st.plotly_chart(charts.volume_chart(all_series, w.start, w.end), key="volume_chart",
                        config={"displaylogo": False})
    st.caption(f"{age_text(timedelta(seconds=w.bin_s))} bins · shaded: spike episodes of the shown series · "
               "▼ alert onset")

    left, right = st.columns([3, 2])
    with left:
        st.subheader("Negative share by topic", anchor="topic-heatmap")
        if heat.empty:
            st.info("No topic-tagged items in this range.")
        else:
            top = set(topic_opts[:20]) & set(heat["key"])
            st.plotly_chart(charts.topic_heatmap(heat[heat["key"].isin(top)]), key="topic_heatmap",
                            config={"displaylogo": False})
    with right:
        st.subheader("Sharpest negative moves", anchor="ticker-leaderboard")
        lb = cached.leaderboard(p.url, p.engine, w.end, LEADER_RECENT_S, LEADER_BASE_S)
        st.caption("Tickers: negative share in the last hour vs the 24 h before (min. 5 / 10 items).")
        if lb.empty:
            st.info("Not enough ticker volume in the last hour to rank moves.")
        else:
            lb = lb.assign(delta=lb["delta"] * 100).drop(columns=["index_recent"])
            st.dataframe(
                lb, key="leaderboard", hide_index=True, height=min(36 + 35 * len(lb), 420),
                column_config={
                    "key": st.column_config.TextColumn("Ticker"),
                    "n_recent": st.column_config.NumberColumn("Items 1 h"),
                    "share_recent": st.column_config.ProgressColumn("Neg. 1 h", min_value=0, max_value=1,
                                                                    format="percent",
                                                                    color=LABEL_COLORS["negative"]),
                    "share_baseline": st.column_config.NumberColumn("Neg. 24 h", format="percent"),
                    "delta": st.column_config.NumberColumn("Δ pp", format="%+.1f"),
                },
            )


def headlines_section(p: Page, topic_opts: list[str], ticker_opts: list[str], source_opts: list[str]) -> None:
    w = p.win
    st.subheader("Headlines", anchor="headlines")
    c = st.columns([1.8, 1.8, 1.1, 1.5, 1.3, 2.0])
    labels = c[0].multiselect("Label", [*LABELS, UNSCORED], default=[], key="hl_labels", placeholder="all labels")
    topic = c[1].selectbox("Topic", [ANY, *sorted(topic_opts)], key="hl_topic")
    ticker = c[2].selectbox("Ticker", [ANY, *sorted(ticker_opts)], key="hl_ticker")
    source = c[3].selectbox("Source", [ANY, *sorted(source_opts)], key="hl_source")
    period = c[4].selectbox("Time", list(HEADLINE_WINDOWS), key="hl_window",
                            help="Within the selected range, ending at its newest item.")
    search = c[5].text_input("Search text", key="hl_search", placeholder="e.g. deposit")
    sub = HEADLINE_WINDOWS[period]
    start = w.start if sub is None else max(w.start, w.end - sub)
    df = cached.headlines(
        p.url, p.engine, start, w.end, tuple(labels), None if topic == ANY else topic,
        None if ticker == ANY else ticker, None if source == ANY else source, search or None, HEADLINE_LIMIT,
    )
    st.caption(f"Newest first · {len(df)} shown (at most {HEADLINE_LIMIT}) · {fmt_time(start)} → {fmt_time(w.end)}"
               f" · confidence = the model's top probability · *unscored*: no model for the item's language")
    if df.empty:
        st.info("No headlines match these filters in this time range.")
        return
    view = df.drop(columns=["id", "duplicate_of"]).assign(
        copy=df["duplicate_of"].notna().map({True: "copy", False: ""})
    )
    st.dataframe(
        view.style.map(label_style, subset=["label"]), key="headlines", hide_index=True, height=420,
        column_order=["published_at", "label", "confidence", "score", "text", "source", "topic", "tickers",
                      "lang", "copy", "url"],
        column_config={
            "published_at": st.column_config.DatetimeColumn("Published (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "label": st.column_config.TextColumn("Label", width="small"),
            "confidence": st.column_config.ProgressColumn("Confidence", min_value=0, max_value=1,
                                                          format="percent", width="small"),
            "score": st.column_config.NumberColumn("Score", format="%+.2f", width="small"),
            "text": st.column_config.TextColumn("Headline", width="large"),
            "source": st.column_config.TextColumn("Source", width="small"),
            "topic": st.column_config.TextColumn("Topic", width="small"),
            "tickers": st.column_config.TextColumn("Tickers", width="small"),
            "lang": st.column_config.TextColumn("Lang", width="small"),
            "copy": st.column_config.TextColumn("Syndicated", width="small"),
            "url": st.column_config.LinkColumn("Link", display_text="open"),
        },
    )


def _pick_from_table(ids: list[str]) -> None:
    sel = st.session_state.get("alert_table")
    rows = getattr(getattr(sel, "selection", None), "rows", None) or []
    if rows and rows[0] < len(ids):
        st.session_state["alert_pick"] = ids[rows[0]]


def alerts_section(p: Page, active: pd.DataFrame) -> None:
    w = p.win
    st.subheader("Alerts", anchor="alerts")
    hist = cached.alert_history(p.url, p.engine, w.start, w.end)
    both = pd.concat([active, hist], ignore_index=True).drop_duplicates("id") if not active.empty else hist
    if both.empty:
        st.success("No alerts in this time range: the news tone is within its usual range.")
        return
    outbox = cached.delivery(p.url, p.engine, tuple(both["id"]))
    summary = delivery_summary(outbox)
    table = pd.DataFrame({
        "severity": both["severity"],
        "status": both["status"], "key_type": both["key_type"],
        "key": both["key"].where(both["key_type"] != "all", "(all news)"),
        "started_at": both["started_at"], "resolved_at": both["resolved_at"],
        "share": both["share"], "baseline": both["baseline"], "statistic": both["statistic"],
        "delivery": [summary.get(i, "no notification") for i in both["id"]],
    })
    ids = both["id"].tolist()
    st.dataframe(
        table.style.map(alert_style, subset=["severity", "status"]).map(delivery_style, subset=["delivery"]),
        key="alert_table", hide_index=True, on_select=lambda: _pick_from_table(ids),
        selection_mode="single-row", height=min(36 + 35 * len(table), 320),
        column_config={
            "started_at": st.column_config.DatetimeColumn("Firing since", format="YYYY-MM-DD HH:mm"),
            "resolved_at": st.column_config.DatetimeColumn("Resolved", format="YYYY-MM-DD HH:mm"),
            "share": st.column_config.NumberColumn("Neg. share", format="percent"),
            "baseline": st.column_config.NumberColumn("Baseline", format="percent"),
            "statistic": st.column_config.NumberColumn("Statistic", format="%.1f"),
            "delivery": st.column_config.TextColumn("Delivery", width="medium"),
        },
    )
    by_id = {r.id: r for r in both.itertuples()}
    if st.session_state.get("alert_pick") not in by_id:
        st.session_state.pop("alert_pick", None)
    pick = st.selectbox(
        "Inspect alert (or click a row above)", ids, key="alert_pick",
        format_func=lambda i: f"{by_id[i].severity.upper()} · {charts.series_name(by_id[i].key_type, by_id[i].key)} · "
        f"{by_id[i].status} · {fmt_time(by_id[i].started_at)}",
    )
    a = by_id[pick]
    c = st.columns(4)
    c[0].metric("Negative share", pct(a.share), border=True, height="stretch")
    c[1].metric("Baseline", pct(a.baseline), border=True, height="stretch")
    c[2].metric("Statistic", num(a.statistic, ".1f"), border=True, height="stretch")
    c[3].metric("Items in window", num(a.window_n, ",.0f"), border=True, height="stretch")
    ev = evidence_frame(a.evidence)
    st.markdown(f"**Evidence headlines** for **{charts.series_name(a.key_type, a.key)}** "
                f"({fmt_time(a.started_at)} → {fmt_time(a.resolved_at) if a.status == 'resolved' else 'now'})")
    if ev.empty:
        st.info("This alert carries no evidence headlines.")
    else:
        st.dataframe(ev, key="evidence", hide_index=True, column_config={
            "text": st.column_config.TextColumn("Headline", width="large"),
            "score": st.column_config.NumberColumn("Score", format="%+.2f"),
            "id": st.column_config.TextColumn("Item id"),
        })
    rows = outbox[outbox["alert_id"] == pick]
    with st.expander(f"Delivery ({len(rows)} notification(s)) and raw figures"):
        if rows.empty:
            st.write("No notification queued for this alert.")
        else:
            st.dataframe(rows.drop(columns=["alert_id"]), key="delivery", hide_index=True)
        st.json(a.figures if isinstance(a.figures, dict) else {}, expanded=False)


def pipeline_section(p: Page) -> None:
    st.subheader("Model & pipeline health", anchor="pipeline")
    health = cached.health(p.url, p.engine)
    if health.empty:
        st.info("No consumer instance has reported health yet (`finsentry run` writes it every few seconds).")
        return
    st.dataframe(health, key="health", hide_index=True, column_config={
        "updated_at": st.column_config.DatetimeColumn("Heartbeat (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "items_per_s": st.column_config.NumberColumn("Items/s", format="%.1f"),
    })


# --- page ----------------------------------------------------------------------------------


def body(url: str, choice: str, bucket_s: int) -> None:
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
        st.caption(f"Data as of **{fmt_time(last)}** (newest event time) · range {fmt_time(p.win.start)} → "
                   f"{fmt_time(p.win.end)}")
        active = overview(p)
        w = p.win
        heat, ranked = topic_heat(p)
        # Busiest topics of the range first, then every other known topic: a stable option list,
        # so a selection survives a change of range.
        topic_opts = ranked + [k for k in cached.keys_of(url, eng, "topic") if k not in set(ranked)]
        # Options list every known key (one index seek each); ranking them over a 7-day range
        # would cost a full aggregation just to order a drop-down.
        ticker_opts = cached.keys_of(url, eng, "ticker")
        trends(p, active, heat, topic_opts, ticker_opts)
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
    choice, refresh = sidebar(settings.dashboard_refresh_s, url)
    st.fragment(run_every=refresh if refresh > 0 else None)(body)(url, choice, settings.bucket_seconds)


main()
