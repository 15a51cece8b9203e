"""`finsentry bench` (behind `make bench`): every benchmark of the product, one table, one JSON file.

Sections, each run in a fresh Python process (so torch loaded by the baseline never shares threads
with the ONNX engine of another section, and one crash cannot take the others down):

    model      engine vs the transformers-pipeline baseline   bench.model.run_bench()
    e2e        Kafka -> classified -> stored, vs engine only   bench.e2e.run_e2e_bench()
    dashboard  full page render with 1M stored items            bench.dashboard.run_render_bench()
    consumer   service RSS and time to first scored item       bench.consumer.run_consumer_bench()
    multilingual  multilingual vs English int8 engine           bench.multilingual.run_multilingual_bench()

A section whose module is not there yet is reported as "not available". Figures are printed beside
their targets; nothing here fails on a missed target (tests never assert wall-clock times).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

SECTIONS: dict[str, tuple[str, str, str]] = {
    # name: (module, function, what)
    "model": ("bench.model", "run_bench", "Engine vs baseline pipeline"),
    "e2e": ("bench.e2e", "run_e2e_bench", "End-to-end Kafka -> store"),
    "dashboard": ("bench.dashboard", "run_render_bench", "Dashboard render, 1M items"),
    "consumer": ("bench.consumer", "run_consumer_bench", "Consumer footprint"),
    "multilingual": ("bench.multilingual", "run_multilingual_bench", "Multilingual vs English engine"),
}
NOT_AVAILABLE = "not available"


@dataclass(frozen=True)
class Metric:
    """One reported figure: where it comes from, how to read it, and its target."""

    section: str
    key: str
    label: str
    unit: str
    aliases: tuple[str, ...] = ()
    op: str | None = None  # ">=" or "<=" (None: reported, no target)
    target: float | None = None

    def met(self, value: float | None) -> bool | None:
        if value is None or self.op is None or self.target is None:
            return None
        return value >= self.target if self.op == ">=" else value <= self.target

    @property
    def target_text(self) -> str:
        return "" if self.op is None else f"{self.op} {self.target:g}{self.unit and ' ' + self.unit}"


METRICS: tuple[Metric, ...] = (
    Metric("model", "speedup", "engine / baseline throughput", "x", op=">=", target=4.0),
    Metric("model", "engine_texts_per_s", "engine throughput", "texts/s"),
    Metric("model", "baseline_texts_per_s", "baseline throughput", "texts/s"),
    Metric("model", "int8_accuracy_drop", "int8 accuracy drop", "points", op="<=", target=0.5),
    Metric("e2e", "ratio", "end-to-end / engine-only throughput", "", ("throughput_ratio", "e2e_ratio"),
           ">=", 0.8),
    Metric("e2e", "e2e_items_per_s", "end-to-end throughput", "items/s", ("items_per_s",)),
    Metric("e2e", "replay_ratio", "end-to-end / engine-only, historical replay", "", ()),
    Metric("e2e", "latency_p50_ms", "latency p50 at half load", "ms", ("p50_ms",)),
    Metric("e2e", "latency_p99_ms", "latency p99 at half load", "ms", ("p99_ms",), "<=", 500.0),
    Metric("dashboard", "render_p50_s", "page render p50", "s", ("p50_s",)),
    Metric("dashboard", "render_p95_s", "page render p95", "s", ("p95_s",), "<=", 1.0),
    Metric("dashboard", "render_warm_p50_s", "page render p50, cached queries", "s"),
    Metric("dashboard", "n_items", "stored items rendered", "items", ("items",)),
    Metric("consumer", "rss_peak_mb", "consumer RSS (peak)", "MB", (), "<=", 600.0),
    Metric("consumer", "rss_steady_mb", "consumer RSS (median under load)", "MB"),
    Metric("consumer", "first_item_s", "first scored item after start (model cached)", "s", (), "<=", 5.0),
    Metric("consumer", "first_item_cold_s", "first scored item, first start ever", "s"),
    Metric("multilingual", "ratio_vs_english", "multilingual / English int8 engine throughput", "x",
           op=">=", target=0.5),
    Metric("multilingual", "multilingual_texts_per_s", "multilingual engine throughput (English texts)", "texts/s"),
)


def as_mapping(result: object) -> dict[str, Any]:
    """Accept what a section returns: a dict, a dataclass, or an object with attributes."""
    if isinstance(result, Mapping):
        return dict(result)
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return dataclasses.asdict(result)
    if hasattr(result, "model_dump"):  # a pydantic model
        dumped: dict[str, Any] = result.model_dump()
        return dumped
    return dict(vars(result))


def pick(result: Mapping[str, Any], metric: Metric) -> float | None:
    """The metric's value from a section result; derives the two ratios when only parts are given."""
    for key in (metric.key, *metric.aliases):
        value = result.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    derived = {
        "speedup": ("engine_texts_per_s", "baseline_texts_per_s"),
        "ratio": ("e2e_items_per_s", "engine_items_per_s"),
    }.get(metric.key)
    if derived:
        num, den = result.get(derived[0]), result.get(derived[1])
        if isinstance(num, (int, float)) and isinstance(den, (int, float)) and den:
            return float(num) / float(den)
    return None


