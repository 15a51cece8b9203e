"""Fixtures for the ship tests: the compose file and the other docker/ configs, parsed once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ship.compose_model import DOCKER


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    return load_yaml(DOCKER / "compose.yml")


@pytest.fixture(scope="session")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="session")
def prometheus_config() -> dict[str, Any]:
    return load_yaml(DOCKER / "prometheus.yml")


@pytest.fixture(scope="session")
def alertmanager_config() -> dict[str, Any]:
    return load_yaml(DOCKER / "alertmanager.yml")
