"""The configuration reference is generated from Settings and kept in sync; `finsentry config`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from finsentry.configref import env_var, render_markdown, render_readme_block, type_name
from finsentry.settings import Settings
from tests.ship.compose_model import ROOT

DOC = ROOT / "docs" / "configuration.md"


def test_docs_configuration_is_in_sync_with_settings() -> None:
    assert DOC.read_text() == render_markdown(), (
        "docs/configuration.md is stale: run `finsentry config --markdown > docs/configuration.md`"
    )


def test_readme_embeds_the_same_reference() -> None:
    assert render_readme_block() in (ROOT / "README.md").read_text(), (
        "README.md's configuration reference is stale: run `finsentry config --write-docs`"
    )


def test_reference_lists_every_field_once_with_its_description() -> None:
    text = render_markdown()
    for name, field in Settings.model_fields.items():
        assert text.count(f"| `{env_var(name)}` |") == 1
        assert (field.description or "").split("|")[0] in text
    assert "## Kafka (ingest)" in text and "## Alerting" in text


def test_type_names_are_readable() -> None:
    f = Settings.model_fields
    assert type_name(f["topic"].annotation) == "list (comma-separated)"
    assert type_name(f["kafka_bootstrap"].annotation) == "str (optional)"
    assert type_name(f["provider"].annotation) == "one of: auto, cuda, cpu"
    assert type_name(f["alert_webhook_secret"].annotation) == "secret (optional)"
    assert type_name(f["language_models"].annotation) == "JSON object"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    import os

    for var in list(os.environ):
        if var.startswith("FINSENTRY_"):
            monkeypatch.delenv(var)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_config_command_masks_secrets_and_reflects_env(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("FINSENTRY_ALERT_WEBHOOK_SECRET", "hunter2-very-secret")
    clean_env.setenv("FINSENTRY_TOPIC", "news,news.eu")
    runner = CliRunner()
    plain = runner.invoke(app, ["config"])
    assert plain.exit_code == 0, plain.output
    assert "hunter2" not in plain.output
    assert "FINSENTRY_ALERT_WEBHOOK_SECRET=********" in plain.output
    assert "FINSENTRY_TOPIC=news,news.eu" in plain.output
    as_json = runner.invoke(app, ["config", "--json"])
    values = json.loads(as_json.output.strip().splitlines()[-1])
    assert values["topic"] == ["news", "news.eu"] and "hunter2" not in as_json.output
    assert runner.invoke(app, ["config", "--markdown"]).output == render_markdown()


def test_config_command_rejects_invalid_settings(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("FINSENTRY_METRICS_PORT", "not-a-port")
    result = CliRunner().invoke(app, ["config"])
    assert result.exit_code != 0
