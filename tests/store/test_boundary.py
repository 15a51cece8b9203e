"""The store is the only SQL in the product: the monitor reaches the database through the
store's named methods and protocols, never through SQLAlchemy or the schema."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> list[str]:
    out: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [f"{node.module}.{alias.name}" for alias in node.names]
    return out


def test_the_monitor_uses_only_the_stores_interface() -> None:
    allowed = ("store.Store", "store.protocol.")  # the class to build one (evaluate), the protocols
    bad = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / "monitor").rglob("*.py"))
        for name in _imports(path)
        if name.split(".")[0] == "sqlalchemy" or (name.startswith("store.") and not name.startswith(allowed))
    ]
    assert not bad, "\n".join(bad)


def test_the_dashboard_reads_through_the_read_api_only() -> None:
    bad = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / "dashboard").rglob("*.py"))
        for name in _imports(path)
        if name.startswith("store.") and not name.startswith("store.reads")
    ]
    assert not bad, "\n".join(bad)
