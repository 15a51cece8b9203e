"""New-alert notices: a toast on every new firing alert, and (opt-in) a short sound.

The page remembers which firing alerts it has already announced in the session, so an alert
that fires and resolves between two refreshes is still announced once it is seen (it stays in
the "recent alerts" list of the range as well). Browsers play sound only after the user has
interacted with the page; ticking the option in the sidebar is that interaction.
"""

from __future__ import annotations

import io
import math
import struct
import wave
from functools import lru_cache

import pandas as pd
import streamlit as st

SEEN_KEY = "_announced_alerts"


@lru_cache(maxsize=1)
def chime(rate: int = 16_000) -> bytes:
    """Two short tones as a WAV file (generated: no asset to ship)."""
    frames = bytearray()
    for freq, dur in ((880.0, 0.18), (660.0, 0.28)):
        n = int(rate * dur)
        for i in range(n):
            fade = min(1.0, (n - i) / (0.05 * rate))
            frames += struct.pack("<h", int(12_000 * fade * math.sin(2 * math.pi * freq * i / rate)))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return buf.getvalue()


def new_alert_ids(alerts: pd.DataFrame, seen: set[str]) -> list[str]:
    """Ids of alerts not announced yet, oldest onset first (pure)."""
    if alerts.empty:
        return []
    fresh = alerts[~alerts["id"].isin(seen)].sort_values("started_at")
    return [str(i) for i in fresh["id"]]


def announce(alerts: pd.DataFrame, names: dict[str, str], sound: bool) -> list[str]:
    """Toast each alert not announced in this session yet; chime once when asked to. Returns the new ids.

    ``alerts``: the firing ones and those of the recent past. On the session's first render only the
    firing ones are news (the resolved past is marked seen); afterwards every unseen id is, even
    one that fired and resolved between two refreshes.
    """
    if SEEN_KEY not in st.session_state:
        past = alerts[alerts["status"] != "firing"]["id"] if not alerts.empty else []
        st.session_state[SEEN_KEY] = {str(i) for i in past}
    seen: set[str] = st.session_state[SEEN_KEY]
    fresh = new_alert_ids(alerts, seen)
    for alert_id in fresh[-3:]:
        st.toast(f"New alert: {names.get(alert_id, alert_id)}", icon=":material/crisis_alert:")
    seen.update(fresh)
    if fresh and sound:
        st.audio(chime(), format="audio/wav", autoplay=True)
    return fresh
