"""The monitor's warm-up on the page (``store.reads.warmup``): while the detector is still learning
its baselines a calm page does not yet mean a calm stream, so the page says so above the alerts."""

from __future__ import annotations

import streamlit as st

from dashboard import cached
from dashboard.context import Page
from finsentry.settings import Settings
from store.reads.warmup import WarmupNeeds, WarmupState


def needs_of(settings: Settings) -> WarmupNeeds:
    """What the detector needs, from the one settings object (as ``finsentry status`` reads it)."""
    return WarmupNeeds(
        block_s=settings.detector_block_s, block_min_items=settings.detector_block_min_items,
        min_blocks=settings.detector_min_blocks, baseline_s=settings.detector_baseline_s,
        dense_warmup_s=settings.detector_volume_dense_warmup_s,
    )


def warmup_text(state: WarmupState) -> str | None:
    """One line while warming up, None once ready or before any item (pure)."""
    if state.phase != "warming up":
        return None
    share = ("its own baseline" if state.share_baseline == "own"
             else "the shipped prior: only an overwhelming surge can fire")
    ready = [name for name, ok in (("companies", state.volume_ready),
                                   ("topics and the whole stream", state.dense_volume_ready)) if ok]
    volume = f"the volume test runs on {' and '.join(ready)}" if ready else "the volume test is not running yet"
    return (f"{state.history_h:.1f} h of stream so far; {state.blocks}/{state.blocks_needed} hourly blocks with enough "
            f"items. The share test uses {share}; {volume}. Missing alerts now do not yet mean a calm stream.")


def warmup_note(p: Page, needs: WarmupNeeds) -> None:
    text = warmup_text(cached.warmup(p.url, p.engine, needs))
    if text:
        st.info(f"**The monitor is warming up.** {text}", icon=":material/hourglass_top:")
