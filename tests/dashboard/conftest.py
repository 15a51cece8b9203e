"""Fixtures of the dashboard tests: seeded and empty SQLite stores built through the schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine

from store.schema import metadata
from tests.support.seed import SeedSummary, seed_store

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
SEEDED_ITEMS = 20_000


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, SeedSummary]:
    path = tmp_path_factory.mktemp("dash") / "seeded.db"
    engine = create_engine(f"sqlite:///{path}")
    summary = seed_store(engine, n_items=SEEDED_ITEMS)
    engine.dispose()
    return f"sqlite:///{path}", summary


@pytest.fixture(scope="session")
def seeded_url(seeded: tuple[str, SeedSummary]) -> str:
    return seeded[0]


@pytest.fixture()
def empty_url(tmp_path: Path) -> str:
    """A store whose schema exists (the service started) but holds nothing."""
    path = tmp_path / "empty.db"
    engine = create_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    engine.dispose()
    return f"sqlite:///{path}"
