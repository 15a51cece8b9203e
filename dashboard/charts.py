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


def index_chart(
    series: pd.DataFrame,
    episodes: pd.DataFrame,
    start: datetime,
    end: datetime,
    height: int = 340,
    min_n: int = 3,
) -> go.Figure:
    """Sentiment index (-1..1) per series; spike episodes shaded, alert onsets marked.

    ``series``: columns name, t, index, n. ``episodes``: name, started_at, resolved_at (NaT =
    still firing), severity, label (hover text). Bins with fewer than ``min_n`` items are gaps.
    """
    fig = go.Figure()
    names = list(dict.fromkeys(series["name"])) if not series.empty else []
    for i, name in enumerate(names):
        s = series[series["name"] == name]
        y = s["index"].where(s["n"] >= min_n)
        fig.add_trace(go.Scatter(
            x=s["t"], y=y, name=name, mode="lines+markers" if len(s) < 40 else "lines", connectgaps=False,
            line=dict(width=2.6 if i == 0 else 1.8, color=SERIES_COLORS[i % len(SERIES_COLORS)]),
            customdata=s[["n"]], hovertemplate="%{y:.2f} (n=%{customdata[0]:.0f})",
        ))
    if not episodes.empty:
        for ep in episodes.itertuples():
            x1 = end if pd.isna(ep.resolved_at) else ep.resolved_at
            fig.add_vrect(x0=max(ep.started_at, pd.Timestamp(start)), x1=x1, fillcolor=EPISODE_FILL,
                          line_width=0, layer="below")
        fig.add_trace(go.Scatter(
            x=episodes["started_at"], y=[0.92] * len(episodes), mode="markers", name="alert",
            marker=dict(symbol="triangle-down", size=12, color=ALERT_COLOR, line=dict(width=1, color="white")),
            text=episodes["label"], hovertemplate="%{text}<extra>alert</extra>",
        ))
    fig.add_hline(y=0, line=dict(color="#888", width=1, dash="dot"))
    fig.update_layout(**_LAYOUT, height=height, yaxis=dict(range=[-1, 1], title="sentiment index", zeroline=False))
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
