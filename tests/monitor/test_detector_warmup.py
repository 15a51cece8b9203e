"""Warm-up state read from the store (what `finsentry status` prints) on a real SQLite store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from finsentry.records import Counts
from store import Store
from store.reads.warmup import WarmupNeeds, warmup_state
from tests.monitor.synthetic import T0

NEEDS = WarmupNeeds(block_s=3600, block_min_items=5, min_blocks=6, baseline_s=7 * 86400,
                    volume_warmup_s=2 * 3600, dense_warmup_s=86400)


def _fill(store: Store, hours: int) -> None:
    rows = {("all", "*", T0 + timedelta(minutes=10 * i)): Counts(n_negative=1, n_neutral=2) for i in range(hours * 6)}
    with store.transaction() as txn:
        txn.add_buckets(rows)


def test_warmup_moves_from_empty_through_prior_to_ready(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        assert warmup_state(store.engine, NEEDS).phase == "empty"
        _fill(store, 3)
        young = warmup_state(store.engine, NEEDS)
        assert young.phase == "warming up" and young.share_baseline == "shipped prior"
        assert young.volume_ready and not young.dense_volume_ready and young.blocks == 3
        _fill(store, 30)
        grown = warmup_state(store.engine, NEEDS)
        assert grown.phase == "ready" and grown.share_baseline == "own" and grown.dense_volume_ready
        assert not grown.baseline_complete and grown.as_dict()["first"] == T0.isoformat()
    finally:
        store.close()


def test_status_prints_the_warmup(tmp_path: Path) -> None:
    from app.cli import app

    url = f"sqlite:///{tmp_path / 's.db'}"
    store = Store(url)
    _fill(store, 3)
    store.close()
    out = CliRunner().invoke(app, ["status", "--store", url])
    assert out.exit_code == 0, out.output
    assert "monitor        warming up: 2.83 h of stream" in out.output
