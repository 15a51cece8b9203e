"""A realistic, deterministic store for the dashboard's tests and render benchmark.

``seed_store(engine, n_items)`` writes, through ``store.schema``: items (with
syndicated copies and items in a language no model covers), ``item_tickers``, 1-minute
``buckets`` consistent with those items (the service's semantics: unique scored items in
``n_*``, copies in ``n_duplicates``, unscored items kept out), negative-spike episodes with
their ``alerts`` (figures + evidence taken from the burst's own items), ``alert_outbox``
delivery rows and ``pipeline_health`` snapshots. 1,000,000 items build in well under a
minute on SQLite (vectorised generation, raw bulk inserts); ``bench_store`` caches the file.

This is test/benchmark tooling: the dashboard itself never writes to a store.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import JSON, DateTime, Engine, Table, create_engine, event, insert

from finsentry.logs import get_logger
from model.labels import TOPIC_LABELS
from store import schema
from store.schema import (
    alert_outbox,
    alerts,
    buckets,
    item_tickers,
    items,
    metadata,
    pipeline_health,
)

log = get_logger(__name__)

SEED_VERSION = 3
DEFAULT_END = datetime(2023, 3, 13, 16, 0, tzinfo=UTC)
_SQLITE_TS = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's SQLite DateTime storage format

TOPICS = list(TOPIC_LABELS)  # the classifier's own topic names: the seed cannot drift from them
COMPANIES = {
    "AAPL": "Apple",
    "MSFT": "Microsoft",
    "AMZN": "Amazon",
    "GOOGL": "Alphabet",
    "META": "Meta",
    "NVDA": "Nvidia",
    "TSLA": "Tesla",
    "JPM": "JPMorgan",
    "BAC": "Bank of America",
    "WFC": "Wells Fargo",
    "C": "Citigroup",
    "GS": "Goldman Sachs",
    "MS": "Morgan Stanley",
    "SIVB": "SVB Financial",
    "SBNY": "Signature Bank",
    "FRC": "First Republic",
    "SCHW": "Charles Schwab",
    "PACW": "PacWest",
    "XOM": "Exxon Mobil",
    "CVX": "Chevron",
    "PFE": "Pfizer",
    "JNJ": "Johnson & Johnson",
    "KO": "Coca-Cola",
    "WMT": "Walmart",
    "DIS": "Disney",
    "NFLX": "Netflix",
    "INTC": "Intel",
    "AMD": "AMD",
    "BA": "Boeing",
    "CS": "Credit Suisse",
    "UBS": "UBS",
    "HSBC": "HSBC",
    "BRK.B": "Berkshire Hathaway",
    "V": "Visa",
    "MA": "Mastercard",
    "ORCL": "Oracle",
    "CRM": "Salesforce",
    "IBM": "IBM",
    "F": "Ford",
    "GM": "General Motors",
}
SOURCES = [
    "Reuters",
    "Bloomberg",
    "CNBC",
    "Financial Times",
    "Wall Street Journal",
    "MarketWatch",
    "Washington Post",
    "Bankier.pl",
]
SOURCE_WEIGHTS = [0.22, 0.2, 0.16, 0.12, 0.1, 0.1, 0.05, 0.05]
UNSCORED_SOURCE = "Bankier.pl"  # Polish items: no model covers "pl", stored unscored

_NEG = [
    "shares slump after {x}",
    "warns of {x}",
    "faces probe over {x}",
    "hit by {x}",
    "cut to sell by analysts citing {x}",
    "plunges as {x} rattles investors",
]
_NEU = [
    "to report results amid {x}",
    "holds annual meeting, discusses {x}",
    "files update on {x}",
    "names new executive to oversee {x}",
    "says {x} unchanged",
]
_POS = [
    "beats estimates on {x}",
    "raises outlook after {x}",
    "rallies on {x}",
    "upgraded to buy on {x}",
    "announces buyback following {x}",
]
_THEMES = [
    "deposit outflows",
    "rate hikes",
    "cloud demand",
    "supply chain strains",
    "loan losses",
    "strong consumer spending",
    "bond portfolio losses",
    "AI chip demand",
    "oil price swings",
    "regulatory scrutiny",
    "weak guidance",
    "record deliveries",
    "liquidity concerns",
]
# How a headline names its subject when it carries no ticker.
TOPIC_SUBJECTS = {
    "Analyst Update": "Wall Street analysts",
    "Fed | Central Banks": "The Fed",
    "Company | Product News": "Consumer electronics makers",
    "Treasuries | Corporate Debt": "Corporate bond market",
    "Dividend": "Dividend payers",
    "Earnings": "S&P 500 earnings",
    "Energy | Oil": "Oil producers",
    "Financials": "Regional banks",
    "Currencies": "The dollar",
    "General News | Opinion": "Global economy",
    "Gold | Metals | Materials": "Gold miners",
    "IPO": "IPO pipeline",
    "Legal | Regulation": "Regulators",
    "M&A | Investments": "Private equity",
    "Macro": "US economy",
    "Markets": "US stocks",
    "Politics": "Washington",
    "Personnel Change": "Bank boards",
    "Stock Commentary": "Tech stocks",
    "Stock Movement": "Small caps",
}
_PL = [
    "Kurs akcji {c} spada po publikacji wyników",
    "{c}: zarząd rekomenduje wypłatę dywidendy",
    "Analitycy podnoszą cenę docelową dla {c}",
    "Rynek czeka na decyzję RPP, {c} bez zmian",
]


@dataclass(frozen=True)
class Burst:
    """One injected negative-spike episode."""

    key_type: str
    key: str
    onset: datetime
    minutes: int
    n_items: int
    severity: str


@dataclass(frozen=True)
class SeedSummary:
    n_items: int
    n_scored: int
    n_unscored: int
    n_duplicates: int
    n_buckets: int
    n_alerts: int
    start: datetime
    end: datetime
    seconds: float


def _bursts(end: datetime, span: timedelta, n_items: int) -> list[Burst]:
    """Episodes placed at fixed fractions of the span; the last one still firing at ``end``."""
    per_min = max(n_items / (span.total_seconds() / 60), 0.5)
    size = lambda minutes, mult: max(int(per_min * minutes * mult), 12)  # noqa: E731
    start = end - span
    at = lambda frac: (start + span * frac).replace(second=0, microsecond=0)  # noqa: E731
    return [
        Burst("topic", "Energy | Oil", at(0.30), 40, size(40, 0.12), "warning"),
        Burst("ticker", "TSLA", at(0.55), 30, size(30, 0.06), "warning"),
        Burst("ticker", "SIVB", at(0.80), 90, size(90, 0.15), "critical"),
        Burst("topic", "Financials", at(0.82), 120, size(120, 0.2), "critical"),
        Burst(
            "ticker",
            "FRC",
            (end - timedelta(minutes=35)).replace(second=0, microsecond=0),
            35,
            size(35, 0.12),
            "critical",
        ),
        Burst(
            "all", "*", (end - timedelta(minutes=25)).replace(second=0, microsecond=0), 25, size(25, 0.25), "warning"
        ),
    ]


def _probs(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    n = len(labels)
    top = rng.uniform(0.5, 0.985, n)
    rest = 1.0 - top
    split = rng.uniform(0.2, 0.8, n)
    p = np.empty((n, 3))
    for k in range(3):
        others = [j for j in range(3) if j != k]
        mask = labels == k
        p[mask, k] = top[mask]
        p[mask, others[0]] = rest[mask] * split[mask]
        p[mask, others[1]] = rest[mask] * (1 - split[mask])
    return p


def generate(
    n_items: int, end: datetime = DEFAULT_END, span: timedelta = timedelta(days=7), seed: int = 7
) -> tuple[pd.DataFrame, list[Burst]]:
    """Items as one DataFrame (sorted by time) plus the bursts injected into them. Pure."""
    rng = np.random.default_rng(seed)
    start = end - span
    bursts = _bursts(end, span, n_items)
    n_burst = min(sum(b.n_items for b in bursts), n_items // 3)
    n_calm = n_items - n_burst
    tickers = list(COMPANIES)
    tick_w = 1.0 / np.arange(1, len(tickers) + 1) ** 0.9
    tick_w /= tick_w.sum()
    topic_w = rng.dirichlet(np.full(len(TOPICS), 4.0))

    # Calm stream: busier in market hours (13-21 UTC), quieter at night.
    secs = span.total_seconds()
    raw = rng.uniform(0, secs, n_calm * 2)
    hour = ((start.hour * 3600 + raw) % 86400) / 3600
    keep = rng.uniform(0, 1, len(raw)) < np.where((hour >= 12) & (hour < 22), 1.0, 0.45)
    offs = raw[keep][:n_calm]
    if len(offs) < n_calm:
        offs = np.concatenate([offs, rng.uniform(0, secs, n_calm - len(offs))])
    calm = pd.DataFrame(
        {
            "t": offs,
            "label": rng.choice(3, n_calm, p=[0.22, 0.5, 0.28]),
            "topic": rng.choice(len(TOPICS), n_calm, p=topic_w),
            "ticker": np.where(rng.uniform(0, 1, n_calm) < 0.35, rng.choice(len(tickers), n_calm, p=tick_w), -1),
        }
    )
    parts = [calm]
    budget = n_burst
    for b in bursts:
        k = min(b.n_items, budget)
        budget -= k
        if k <= 0:
            break
        lo = (b.onset - start).total_seconds()
        hi = min(lo + b.minutes * 60, secs - 1)
        part = pd.DataFrame(
            {
                "t": rng.uniform(lo, hi, k),
                "label": rng.choice(3, k, p=[0.85, 0.12, 0.03]),
                "topic": rng.choice(len(TOPICS), k, p=topic_w),
                "ticker": np.where(rng.uniform(0, 1, k) < 0.35, rng.choice(len(tickers), k, p=tick_w), -1),
            }
        )
        if b.key_type == "topic":
            part["topic"] = TOPICS.index(b.key)
        elif b.key_type == "ticker":
            part["ticker"] = tickers.index(b.key)
        parts.append(part)
    df = pd.concat(parts, ignore_index=True).sort_values("t", kind="stable").reset_index(drop=True)
    n = len(df)
    df["id"] = [f"seed-{i:07d}" for i in range(n)]
    df["published_at"] = pd.Timestamp(start) + pd.to_timedelta(df["t"], unit="s")
    df["ingested_at"] = df["published_at"] + pd.to_timedelta(rng.uniform(0.2, 4.0, n), unit="s")
    df["source"] = np.array(SOURCES)[rng.choice(len(SOURCES), n, p=SOURCE_WEIGHTS)]
    second_ticker = np.where(rng.uniform(0, 1, n) < 0.15, rng.choice(len(tickers), n, p=tick_w), -1)

    # Texts from templates (vectorised by label, then the theme and company filled in).
    theme = np.array(_THEMES)[rng.integers(0, len(_THEMES), n)]
    tick_idx = df["ticker"].to_numpy()
    subject = np.where(
        tick_idx >= 0,
        np.array(list(COMPANIES.values()))[np.maximum(tick_idx, 0)],
        np.array([TOPIC_SUBJECTS[t] for t in TOPICS])[df["topic"].to_numpy()],
    )
    labels = df["label"].to_numpy()
    text = np.empty(n, dtype=object)
    for k, templates in enumerate((_NEG, _NEU, _POS)):
        mask = labels == k
        choice = np.array(templates)[rng.integers(0, len(templates), int(mask.sum()))]
        text[mask] = [f"{s} {c.format(x=x)}" for s, c, x in zip(subject[mask], choice, theme[mask], strict=True)]
    df["text"] = text

    probs = _probs(rng, labels)
    df["p_negative"], df["p_neutral"], df["p_positive"] = probs[:, 0], probs[:, 1], probs[:, 2]
    df["score"] = df["p_positive"] - df["p_negative"]
    df["lang"] = "en"
    df["label_name"] = np.array(["negative", "neutral", "positive"])[labels]
    df["topic_name"] = np.array(TOPICS)[df["topic"].to_numpy()]
    df["tickers"] = [
        [tickers[a]] + ([tickers[b]] if b >= 0 and b != a else []) if a >= 0 else []
        for a, b in zip(tick_idx, second_ticker, strict=True)
    ]

    # Items in a language no model covers: stored, shown, kept out of aggregates.
    pl = (df["source"] == UNSCORED_SOURCE).to_numpy()
    df.loc[pl, "lang"] = "pl"
    df.loc[pl, "text"] = [
        np.array(_PL)[i % len(_PL)].format(c=s) for i, s in zip(range(int(pl.sum())), subject[pl], strict=True)
    ]
    for col in ("label_name", "p_negative", "p_neutral", "p_positive", "score", "topic_name"):
        df[col] = df[col].astype(object)
        df.loc[pl, col] = None
    df.loc[pl, "tickers"] = pd.Series([[] for _ in range(int(pl.sum()))], index=df.index[pl], dtype=object)

    # Syndicated copies: ~8% of scored items repeat an earlier story from another outlet.
    df["duplicate_of"] = None
    df["story_hash"] = [f"{h:016x}" for h in rng.integers(0, 2**62, n)]
    cand = np.flatnonzero(~pl)
    copies = cand[rng.uniform(0, 1, len(cand)) < 0.08]
    copies = copies[copies > 50]
    orig = copies - rng.integers(1, 50, len(copies))
    ok = ~pl[orig] & ~np.isin(orig, copies)  # the original is scored and not a copy itself
    copies, orig = copies[ok], orig[ok]
    for col in ("text", "label_name", "p_negative", "p_neutral", "p_positive", "score", "topic_name", "story_hash"):
        df.loc[copies, col] = df.loc[orig, col].to_numpy()
    df.loc[copies, "tickers"] = pd.Series(df.loc[orig, "tickers"].to_numpy(), index=copies, dtype=object)
    df.loc[copies, "duplicate_of"] = df.loc[orig, "id"].to_numpy()
    df["model_version"] = np.where(pl, None, "finsentry-minilm-int8-seed")
    return df, bursts


def rollups(df: pd.DataFrame) -> pd.DataFrame:
    """1-minute buckets per (key_type, key) exactly as the service defines them. Pure."""
    scored = df[df["label_name"].notna()]
    base = pd.DataFrame(
        {
            "bucket_start": scored["published_at"].dt.floor("min"),
            "n_negative": ((scored["label_name"] == "negative") & scored["duplicate_of"].isna()).astype(int),
            "n_neutral": ((scored["label_name"] == "neutral") & scored["duplicate_of"].isna()).astype(int),
            "n_positive": ((scored["label_name"] == "positive") & scored["duplicate_of"].isna()).astype(int),
            "n_duplicates": scored["duplicate_of"].notna().astype(int),
            "score_sum": np.where(scored["duplicate_of"].isna(), scored["score"].astype(float), 0.0),
        }
    )
    frames = [
        base.assign(key_type="all", key="*"),
        base.assign(key_type="topic", key=scored["topic_name"].to_numpy()),
        base.assign(key_type="source", key=scored["source"].to_numpy()),
    ]
    tick = scored["tickers"]
    exploded = tick[tick.map(len) > 0].explode()
    frames.append(base.loc[exploded.index].assign(key_type="ticker", key=exploded.to_numpy()))
    allrows = pd.concat(frames, ignore_index=True)
    out = allrows.groupby(["key_type", "key", "bucket_start"], sort=False, as_index=False).sum()
    return out[
        ["key_type", "key", "bucket_start", "n_negative", "n_neutral", "n_positive", "n_duplicates", "score_sum"]
    ]


def _alert_rows(df: pd.DataFrame, bursts: list[Burst], end: datetime) -> tuple[list[dict], list[dict]]:
    scored = df[df["label_name"].notna() & df["duplicate_of"].isna()]
    alert_rows, outbox_rows = [], []
    targets = [("webhook", "http://127.0.0.1:9000/finsentry-hook"), ("alertmanager", "http://127.0.0.1:9093")]
    for i, b in enumerate(bursts):
        stop = b.onset + timedelta(minutes=b.minutes)
        firing = stop >= end
        sel = scored[(scored["published_at"] >= b.onset) & (scored["published_at"] < stop)]
        if b.key_type == "topic":
            sel = sel[sel["topic_name"] == b.key]
        elif b.key_type == "ticker":
            sel = sel[sel["tickers"].map(lambda ts, k=b.key: k in ts)]
        if sel.empty:
            continue
        base = scored[(scored["published_at"] < b.onset) & (scored["published_at"] >= b.onset - timedelta(hours=24))]
        if b.key_type == "topic":
            base = base[base["topic_name"] == b.key]
        elif b.key_type == "ticker":
            base = base[base["tickers"].map(lambda ts, k=b.key: k in ts)]
        share = float((sel["label_name"] == "negative").mean())
        base_share = float((base["label_name"] == "negative").mean()) if len(base) else 0.2
        n_sel = len(sel)
        z = (share - base_share) / max(np.sqrt(base_share * (1 - base_share) / n_sel), 1e-6)
        worst = sel.sort_values("score").head(5)
        alert_id = f"{b.key_type}:{b.key}:{b.onset.isoformat()}"
        alert_rows.append(
            {
                "id": alert_id,
                "key_type": b.key_type,
                "key": b.key,
                "severity": b.severity,
                "status": "firing" if firing else "resolved",
                "started_at": b.onset,
                "resolved_at": None if firing else stop,
                "fingerprint": f"{abs(hash(alert_id)) % 16**16:016x}",
                # the detector's figure names (monitor.detector.Evaluation.figures)
                "figures": {
                    "negative_share": round(share, 6),
                    "baseline_negative_share": round(base_share, 6),
                    "z": round(float(z), 4),
                    "window_items": float(n_sel),
                    "negative_count": float((sel["label_name"] == "negative").sum()),
                    "window_seconds": float(b.minutes * 60),
                },
                "evidence": [
                    {"id": r.id, "text": r.text, "source": r.source, "score": round(float(r.score), 4)}
                    for r in worst.itertuples()
                ],
                "created_at": b.onset + timedelta(minutes=2),
                "updated_at": end if firing else stop,
            }
        )
        kinds = ["firing"] if firing else ["firing", "resolved"]
        for kind in kinds:
            for channel, target in targets:
                at = b.onset + timedelta(minutes=2) if kind == "firing" else stop
                failing = i == len(bursts) - 1 and channel == "webhook"  # a receiver that is down
                outbox_rows.append(
                    {
                        "alert_id": alert_id,
                        "status": kind,
                        "target": target,
                        "channel": channel,
                        "payload": {"status": kind, "alert": alert_id},
                        "attempts": 4 if failing else 1,
                        "next_attempt_at": at + timedelta(seconds=30),
                        "delivered_at": None if failing else at,
                        "last_error": "connection refused" if failing else None,
                        "created_at": at,
                    }
                )
    return alert_rows, outbox_rows


def _health_rows(df: pd.DataFrame, end: datetime) -> list[dict]:
    n = len(df)
    return [
        {
            "instance": f"finsentry-{k}@host-{k}",
            "updated_at": end - timedelta(seconds=3 + 4 * k),
            "consumed": n // 2 + 40 * k,
            "processed": n // 2,
            "dead_lettered": 17 + 9 * k,
            "lag": 12 + 30 * k,
            "items_per_s": 412.5 - 37.0 * k,
            "model_version": "finsentry-minilm-int8-seed",
            "provider": "CPUExecutionProvider",
        }
        for k in range(2)
    ]


def _bulk(engine: Engine, table: Table, rows: pd.DataFrame | list[dict], chunk: int = 50_000) -> None:
    """Insert many rows: raw DBAPI executemany on SQLite (values pre-rendered), Core elsewhere."""
    if not isinstance(rows, pd.DataFrame) and not rows:
        return
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    cols = [c for c in frame.columns if c in table.c]
    frame = frame[cols]
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            records = frame.astype(object).where(frame.notna(), None).to_dict("records")
            for i in range(0, len(records), chunk):
                conn.execute(insert(table), records[i : i + chunk])
        return
    rendered: dict[str, Any] = {}
    for c in cols:
        col = frame[c]
        if isinstance(table.c[c].type, DateTime):
            ts = pd.to_datetime(col, utc=True)
            rendered[c] = ts.dt.strftime(_SQLITE_TS).where(ts.notna(), None)
        elif isinstance(table.c[c].type, JSON):
            rendered[c] = col.map(json.dumps)
        else:
            rendered[c] = col.astype(object).where(col.notna(), None)
    values = list(zip(*(rendered[c].tolist() for c in cols), strict=True))
    sql = f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for i in range(0, len(values), chunk):
            cur.executemany(sql, values[i : i + chunk])
        raw.commit()
    finally:
        raw.close()


def seed_store(
    engine: Engine,
    n_items: int = 20_000,
    end: datetime = DEFAULT_END,
    span: timedelta = timedelta(days=7),
    seed: int = 7,
) -> SeedSummary:
    """Create the schema and fill an empty store with a consistent, realistic data set."""
    t0 = time.perf_counter()
    metadata.create_all(engine)
    df, bursts = generate(n_items, end=end, span=span, seed=seed)
    roll = rollups(df)
    alert_rows, outbox_rows = _alert_rows(df, bursts, end)
    item_rows = df.drop(columns=["label", "topic", "ticker", "t"]).rename(
        columns={"label_name": "label", "topic_name": "topic"}
    )
    item_rows["topics"] = [[[t, 0.9]] if isinstance(t, str) else [] for t in item_rows["topic"]]
    exploded = df.loc[df["tickers"].map(len) > 0, ["id", "tickers", "published_at"]].explode("tickers")
    tick_rows = exploded.rename(columns={"id": "item_id", "tickers": "ticker"})
    _bulk(engine, items, item_rows)
    _bulk(engine, item_tickers, tick_rows)
    _bulk(engine, buckets, roll)
    _bulk(engine, alerts, alert_rows)
    _bulk(engine, alert_outbox, outbox_rows)
    _bulk(engine, pipeline_health, _health_rows(df, end))
    _bulk(
        engine,
        schema.meta,
        [
            {"key": "schema_version", "value": str(schema.SCHEMA_VERSION)},
            {"key": "seeded_by", "value": f"tests.support.seed v{SEED_VERSION} seed={seed}"},
        ],
    )
    summary = SeedSummary(
        n_items=len(df),
        n_scored=int(df["label_name"].notna().sum()),
        n_unscored=int(df["label_name"].isna().sum()),
        n_duplicates=int(df["duplicate_of"].notna().sum()),
        n_buckets=len(roll),
        n_alerts=len(alert_rows),
        start=end - span,
        end=end,
        seconds=round(time.perf_counter() - t0, 2),
    )
    log.info("dashboard.seeded", **{k: str(v) for k, v in summary.__dict__.items()})
    return summary


def bench_store(n_items: int = 1_000_000, directory: str | os.PathLike[str] = "var/bench", seed: int = 7) -> Path:
    """Path of a seeded SQLite store with ``n_items``, built once and cached under ``directory``."""
    path = Path(directory) / f"dashboard-{n_items}-s{seed}-v{SEED_VERSION}.db"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".building")
    tmp.unlink(missing_ok=True)
    engine = create_engine(f"sqlite:///{tmp}")
    try:

        @event.listens_for(engine, "connect")
        def _fast(dbapi_conn: Any, _rec: Any) -> None:
            dbapi_conn.execute("PRAGMA journal_mode=OFF")
            dbapi_conn.execute("PRAGMA synchronous=OFF")

        # No ANALYZE: the service's store does not run it either, so the benchmark is honest.
        seed_store(engine, n_items=n_items, seed=seed)
    finally:
        engine.dispose()
    tmp.rename(path)
    return path