def rows(sections: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per metric: value (or the section's status), target, verdict."""
    out = []
    for m in METRICS:
        sec = sections.get(m.section, {"status": "skipped"})
        value = pick(sec.get("result") or {}, m) if sec.get("status") == "ok" else None
        out.append({
            "section": m.section, "metric": m.key, "label": m.label, "unit": m.unit,
            "value": None if value is None else round(value, 3),
            "status": "ok" if value is not None else ("missing" if sec.get("status") == "ok" else sec.get("status")),
            "target": m.target_text, "met": m.met(value),
        })
    return out


def _section_result(name: str) -> dict[str, Any]:
    """Run one section in this process; never raises (the outcome is data)."""
    module_name, func_name, _ = SECTIONS[name]
    try:
        func: Callable[[], Any] = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as exc:
        return {"status": NOT_AVAILABLE, "reason": f"{module_name}.{func_name}: {exc}"}
    t0 = time.monotonic()
    try:
        result = as_mapping(func())
    except Exception as exc:  # noqa: BLE001 - reported in the table, the other sections go on
        return {"status": "error", "reason": f"{type(exc).__name__}: {exc}"[:2000],
                "duration_s": round(time.monotonic() - t0, 1)}
    return {"status": "ok", "result": result, "duration_s": round(time.monotonic() - t0, 1)}


def run_section(name: str, timeout_s: float) -> dict[str, Any]:
    """Run one section in a child Python; its last stdout line is the JSON outcome."""
    cmd = [sys.executable, "-m", "bench.run", name]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                              cwd=Path(__file__).resolve().parents[1])
    except subprocess.TimeoutExpired:
        return {"status": "error", "reason": f"timed out after {timeout_s:.0f} s"}
    for line in reversed(proc.stdout.strip().splitlines()):
        try:
            outcome = json.loads(line)
        except ValueError:
            continue
        if isinstance(outcome, dict) and "status" in outcome:
            return outcome
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    return {"status": "error", "reason": f"exit {proc.returncode}: " + " | ".join(tail)}


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() and abs(value) >= 1000 else f"{value:g}"


def render_table(table_rows: list[dict[str, Any]]) -> str:
    """The one table, as plain text (fixed columns, fits 120 characters)."""
    header = f"{'benchmark':<11}{'figure':<46}{'value':>14}  {'target':<14}{'verdict'}"
    lines = [header, "-" * len(header)]
    for r in table_rows:
        if r["value"] is None:
            value, verdict = r["status"] or "", ""
        else:
            value = f"{_number(r['value'])} {r['unit']}".strip()
            verdict = {True: "met", False: "MISSED", None: ""}[r["met"]]
        lines.append(f"{r['section']:<11}{r['label']:<46}{value:>14}  {r['target']:<14}{verdict}")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """Where the figures come from; the load average says how busy the machine was (shared CPUs)."""
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
            "loadavg_1m": round(os.getloadavg()[0], 2)}


_ONLY_HELP = f"Run only these sections ({', '.join(SECTIONS)})."


def bench_command(
    only: list[str] = typer.Option(None, "--only", help=_ONLY_HELP),
    out: Path = typer.Option(Path("bench/results.json"), "--out", help="Where to write the JSON results."),
    section_timeout_s: float = typer.Option(1800.0, "--section-timeout", help="Limit per section (s)."),
) -> None:
    """Run every benchmark (engine, end to end, dashboard, consumer), print one table, write JSON."""
    names = list(only or SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise typer.BadParameter(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}")
    before = machine()
    sections: dict[str, dict[str, Any]] = {}
    for name in names:
        typer.echo(f"bench: {name} — {SECTIONS[name][2]} ...", err=True)
        sections[name] = run_section(name, section_timeout_s)
        typer.echo(f"bench: {name} {sections[name]['status']}", err=True)
    table_rows = [r for r in rows(sections) if r["section"] in sections]
    after = machine()
    start = before.pop("loadavg_1m")
    host = {**before, "loadavg_1m_start": start, "loadavg_1m_end": after["loadavg_1m"]}
    report = {"generated_at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": host,
              "sections": sections, "rows": table_rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    typer.echo(render_table(table_rows))
    for name, sec in sections.items():
        if sec["status"] != "ok":
            typer.echo(f"{name}: {sec['status']} — {sec.get('reason', '')}".splitlines()[0][:300])
    typer.echo(f"load average (1 min) {host['loadavg_1m_start']} -> {host['loadavg_1m_end']} on {host['cpus']} CPUs; "
               f"results: {out}")


if __name__ == "__main__":
    # Child-process entry of one section: `python -m bench.run SECTION` -> one JSON line.
    if len(sys.argv) != 2 or sys.argv[1] not in SECTIONS:
        sys.exit(f"usage: python -m bench.run {{{','.join(SECTIONS)}}}")
    sys.stdout.write(json.dumps(_section_result(sys.argv[1]), default=str) + "\n")
