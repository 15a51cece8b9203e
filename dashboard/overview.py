"""Overview cards of the selected range, the alerts' display order, the topic heat used by the trends."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from dashboard import cached
from dashboard.context import Page
from dashboard.formatting import fmt_time, heartbeat_note, num, pct
from dashboard.timerange import Window, bin_seconds


def overview(p: Page, active: pd.DataFrame, hist: pd.DataFrame) -> None:
    """Cards over the selected range (their window in the title), compared with the window before it."""
    w = p.win
    now = cached.totals(p.url, p.engine, w.start, w.end)
    has_base = w.start - w.span >= p.first - w.span / 2  # the store reaches (mostly) back that far
    base = cached.totals(p.url, p.engine, w.start - w.span, w.start) if has_base else None
    health = cached.health(p.url, p.engine)
    unscored = cached.unscored_count(p.url, p.engine, w.start, w.end)
    spark = cached.series(p.url, p.engine, "all", ("*",), w.start, w.end, w.bin_s)
    minutes = max(w.span.total_seconds() / 60, 1.0)
    per_step_min = w.bin_s / 60
    vs = f"vs the {w.label} before" if base is not None else ""
    st.subheader("Overview", anchor="overview")
    c = st.columns(4)
    items = now["n"] + now["n_duplicates"]
    c[0].metric(
        f"Items / min · {w.label}", f"{items / minutes:,.1f}",
        delta=f"{items:,.0f} items", delta_color="off", delta_arrow="off", border=True, height="stretch",
        help="Scored items (incl. syndicated copies) per minute over the selected range.",
        chart_data=((spark["n"] + spark["n_duplicates"]) / per_step_min).round(1).tolist() or None,
        chart_type="bar",
    )
    d_share = _diff(now["neg_share"], None if base is None else base["neg_share"])
    c[1].metric(
        f"Negative share · {w.label}", pct(now["neg_share"]),
        delta=None if d_share is None else f"{d_share * 100:+.1f} pp", delta_color="inverse",
        border=True, height="stretch",
        help=f"Negative items / scored items over the range; change {vs} ({pct(base['neg_share'])})."
        if base is not None else "Negative items / scored items over the range.",
        chart_data=(spark["neg_share"].dropna() * 100).round(1).tolist() or None, chart_type="area",
    )
    d_index = _diff(now["index"], None if base is None else base["index"])
    c[2].metric(
        f"Sentiment index · {w.label}", num(now["index"], "+.2f"),
        delta=None if d_index is None else f"{d_index:+.2f}", border=True, height="stretch",
        chart_data=spark["index"].dropna().round(3).tolist() or None,
        help=f"Mean of p(positive) − p(negative) over the range (−1 … +1); change {vs}.",
    )
    n_crit = int((active["severity"] == "critical").sum()) if not active.empty else 0
    c[3].metric(
        f"Alerts · {w.label}", f"{len(hist)}",
        delta=f"{len(active)} firing" + (f", {n_crit} critical" if n_crit else ""),
        delta_color="inverse" if len(active) else "off", delta_arrow="off", border=True, height="stretch",
        help="Alert episodes overlapping the range; firing = not resolved yet.",
    )
    c = st.columns(4)
    if health.empty:
        c[0].metric("Pipeline items / s", "—", help="No consumer has reported yet.", border=True, height="stretch")
        c[1].metric("Dead-lettered", "—", border=True, height="stretch")
    else:
        c[0].metric(
            "Pipeline items / s", f"{health['items_per_s'].sum():,.0f}/s",
            delta=f"lag {int(health['lag'].sum()):,}", delta_color="off", delta_arrow="off", border=True,
            height="stretch", help="Throughput and consumer lag summed over the consumer instances (now).",
        )
        c[1].metric(
            "Dead-lettered", f"{int(health['dead_lettered'].sum()):,}",
            delta=f"{int(health['consumed'].sum()):,} consumed", delta_color="off", delta_arrow="off",
            border=True, height="stretch", help="Invalid records sent to the dead-letter topic, since start.",
        )
    c[2].metric(
        f"Unscored · {w.label}", f"{unscored:,}", border=True, height="stretch",
        help="Items in a language no model covers: stored and shown, not scored.",
    )
    last_beat = health["updated_at"].max() if not health.empty else None
    c[3].metric(
        "Consumers", f"{len(health)}", border=True, height="stretch",
        delta=f"beat {fmt_time(last_beat)[11:16]}" if last_beat is not None else None, delta_color="off",
        delta_arrow="off", help="Consumer instances that wrote health; their last heartbeat (wall time, UTC).",
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
    silent = heartbeat_note(last_beat, datetime.now(UTC))
    st.caption(
        f"Model {models} · {len(health)} consumer instance(s) · last heartbeat {fmt_time(last_beat)}{silent} · "
        f"{unscored:,} item(s) in the range in languages no model covers (shown, not scored) · "
        + (f"changes are {vs}." if base is not None else "no earlier window of this length to compare with.")
    )


def _diff(now: float, base: float | None) -> float | None:
    return None if base is None or math.isnan(now) or math.isnan(base) else now - base


def alert_banner_order(alerts: pd.DataFrame) -> pd.DataFrame:
    """Firing first (critical, then the whole stream before its parts, then the newest onset);
    then resolved ones, newest onset first."""
    if alerts.empty:
        return alerts
    rank = {"all": 0, "topic": 1, "entity": 2, "ticker": 3, "source": 4}
    resolved = (alerts["status"] != "firing").astype(int)
    keyed = alerts.assign(
        _st=resolved,
        _sev=(alerts["severity"] != "critical").astype(int) * (1 - resolved),
        _kt=alerts["key_type"].map(rank).fillna(9) * (1 - resolved),
    )
    order = ["_st", "_sev", "_kt", "started_at"]
    return keyed.sort_values(order, ascending=[True, True, True, False]).drop(columns=order[:3])


def heat_step(w: Window) -> int:
    """~24-36 columns: a topic x time grid needs more items per cell than a line needs per step."""
    return max(w.bin_s, bin_seconds(w.span, 36, bucket_s=w.bin_s))


def topic_heat(p: Page) -> tuple[pd.DataFrame, list[str]]:
    """Every topic's binned rollup (topics are a bounded set) and the topics by volume."""
    w = p.win
    heat = cached.series(p.url, p.engine, "topic", None, w.start, w.end, heat_step(w))
    ranked = heat.groupby("key")["n"].sum().sort_values(ascending=False).index.tolist() if not heat.empty else []
    return heat, ranked
