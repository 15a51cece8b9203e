"""Convert the raw news captures into the finsentry input contract (JSONL, gzip).

Run once by a developer (the product and the tests only read the outputs in this folder):

    python data/streams/convert.py --rss DIR/rss_2023_svb --kaggle DIR/fin_headlines_kaggle_2020

Outputs (sorted by ``published_at``):
- ``svb_2023.jsonl.gz``  every RSS item 2023-02-15 .. 2023-03-31 (6 feeds, English + Polish);
- ``covid_2020.jsonl.gz`` CNBC + Guardian + Reuters headlines 2020-02-15 .. 2020-03-31.
Each line: ``id, text (title + description, HTML stripped), published_at (RFC 3339 UTC), source,
url, lang``. See README.md for how date-only timestamps are placed within their day.
"""

from __future__ import annotations

import argparse
import csv
import glob
import gzip
import hashlib
import html
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
FEEDS = {
    "cnbc.com": "CNBC", "ft.com": "Financial Times", "bloomberg.com": "Bloomberg",
    "washingtonpost.com": "Washington Post", "wired.com": "Wired", "bankier.pl": "Bankier.pl",
}
_TAG = re.compile(r"<[^>]+>")
_WS = re.compile(r"\s+")


def clean(s: str | None) -> str:
    return _WS.sub(" ", html.unescape(_TAG.sub(" ", s or ""))).strip()


def join(title: str, desc: str) -> str:
    if not desc or desc.lower().startswith(title.lower()):
        return desc or title
    sep = "" if title.endswith((".", "!", "?", ":")) else "."
    return f"{title}{sep} {desc}"


def sid(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


def rss(src: Path) -> list[dict]:
    out = []
    for f in sorted(glob.glob(str(src / "2023" / "*" / "*" / "*.json"))):
        for r in json.loads(Path(f).read_text(encoding="utf-8")):
            name = next(v for k, v in FEEDS.items() if k in r["source"])
            title, desc = clean(r["title"]), clean(r["description"])
            ts = datetime.fromisoformat(r["date_published"]).astimezone(UTC)
            out.append({
                "id": f"rss-{sid(r['link'], title)}", "text": join(title, desc),
                "published_at": ts.strftime("%Y-%m-%dT%H:%M:%SZ"), "source": name, "url": r["link"],
                "lang": (r.get("language") or "").split("-")[0] or None,
            })
    return out


def _spread(day: date, i: int, n: int) -> datetime:
    """Date-only headline i of n on ``day`` -> evenly spaced over 07:00-21:00 UTC, in file order."""
    start = datetime(day.year, day.month, day.day, 7, tzinfo=UTC)
    return start + timedelta(seconds=int(14 * 3600 * (i + 0.5) / max(n, 1)))


def kaggle(src: Path, lo: date, hi: date) -> list[dict]:
    out: list[dict] = []
    et = ZoneInfo("America/New_York")
    with open(src / "cnbc_headlines.csv", encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            if not (r.get("Headlines") or "").strip():
                continue
            t = _WS.sub(" ", r["Time"]).strip().replace("Sept", "Sep").replace(" ET", "")
            for fmt in ("%I:%M %p %a, %d %B %Y", "%I:%M %p %a, %d %b %Y"):
                try:
                    ts = datetime.strptime(t, fmt).replace(tzinfo=et).astimezone(UTC)
                    break
                except ValueError:
                    continue
            else:
                continue
            if lo <= ts.date() <= hi:
                title, desc = clean(r["Headlines"]), clean(r.get("Description"))
                out.append({"id": f"cnbc20-{sid(title, t)}", "text": join(title, desc),
                            "published_at": ts.strftime("%Y-%m-%dT%H:%M:%SZ"), "source": "CNBC",
                            "lang": "en"})
    for fname, source, fmts in (("guardian_headlines.csv", "The Guardian", ("%d-%b-%y",)),
                                ("Reuters.csv", "Reuters", ("%b %d %Y",))):
        per_day: dict[date, list[str]] = {}
        with open(src / fname, encoding="utf-8", newline="") as fh:
            for r in csv.DictReader(fh):
                title = clean(r.get("Headlines"))
                for fmt in fmts:
                    try:
                        d = datetime.strptime(r["Time"].strip(), fmt).date()
                        break
                    except ValueError:
                        continue
                else:
                    continue
                if title and lo <= d <= hi:
                    per_day.setdefault(d, []).append(title)
        for d, titles in per_day.items():
            titles = titles[::-1]  # files are newest first
            for i, title in enumerate(titles):
                out.append({"id": f"{source[:3].lower()}20-{sid(title, d.isoformat(), str(i))}", "text": title,
                            "published_at": _spread(d, i, len(titles)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                            "source": source, "lang": "en"})
    return out


def write(rows: list[dict], path: Path) -> None:
    rows.sort(key=lambda r: (r["published_at"], r["id"]))
    with gzip.GzipFile(path, "wb", mtime=0) as fh:
        for r in rows:
            fh.write((json.dumps({k: v for k, v in r.items() if v is not None}, ensure_ascii=False) + "\n").encode())
    print(f"{path.name}: {len(rows)} items, {path.stat().st_size / 1e6:.2f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rss", type=Path, required=True)
    ap.add_argument("--kaggle", type=Path, required=True)
    a = ap.parse_args()
    write(rss(a.rss), HERE / "svb_2023.jsonl.gz")
    write(kaggle(a.kaggle, date(2020, 2, 15), date(2020, 3, 31)), HERE / "covid_2020.jsonl.gz")


if __name__ == "__main__":
    main()
