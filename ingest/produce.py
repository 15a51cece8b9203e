"""Publish a news file (JSONL or CSV, optionally .gz) to Kafka: as fast as possible, at a fixed
rate, or replayed by ``published_at`` at X times real time.

Rows are sent as they are (the consumer validates them); CSV rows become JSON objects with
their column names (empty cells dropped).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from finsentry.errors import DataError
from finsentry.logs import get_logger
from ingest.contract import encode, parse_time

log = get_logger(__name__)

BUNDLED = Path(__file__).resolve().parent.parent / "data" / "streams"


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")  # noqa: SIM115


def read_rows(path: str | Path) -> Iterator[dict[str, Any]]:
    """Rows of a ``.jsonl``/``.json``/``.csv`` file (``.gz`` allowed)."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"no such file: {p}")
    kind = p.name.removesuffix(".gz").rsplit(".", 1)[-1].lower()
    try:
        with _open_text(p) as fh:
            if kind in ("jsonl", "ndjson", "json"):
                for n, line in enumerate(fh, 1):
                    if line.strip():
                        try:
                            yield json.loads(line)
                        except json.JSONDecodeError as exc:
                            raise DataError(f"{p}:{n}: not JSON ({exc})") from exc
            elif kind == "csv":
                for row in csv.DictReader(fh):
                    yield {k: v for k, v in row.items() if k and v not in (None, "")}
            else:
                raise DataError(f"{p}: expected .jsonl or .csv (optionally .gz)")
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise DataError(f"cannot read {p}: {exc}") from exc


def _event_time(row: dict[str, Any]) -> datetime | None:
    v = row.get("published_at")
    if not isinstance(v, str):
        return None
    try:
        return parse_time(v)
    except Exception:  # noqa: BLE001 - invalid rows are sent anyway (the consumer dead-letters them)
        return None


def schedule(rows: list[dict[str, Any]], rate: float | None = None, speedup: float | None = None,
             max_gap_s: float | None = None) -> list[float]:
    """Send offsets in seconds from the start, per row (pure: tested without Kafka).

    ``rate``: rows per second. ``speedup``: replay ``published_at`` gaps divided by X (rows sorted
    by the file order; a row without a usable time goes with its predecessor). ``max_gap_s``
    caps a single quiet gap in replay time (nights, weekends). Neither: all at 0 (full speed).
    """
    if rate:
        return [i / rate for i in range(len(rows))]
    if not speedup:
        return [0.0] * len(rows)
    out, t, prev = [], 0.0, None
    for row in rows:
        ts = _event_time(row)
        if ts is not None and prev is not None:
            gap = max(0.0, (ts - prev).total_seconds()) / speedup
            t += min(gap, max_gap_s) if max_gap_s else gap
        if ts is not None:
            prev = ts
        out.append(t)
    return out


def produce(send: Callable[[bytes, bytes | None], None], rows: Iterable[dict[str, Any]], rate: float | None = None,
            speedup: float | None = None, max_gap_s: float | None = None, stop: threading.Event | None = None,
            progress: bool = True, flush: Callable[[], object] | None = None) -> int:
    """Send every row through ``send(value, key)``; returns how many were sent (and accepted, when
    ``flush`` returns the refused records, as ``Sink.flush`` does)."""
    rows = list(rows)
    when = schedule(rows, rate, speedup, max_gap_s)
    stop = stop or threading.Event()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(rows), unit="msg", desc="produce", mininterval=0.5)
    t0 = time.monotonic()
    sent = 0
    try:
        for row, at in zip(rows, when, strict=True):
            wait = at - (time.monotonic() - t0)
            if wait > 0 and stop.wait(wait):
                break
            if stop.is_set():
                break
            key = row.get("id")
            send(encode(row), str(key).encode() if key is not None else None)
            sent += 1
            if bar is not None:
                bar.update(1)
    finally:
        refused = flush() if flush is not None else None
        if isinstance(refused, list) and refused:
            sent -= len(refused)
            log.warning("produce.refused", records=len(refused), first_error=str(getattr(refused[0], "error", "")))
        if bar is not None:
            bar.close()
    return sent
