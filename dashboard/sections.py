"""The page's sections below the overview: trends, languages, moves, headlines, alert history, health."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import streamlit as st

from dashboard import cached, charts
from dashboard.context import (
    ANY,
    HEADLINE_LIMIT,
    HEADLINE_WINDOWS,
    LANGUAGE_MAX_SPAN,
    Page,
    alert_style,
    delivery_style,
    label_style,
)
from dashboard.formatting import age_text, fmt_time, num, pct
from dashboard.overview import heat_step
from dashboard.theme import LABEL_COLORS, LABELS
from dashboard.timerange import Window, step_seconds
from store.reads import LADDER, UNSCORED, delivery_summary, evidence_frame, language_totals


def trends(p: Page, alerts: pd.DataFrame, heat: pd.DataFrame, topic_opts: list[str], ticker_opts: list[str]) -> None:
    """The index chart (every alert of the range marked), volume by label and by language, heatmap, moves.

    ``alerts``: the range's alerts with ``name`` and ``label`` (``alertview.labelled``).
    """
    w = p.win
    st.subheader("Sentiment index over time", anchor="sentiment-index")
    firing = alerts[alerts["status"] == "firing"] if not alerts.empty else alerts
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
    marks = alerts.assign(shaded=[(kt, k) in shown for kt, k in zip(alerts["key_type"], alerts["key"], strict=True)]) \
        if not alerts.empty else pd.DataFrame(columns=["started_at", "resolved_at", "label", "shaded"])
    st.plotly_chart(charts.index_chart(series, marks, w.start, w.end, w.bin_s), key="index_chart",
                    config={"displaylogo": False})
    if not all_series.empty:
        st.plotly_chart(charts.volume_chart(all_series, w.start, w.end), key="volume_chart",
                        config={"displaylogo": False})
    n_items = int(all_series["n"].sum()) if not all_series.empty else 0
    st.caption(f"**{age_text(timedelta(seconds=w.bin_s))} steps** · range {w.label} ({n_items:,} scored items) · "
               "each point: the mean index of the step's items · a break in a line: a step without items · "
               "shaded: spike episodes of the shown series · ▼ every alert onset in the range (hover for its key)")
    language_panel(p)

    left, right = st.columns([3, 2])
    with left:
        st.subheader("Negative share by topic", anchor="topic-heatmap")
        if heat.empty:
            st.info("No topic-tagged items in this range.")
        else:
            top = set(topic_opts[:20]) & set(heat["key"])
            shown = heat[heat["key"].isin(top)]
            # blank out thin cells, unless that would blank most of a quiet range
            min_n = 3 if (shown["n"] >= 3).mean() >= 0.25 else 1
            st.plotly_chart(charts.topic_heatmap(shown, min_n=min_n), key="topic_heatmap",
                            config={"displaylogo": False})
            st.caption(f"Negative share per topic and {age_text(timedelta(seconds=heat_step(w)))} step · "
                       f"cells with fewer than {min_n} item(s) left blank.")
    with right:
        moves_panel(p)


def language_window(w: Window) -> tuple[datetime, int, bool]:
    """(start, step, clipped) of the language read: languages live on items, not rollups, so a
    range longer than ``LANGUAGE_MAX_SPAN`` reads its last part only (7 days of a 1M-item store
    would scan ~1M rows, ~1.6 s)."""
    if w.span <= LANGUAGE_MAX_SPAN:
        return w.start, w.bin_s, False
    return w.end - LANGUAGE_MAX_SPAN, step_seconds("24 h", LANGUAGE_MAX_SPAN), True


def language_panel(p: Page) -> None:
    w = p.win
    start, step, clipped = language_window(w)
    langs = cached.language_series(p.url, p.engine, start, w.end, step)
    if langs.empty:
        return
    st.plotly_chart(charts.language_chart(langs, start, w.end), key="language_chart",
                    config={"displaylogo": False})
    tot = language_totals(langs)
    hours = int(LANGUAGE_MAX_SPAN.total_seconds() // 3600)
    scope = f"the last {hours} h of the range (read from items, not rollups)" if clipped else "the range"
    st.caption(f"Items by language over {scope} (copies included; hatched: no model for the language, stored "
               "unscored): " + " · ".join(f"{r.lang} {r.n:,}" + (f" ({r.n_unscored:,} unscored)" if r.n_unscored
                                                                  else "") for r in tot.itertuples()))


def moves_panel(p: Page) -> None:
    st.subheader("Sharpest negative moves", anchor="ticker-leaderboard")
    lb, rung = cached.sharpest_moves(p.url, p.engine, p.win.end)
    st.caption(f"{rung.describe()[0].upper()}{rung.describe()[1:]}.")
    if rung != LADDER[0]:
        st.warning(f"Too few items for the default (tickers, last hour vs the 24 h before, min. "
                   f"{LADDER[0].min_recent} / {LADDER[0].min_baseline} items): widened to {rung.describe()}.",
                   icon=":material/zoom_out_map:")
    if lb.empty:
        st.info("No key has items in both windows yet: nothing to rank.")
        return
    lb = lb.assign(delta=lb["delta"] * 100).drop(columns=["index_recent"])
    st.dataframe(
        lb, key="leaderboard", hide_index=True, height=min(36 + 35 * len(lb), 420),
        column_config={
            "key": st.column_config.TextColumn(rung.key_type.capitalize()),
            "n_recent": st.column_config.NumberColumn("Items (recent)"),
            "share_recent": st.column_config.ProgressColumn("Neg. recent", min_value=0, max_value=1,
                                                            format="percent", color=LABEL_COLORS["negative"]),
            "share_baseline": st.column_config.NumberColumn("Neg. before", format="percent"),
            "delta": st.column_config.NumberColumn("Δ pp", format="%+.1f"),
        },
    )


def headlines_section(p: Page, topic_opts: list[str], ticker_opts: list[str], source_opts: list[str]) -> None:
    w = p.win
    st.subheader("Headlines", anchor="headlines")
    c = st.columns([1.8, 1.6, 1.1, 1.5, 1.3, 1.3, 1.8])
    labels = c[0].multiselect("Label", [*LABELS, UNSCORED], default=[], key="hl_labels", placeholder="all labels")
    topic = c[1].selectbox("Topic", [ANY, *sorted(topic_opts)], key="hl_topic")
    ticker = c[2].selectbox("Ticker", [ANY, *sorted(ticker_opts)], key="hl_ticker")
    source = c[3].selectbox("Source", [ANY, *sorted(source_opts)], key="hl_source")
    period = c[4].selectbox("Time", list(HEADLINE_WINDOWS), key="hl_window",
                            help="Within the selected range, ending at its newest item.")
    l_start, l_step, _ = language_window(w)
    lang_opts = language_totals(cached.language_series(p.url, p.engine, l_start, w.end, l_step))["lang"].tolist()
    langs = c[5].multiselect("Language", sorted(set(lang_opts) | set(st.session_state.get("hl_langs", []))),
                             default=[], key="hl_langs", placeholder="all languages",
                             help="Languages of the range's items, scored or not (?: not detected).")
    search = c[6].text_input("Search text", key="hl_search", placeholder="e.g. deposit")
    sub = HEADLINE_WINDOWS[period]
    start = w.start if sub is None else max(w.start, w.end - sub)
    df = cached.headlines(
        p.url, p.engine, start, w.end, tuple(labels), None if topic == ANY else topic,
        None if ticker == ANY else ticker, None if source == ANY else source, search or None, HEADLINE_LIMIT,
        tuple(langs),
    )
    st.caption(f"Newest first · {len(df)} shown (at most {HEADLINE_LIMIT}) · {fmt_time(start)} → {fmt_time(w.end)}"
               f" · confidence = the model's top probability · *unscored*: no model for the item's language")
    if df.empty:
        st.info("No headlines match these filters in this time range.")
        return
    unscored = df["label"] == UNSCORED
    view = df.drop(columns=["id", "duplicate_of"]).assign(
        copy=df["duplicate_of"].notna().map({True: "copy", False: ""}),
        # an unscored row says why (its language) instead of showing empty cells
        label=df["label"].where(~unscored, "unscored (" + df["lang"].fillna("?").astype(str) + ")"),
        topic=df["topic"].where(df["topic"].notna(), "—"),
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
    st.subheader("Alert history", anchor="alerts")
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
    given_up = cached.failed_deliveries(p.url, p.engine)
    if not given_up.empty:
        st.error(f"{len(given_up)} alert notification(s) were given up and will not be retried "
                 "(max attempts, max age, or target no longer configured): check the receivers.",
                 icon=":material/notifications_off:")
        st.dataframe(given_up, key="failed_deliveries", hide_index=True, column_config={
            "failed_at": st.column_config.DatetimeColumn("Given up (UTC)", format="YYYY-MM-DD HH:mm"),
            "created_at": st.column_config.DatetimeColumn("Queued (UTC)", format="YYYY-MM-DD HH:mm"),
        })
    health = cached.health(p.url, p.engine)
    if health.empty:
        st.info("No consumer instance has reported health yet (`finsentry run` writes it every few seconds).")
        return
    st.dataframe(health, key="health", hide_index=True, column_config={
        "updated_at": st.column_config.DatetimeColumn("Heartbeat (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "items_per_s": st.column_config.NumberColumn("Items/s", format="%.1f"),
    })
