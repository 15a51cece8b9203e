"""The layers' import directions, read from the source (every import, also those inside functions).

    app  ->  ingest  ->  monitor, model  ->  store  ->  finsentry
    dashboard  ->  store.reads (the read API), finsentry

docs/architecture.md states the same rules in words.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("finsentry", "store", "model", "monitor", "ingest", "dashboard", "app")

# What each package may import of the other first-party packages (prefixes of dotted names).
ALLOWED: dict[str, tuple[str, ...]] = {
    "finsentry": (),
    "store": ("finsentry",),
    "model": ("finsentry",),
    "monitor": ("finsentry", "store", "model"),
    "ingest": ("finsentry", "store", "model", "monitor"),
    "dashboard": ("finsentry", "store.reads"),
    "app": ("finsentry", "store", "model", "monitor", "ingest", "dashboard"),
}
# Entry points, not modules of their layer: `python -m finsentry` hands over to the CLI.
ENTRY_POINTS = {Path("finsentry/__main__.py")}


def first_party_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from store import reads` imports store.reads: judge the full name
            out += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in out if name.split(".")[0] in PACKAGES]


def allowed(package: str, name: str) -> bool:
    if name.split(".")[0] == package:
        return True
    return any(name == p or name.startswith(p + ".") for p in ALLOWED[package])


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_down(package: str) -> None:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel in ENTRY_POINTS:
            continue
        bad += [f"{rel}:{line} imports {name}" for line, name in first_party_imports(path)
                if not allowed(package, name)]
    assert not bad, "\n".join(bad)


def test_the_checker_catches_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from ingest.service import IngestService\n")
    (line, name), = first_party_imports(module)
    assert (line, name) == (2, "ingest.service.IngestService")
    assert not allowed("monitor", name) and allowed("app", name)
    assert allowed("dashboard", "store.reads.totals") and not allowed("dashboard", "store.schema.items")
