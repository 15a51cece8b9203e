"""The first screen: overview cards, the alert banners' order, the topic heat used by the trends."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from dashboard import cached, charts
from dashboard.context import (
    BASELINE,
    CURRENT,
    MAX_BANNERS,
    Page,
)
from dashboard.formatting import fmt_time, heartbeat_note, num, pct
from dashboard.timerange import bin_seconds


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
    c[0].metric(
        "Items / min",
        f"{per_min:,.1f}",
        help="Scored items (incl. syndicated copies) per minute, last 15 min.",
        border=True,
        height="stretch",
        chart_data=((spark["n"] + spark["n_duplicates"]) / per_bin_min).round(1).tolist() or None,
        chart_type="bar",
    )
    d_share = (
        None
        if math.isnan(now["neg_share"]) or math.isnan(base["neg_share"])
        else (now["neg_share"] - base["neg_share"]) * 100
    )
    c[1].metric(
        "Negative share",
        pct(now["neg_share"]),
        delta=None if d_share is None else f"{d_share:+.1f} pp vs 24 h",
        delta_color="inverse",
        border=True,
        height="stretch",
        help=f"Last 15 min vs the 24 h before it ({pct(base['neg_share'])}).",
        chart_data=(spark["neg_share"].fillna(0) * 100).round(1).tolist() or None,
        chart_type="area",
    )
    d_index = None if math.isnan(now["index"]) or math.isnan(base["index"]) else now["index"] - base["index"]
    c[2].metric(
        "Sentiment index",
        num(now["index"], "+.2f"),
        delta=None if d_index is None else f"{d_index:+.2f} vs 24 h",
        border=True,
        height="stretch",
        chart_data=spark["index"].fillna(0).round(3).tolist() or None,
        help="Mean of p(positive) − p(negative), last 15 min (−1 … +1).",
    )
    n_crit = int((active["severity"] == "critical").sum()) if not active.empty else 0
    c[3].metric(
        "Active alerts",
        len(active),
        delta=f"{n_crit} critical" if n_crit else "none critical",
        delta_color="inverse" if n_crit else "off",
        delta_arrow="off",
        border=True,
        height="stretch",
    )
    if health.empty:
        c[4].metric("Items / s (pipeline)", "—", help="No consumer has reported yet.", border=True, height="stretch")
        c[5].metric("Dead-lettered", "—", border=True, height="stretch")
    else:
        c[4].metric(
            "Items / s (pipeline)",
            f"{health['items_per_s'].sum():,.0f}/s",
            delta=f"lag {int(health['lag'].sum()):,}",
            delta_color="off",
            delta_arrow="off",
            border=True,
            height="stretch",
        )
        c[5].metric(
            "Dead-lettered",
            f"{int(health['dead_lettered'].sum()):,}",
            delta=f"of {int(health['consumed'].sum()):,} consumed",
            delta_color="off",
            delta_arrow="off",
            border=True,
            height="stretch",
        )
    models = (
        ", ".join(
            sorted(
                {
                    f"{m} on {pv}"
                    for m, pv in zip(health.get("model_version", []), health.get("provider", []), strict=True)
                }
            )
        )
        or "—"
    )
    last_beat = health["updated_at"].max() if not health.empty else None
    silent = heartbeat_note(last_beat, datetime.now(UTC))
    st.caption(
        f"Model {models} · {len(health)} consumer instance(s) · last heartbeat {fmt_time(last_beat)}{silent} · "
        f"{unscored:,} item(s) in the range in languages no model covers (shown, not scored)."
    )
    for a in alert_banner_order(active).head(MAX_BANNERS).itertuples():
        text = (
            f"**{a.severity.upper()}** · **{charts.series_name(a.key_type, a.key)}** — negative share "
            f"{pct(a.share)} vs baseline {pct(a.baseline)} · statistic {num(a.statistic, '.1f')} · "
            f"firing since {fmt_time(a.started_at)}"
        )
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
    keyed = active.assign(
        _sev=(active["severity"] != "critical").astype(int), _kt=active["key_type"].map(rank).fillna(9)
    )
    return keyed.sort_values(["_sev", "_kt", "started_at"], ascending=[True, True, False]).drop(columns=["_sev", "_kt"])


def topic_heat(p: Page) -> tuple[pd.DataFrame, list[str]]:
    """Every topic's binned rollup (topics are a bounded set) and the topics by volume."""
    w = p.win
    heat = cached.series(
        p.url, p.engine, "topic", None, w.start, w.end, max(w.bin_s, bin_seconds(w.span, 96, bucket_s=w.bin_s))
    )
    ranked = heat.groupby("key")["n"].sum().sort_values(ascending=False).index.tolist() if not heat.empty else []
    return heat, ranked
