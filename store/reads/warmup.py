"""How far the monitor is through its warm-up, read from the whole-stream rollup.

The detector's tests need history (docs/monitor.md): the share test wants ``min_blocks`` blocks of
the whole stream with at least ``block_min_items`` items each before it trusts its own baseline
(until then it uses the shipped prior, which only lets an overwhelming surge fire); the volume test
on companies needs ``volume_warmup_s`` of stream, on topics and the whole stream
``dense_warmup_s``; the baseline is complete after ``baseline_s``. ``finsentry status`` prints this
and the dashboard shows it.

    warmup_state(engine, WarmupNeeds()).phase  # 'empty' | 'warming up' | 'ready'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, select

from store.reads._db import Connectable, connect, translated, utc
from store.schema import buckets

Phase = Literal["empty", "warming up", "ready"]


@dataclass(frozen=True, slots=True)
class WarmupNeeds:
    """What the detector needs (from the settings: ``detector_*``)."""

    block_s: int = 3600
    block_min_items: int = 5
    min_blocks: int = 6
    baseline_s: int = 7 * 86_400
    volume_warmup_s: int = 2 * 3600
    dense_warmup_s: int = 86_400


@dataclass(frozen=True, slots=True)
class WarmupState:
    phase: Phase
    first: datetime | None  # oldest whole-stream bucket
    last: datetime | None  # newest whole-stream bucket
    history_h: float  # event time between them
    blocks: int  # whole-stream blocks with enough items within the last baseline_s
    blocks_needed: int
    share_baseline: Literal["none", "shipped prior", "own"]
    volume_ready: bool  # the volume test on companies runs
    dense_volume_ready: bool  # the volume test on topics and the whole stream runs
    baseline_complete: bool  # a full baseline_s of history

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["first"] = self.first.isoformat() if self.first else None
        d["last"] = self.last.isoformat() if self.last else None
        return d


@translated
def warmup_state(db: Connectable, needs: WarmupNeeds) -> WarmupState:
    """The warm-up of the stream in the store (``empty`` when nothing has been counted yet)."""
    whole = and_(buckets.c.key_type == "all", buckets.c.key == "*")
    with connect(db) as conn:
        first = conn.execute(select(buckets.c.bucket_start).where(whole).order_by(buckets.c.bucket_start).limit(1))
        first_v = first.scalar()
        last_v = conn.execute(
            select(buckets.c.bucket_start).where(whole).order_by(buckets.c.bucket_start.desc()).limit(1)
        ).scalar()
        if first_v is None or last_v is None:
            return WarmupState("empty", None, None, 0.0, 0, needs.min_blocks, "none", False, False, False)
        first_t, last_t = utc(first_v), utc(last_v)
        since = last_t - timedelta(seconds=needs.baseline_s)
        rows = conn.execute(
            select(buckets.c.bucket_start, buckets.c.n_negative + buckets.c.n_neutral + buckets.c.n_positive)
            .where(whole, buckets.c.bucket_start >= since, buckets.c.bucket_start < last_t)
        ).all()
    per_block: dict[int, int] = {}
    for ts, n in rows:
        b = int(utc(ts).timestamp()) // needs.block_s
        per_block[b] = per_block.get(b, 0) + int(n or 0)
    blocks = sum(1 for n in per_block.values() if n >= needs.block_min_items)
    span_s = (last_t - first_t).total_seconds()
    own = blocks >= needs.min_blocks
    complete = span_s >= needs.baseline_s
    return WarmupState(
        phase="ready" if own and span_s >= needs.dense_warmup_s else "warming up",
        first=first_t, last=last_t, history_h=round(span_s / 3600.0, 2), blocks=blocks,
        blocks_needed=needs.min_blocks, share_baseline="own" if own else "shipped prior",
        volume_ready=span_s >= needs.volume_warmup_s, dense_volume_ready=span_s >= needs.dense_warmup_s,
        baseline_complete=complete,
    )  # fmt: skip
