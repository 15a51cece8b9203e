"""Plotly figures of the dashboard: DataFrames in, figures out (no I/O, no Streamlit)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import plotly.graph_objects as go

from dashboard.theme import (
    ALERT_COLOR,
    EPISODE_FILL,
    LABEL_COLORS,
    LABELS,
    NEGATIVE_SCALE,
    SERIES_COLORS,
    SEVERITY_COLORS,
)

# No plotly template: Streamlit's chart theme styles the figures in the browser, and building a
# template per figure costs ~20 ms of deep copies on every render.
_LAYOUT = dict(
    margin=dict(l=8, r=8, t=30, b=8),
    legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0),
    hovermode="x unified",
    font=dict(size=12),
)


def series_name(key_type: str, key: str) -> str:
    return "All news" if key_type == "all" else f"{key_type}: {key}"


def on_grid(series: pd.DataFrame, start: datetime, end: datetime, bin_s: int) -> pd.DataFrame:
    """Each named series on the full step grid of [start, end): a step without items is a NaN row,
    so the line breaks there (a gap is drawn as a gap, never interpolated)."""
    if series.empty:
        return series
    t0 = pd.Timestamp(start).floor(f"{bin_s}s")
    grid = pd.date_range(t0, pd.Timestamp(end), freq=f"{bin_s}s", inclusive="left")
    parts = []
    for name, s in series.groupby("name", sort=False):
        g = s.set_index("t").reindex(grid.union(pd.DatetimeIndex(s["t"])))
        g.index.name = "t"
        parts.append(g.reset_index().assign(name=name))
    return pd.concat(parts, ignore_index=True)


def index_chart(
    series: pd.DataFrame,
    alerts: pd.DataFrame,
    start: datetime,
    end: datetime,
    bin_s: int,
    height: int = 340,
    min_n: int = 1,
) -> go.Figure:
    """Sentiment index (-1..1) per series on the step grid; empty steps are gaps.

    ``series``: columns name, t, index, n. ``alerts``: started_at, resolved_at (NaT = still
    firing), label (hover text), shaded (bool: the alert's key is drawn, so its episode is shaded).
    Every alert gets an onset marker ▼, whichever key it is on.
    """
    fig = go.Figure()
    grid = on_grid(series, start, end, bin_s)
    names = list(dict.fromkeys(grid["name"])) if not grid.empty else []
    for i, name in enumerate(names):
        s = grid[grid["name"] == name]
        y = s["index"].where(s["n"] >= min_n)
        fig.add_trace(go.Scatter(
            x=s["t"], y=y, name=name, mode="lines+markers", connectgaps=False,
            line=dict(width=2.6 if i == 0 else 1.8, color=SERIES_COLORS[i % len(SERIES_COLORS)]),
            marker=dict(size=5 if i == 0 else 4),
            customdata=s[["n"]].fillna(0), hovertemplate="%{y:.2f} (n=%{customdata[0]:.0f})",
        ))
    if not alerts.empty:
        for ep in alerts[alerts["shaded"]].itertuples():
            x1 = end if pd.isna(ep.resolved_at) else ep.resolved_at
            fig.add_vrect(x0=max(ep.started_at, pd.Timestamp(start)), x1=x1, fillcolor=EPISODE_FILL,
                          line_width=0, layer="below")
        onsets = alerts[alerts["started_at"] >= pd.Timestamp(start)]
        fig.add_trace(go.Scatter(
            x=onsets["started_at"], y=[0.92] * len(onsets), mode="markers", name="alert",
            marker=dict(symbol="triangle-down", size=12, color=ALERT_COLOR, line=dict(width=1, color="white")),
            text=onsets["label"], hovertemplate="%{text}<extra>alert</extra>",
        ))
    fig.add_hline(y=0, line=dict(color="#888", width=1, dash="dot"))
    fig.update_layout(**_LAYOUT, height=height, yaxis=dict(range=[-1, 1], title="sentiment index", zeroline=False))
    fig.update_xaxes(range=[start, end])
    return fig


def alert_timeline(alerts: pd.DataFrame, start: datetime, end: datetime, height: int | None = None) -> go.Figure:
    """One row per alerting key, a bar per episode from onset to resolution (or now), by severity.

    ``alerts``: name, severity, started_at, resolved_at (NaT = firing), label.
    """
    fig = go.Figure()
    t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    for sev in ("critical", "warning"):
        part = alerts[alerts["severity"] == sev]
        if part.empty:
            continue
        xs: list[object] = []
        ys: list[object] = []
        texts: list[object] = []
        for a in part.itertuples():
            a0 = max(a.started_at, t0)
            a1 = t1 if pd.isna(a.resolved_at) else min(a.resolved_at, t1)
            xs += [a0, a1, None]
            ys += [a.name, a.name, None]
            texts += [a.label, a.label, None]
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines+markers", name=sev, text=texts, hovertemplate="%{text}<extra></extra>",
            line=dict(width=9, color=SEVERITY_COLORS[sev]), marker=dict(size=9, symbol="line-ns-open"),
        ))
    rows = alerts["name"].nunique() if not alerts.empty else 1
    fig.update_layout(**{**_LAYOUT, "hovermode": "closest"}, height=height or 90 + 26 * rows,
                      yaxis=dict(autorange="reversed", type="category"))
    fig.update_xaxes(range=[start, end])
    return fig


def language_chart(langs: pd.DataFrame, start: datetime, end: datetime, height: int = 220) -> go.Figure:
    """Items per step by language, stacked; unscored languages (no model) hatched.

    ``langs``: t, lang, n, scored (bool).
    """
    fig = go.Figure()
    order = langs.groupby("lang")["n"].sum().sort_values(ascending=False).index
    for i, lang in enumerate(order):
        s = langs[langs["lang"] == lang]
        scored = bool(s["scored"].any())
        fig.add_trace(go.Bar(
            x=s["t"], y=s["n"], name=lang if scored else f"{lang} (unscored)", marker_line_width=0,
            marker=dict(color=SERIES_COLORS[i % len(SERIES_COLORS)], pattern=dict(shape="" if scored else "x")),
        ))
    fig.update_layout(**_LAYOUT, height=height, barmode="stack", bargap=0.05, yaxis=dict(title="items"))
    fig.update_xaxes(range=[start, end])
    return fig


def volume_chart(all_series: pd.DataFrame, start: datetime, end: datetime, height: int = 190) -> go.Figure:
    """Stacked items per bin by label (syndicated copies shown apart, hatched)."""
    fig = go.Figure()
    for label in LABELS:
        fig.add_trace(go.Bar(x=all_series["t"], y=all_series[f"n_{label}"], name=label,
                             marker_color=LABEL_COLORS[label], marker_line_width=0))
    fig.add_trace(go.Bar(x=all_series["t"], y=all_series["n_duplicates"], name="syndicated copies",
                         marker=dict(color="#d0d4d8", pattern=dict(shape="/")), marker_line_width=0))
    fig.update_layout(**_LAYOUT, height=height, barmode="stack", bargap=0.05, yaxis=dict(title="items"))
    fig.update_xaxes(range=[start, end])
    return fig


def topic_heatmap(topics: pd.DataFrame, min_n: int = 3, height: int = 420) -> go.Figure:
    """Topic x time negative share (cells with fewer than ``min_n`` items left blank)."""
    df = topics.copy()
    df.loc[df["n"] < min_n, "neg_share"] = float("nan")
    share = df.pivot(index="key", columns="t", values="neg_share")
    counts = df.pivot(index="key", columns="t", values="n").reindex_like(share)
    order = df.groupby("key")["n"].sum().sort_values().index  # busiest topic on top
    share, counts = share.reindex(order), counts.reindex(order)
    fig = go.Figure(go.Heatmap(
        z=share.to_numpy(), x=list(share.columns), y=list(share.index), zmin=0, zmax=1,
        colorscale=NEGATIVE_SCALE, customdata=counts.fillna(0).to_numpy(), xgap=1, ygap=1,
        colorbar=dict(title="neg. share", tickformat=".0%", thickness=12),
        hovertemplate="%{y}<br>%{x}<br>negative %{z:.0%} of %{customdata:.0f}<extra></extra>",
    ))
    fig.update_layout(**{**_LAYOUT, "hovermode": "closest"}, height=height)
    fig.update_yaxes(tickfont=dict(size=11))
    return fig
