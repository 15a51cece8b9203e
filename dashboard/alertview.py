"""The alert-first view at the top of the page: what fired, on which key, why, and when.

Firing alerts and the alerts of the selected range come first, each with its key's sentiment
chart (episode shaded), its evidence headlines and, when the detector names one, its story.
A timeline draws every alerting key's episodes across the range, so an alert that fired and
resolved between two refreshes is still on screen.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import cached, charts, notify
from dashboard.context import Page
from dashboard.formatting import fmt_time, num, pct
from dashboard.overview import alert_banner_order
from store.reads import evidence_frame

MAX_CARDS = 3
# Alerts of this much event time before "now" are checked for news at each refresh: a fast replay
# moves the watermark by hours between two refreshes, past the end of a short range.
ANNOUNCE_SPAN = timedelta(days=7)


def display_name(key_type: str, key: str, entity: object) -> str:
    """The key as a reader knows it: the detector's display name when it gives one (companies)."""
    base = charts.series_name(key_type, key)
    name = entity.strip() if isinstance(entity, str) else ""
    return f"{base} ({name})" if name and name.lower() != key.lower() else base


def story_text(story: object, size: object) -> str | None:
    """The alert's story ("Regulators close SVB · 14 headlines") when the detector named one."""
    if not isinstance(story, str) or not story.strip():
        return None
    n = int(size) if isinstance(size, int | float) and not pd.isna(size) and size > 0 else 0
    return f"{story.strip()} · {n} headlines" if n else story.strip()


def labelled(alerts: pd.DataFrame) -> pd.DataFrame:
    """Alerts with ``name`` (display name) and ``label`` (hover text) columns (pure)."""
    if alerts.empty:
        return alerts.assign(name=pd.Series(dtype=object), label=pd.Series(dtype=object))
    names = [display_name(r.key_type, r.key, r.entity) for r in alerts.itertuples()]
    labels = [f"{r.severity} · {n} · {r.status}: {pct(r.share)} vs {pct(r.baseline)} · since {fmt_time(r.started_at)}"
              for r, n in zip(alerts.itertuples(), names, strict=True)]
    return alerts.assign(name=names, label=labels)


def alerts_now(p: Page, active: pd.DataFrame, hist: pd.DataFrame, sound: bool) -> None:
    w = p.win
    both = labelled(pd.concat([active, hist], ignore_index=True).drop_duplicates("id")
                    if not active.empty else hist)
    st.subheader("Alerts now", anchor="alerts-now")
    recent = cached.alert_history(p.url, p.engine, w.end - ANNOUNCE_SPAN, w.end)
    pool = labelled(pd.concat([active, recent], ignore_index=True).drop_duplicates("id")
                    if not active.empty else recent)
    notify.announce(pool, dict(zip(pool["id"], pool["name"], strict=True)) if not pool.empty else {}, sound)
    if both.empty:
        st.success(f"No alert in the range ({w.label}): the news tone is within its usual range.",
                   icon=":material/check_circle:")
        return
    n_firing = int((both["status"] == "firing").sum())
    st.caption(f"{n_firing} firing · {len(both) - n_firing} resolved · range {w.label} · "
               "every alerting key's episodes below (▮ from onset to resolution)")
    st.plotly_chart(charts.alert_timeline(both, w.start, w.end), key="alert_timeline",
                    config={"displaylogo": False})
    ordered = alert_banner_order(both)
    for a in ordered.head(MAX_CARDS).itertuples():
        _card(p, a)
    if len(ordered) > MAX_CARDS:
        st.caption(f"… and {len(ordered) - MAX_CARDS} more alert(s) in the range: see **Alert history** below.")


def _card(p: Page, a: Any) -> None:  # noqa: ANN401 - a row of DataFrame.itertuples()
    w = p.win
    firing = a.status == "firing"
    sev = str(a.severity)
    head = (f"**{sev.upper()}** · **{a.name}** — "
            f"{'firing since' if firing else 'resolved'} "
            f"{fmt_time(a.started_at if firing else a.resolved_at)} · negative share "
            f"{pct(a.share)} vs baseline {pct(a.baseline)} · statistic "
            f"{num(a.statistic, '.1f')} · {num(a.window_n, ',.0f')} items")
    with st.container(border=True, key=f"alert_card_{_slug(str(a.id))}"):
        if firing and sev == "critical":
            st.error(head, icon=":material/crisis_alert:")
        elif firing:
            st.warning(head, icon=":material/warning:")
        else:
            st.info(head, icon=":material/history:")
        story = story_text(a.story, a.story_size)
        if story:
            st.markdown(f"**Story:** {story}")
        left, right = st.columns([3, 2])
        key_type, key = str(a.key_type), str(a.key)
        s = cached.series(p.url, p.engine, key_type, (key,), w.start, w.end, w.bin_s)
        ep = pd.DataFrame([{"started_at": a.started_at, "resolved_at": a.resolved_at,
                            "label": a.label, "shaded": True}])
        with left:
            st.plotly_chart(charts.index_chart(s.assign(name=a.name), ep, w.start, w.end, w.bin_s,
                                               height=220),
                            key=f"alert_chart_{_slug(str(a.id))}", config={"displaylogo": False})
        with right:
            ev = evidence_frame(a.evidence)
            if ev.empty:
                st.caption("This alert carries no evidence headlines.")
            else:
                lines = [f"- {_clip(str(r.text))} — *{r.source or '?'}*"
                         + (f" ({r.score:+.2f})" if isinstance(r.score, int | float) else "")
                         for r in ev.head(5).itertuples()]
                st.markdown("**Evidence headlines**\n\n" + "\n".join(lines))


def _clip(text: str, n: int = 160) -> str:
    text = " ".join(text.split()).replace("[", "(").replace("]", ")")
    return text if len(text) <= n else text[: n - 1] + "…"


def _slug(s: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in s)[:60]
