"""Configuration reference generated from the one Settings object, and `finsentry config`.

The Markdown in ``docs/configuration.md`` is rendered from ``Settings.model_fields`` (env var, type,
default, constraints, description), grouped by the ``# --- Section ---`` comments of
``finsentry/settings.py``. A test regenerates it and compares, so the document cannot drift:

    finsentry config --markdown > docs/configuration.md
"""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from typing import Annotated, Any, Literal, Union

import annotated_types
import typer
from pydantic import SecretStr
from pydantic.fields import FieldInfo

from finsentry.redact import redact_url
from finsentry.settings import Settings

ENV_PREFIX = "FINSENTRY_"
_SECTION = re.compile(r"^\s*#\s*---\s*(?P<name>[^-].*?)\s*-*\s*$")
_FIELD = re.compile(r"^\s{4}(?P<name>[a-z_][a-z0-9_]*)\s*:")
_MASK = "********"


def env_var(field_name: str) -> str:
    return f"{ENV_PREFIX}{field_name.upper()}"


def env_vars() -> set[str]:
    """Every environment variable the settings object reads."""
    return {env_var(name) for name in Settings.model_fields}


def sections() -> dict[str, str]:
    """Field name -> section title, read from the section comments of the Settings class."""
    out: dict[str, str] = {}
    current = "General"
    for line in inspect.getsource(Settings).splitlines():
        if m := _SECTION.match(line):
            current = m.group("name")
        elif (m := _FIELD.match(line)) and m.group("name") in Settings.model_fields:
            out[m.group("name")] = current
    return out


def type_name(annotation: object) -> str:
    """A reader-friendly type: ``int``, ``str (optional)``, ``one of: a, b``, ``list (comma-separated)``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Annotated:
        inner = type_name(args[0])
        return "list (comma-separated)" if inner.startswith("list") else inner
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        base = " | ".join(type_name(a) for a in rest)
        return f"{base} (optional)" if len(rest) < len(args) else base
    if origin is Literal:
        return "one of: " + ", ".join(str(a) for a in args)
    if origin is list:
        return "list (comma-separated)"
    if origin is dict:
        return "JSON object"
    if annotation is SecretStr:
        return "secret"
    return getattr(annotation, "__name__", str(annotation))


def default_text(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "(empty)"
    if isinstance(value, SecretStr):
        return _MASK
    if isinstance(value, list):
        return ",".join(str(v) for v in value) if value else "(empty)"
    if isinstance(value, dict):
        return json.dumps(value, separators=(", ", ": "))
    if isinstance(value, str) and value == "":
        return "''"
    return str(value)


def constraints_text(field: FieldInfo) -> str:
    parts = []
    for meta in field.metadata:
        for attr, sym in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            if isinstance(meta, getattr(annotated_types, attr.capitalize())):
                parts.append(f"{sym} {getattr(meta, attr)}")
    return ", ".join(parts)


def _default_cell(field: FieldInfo) -> str:
    text = default_text(field)
    return text if text == "(empty)" else f"`{text}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown() -> str:
    """The full configuration reference (deterministic: same Settings, same bytes)."""
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated from finsentry.settings.Settings by `finsentry config --markdown`; do not edit by hand. -->",
        "",
        "Every setting is an environment variable `FINSENTRY_<NAME>` (also read from a `.env` file in the",
        "working directory); command-line flags override them. Lists are comma-separated",
        "(`FINSENTRY_TOPIC=news,news.eu`), tables are JSON (`FINSENTRY_LANGUAGE_MODELS='{\"en\": \"shipped\"}'`).",
        "`finsentry config` prints the effective values (secrets masked).",
        "",
    ]
    by_section: dict[str, list[str]] = {}
    where = sections()
    for name in Settings.model_fields:
        by_section.setdefault(where.get(name, "General"), []).append(name)
    for title, names in by_section.items():
        lines += [
            f"## {title}",
            "",
            "| Variable | Type | Default | Allowed | Description |",
            "| --- | --- | --- | --- | --- |",
        ]
        for name in names:
            f = Settings.model_fields[name]
            lines.append(
                "| `{}` | {} | {} | {} | {} |".format(
                    env_var(name),
                    _cell(type_name(f.annotation)),
                    _cell(_default_cell(f)),
                    _cell(constraints_text(f)),
                    _cell(f.description or ""),
                )
            )
        lines.append("")
    return "\n".join(lines)


README_START = "<!-- config-reference:start -->"
README_END = "<!-- config-reference:end -->"


def render_readme_block() -> str:
    """The reference as embedded in README.md (between the markers), headings one level down."""
    body = render_markdown().split("\n", 1)[1]  # drop the H1 title
    body = "\n".join("###" + ln[2:] if ln.startswith("## ") else ln for ln in body.splitlines())
    return f"{README_START}\n{body.strip()}\n{README_END}"


def sync_readme(readme: str) -> str:
    """README text with the embedded reference regenerated."""
    head, rest = readme.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    return head + render_readme_block() + tail


# Settings whose values are URLs that may carry credentials (passwords, tokens in path or query).
_URL_FIELDS = {"store_url", "alert_webhook_urls", "alertmanager_url", "kafka_bootstrap"}


def effective(settings: Settings) -> dict[str, Any]:
    """Current values as plain JSON-able data, secrets masked (never printed)."""
    out: dict[str, Any] = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = _MASK if value.get_secret_value() else ""
        elif name in _URL_FIELDS and isinstance(value, str):
            value = redact_url(value)
        elif name in _URL_FIELDS and isinstance(value, list):
            value = [redact_url(str(v)) for v in value]
        out[name] = value
    return out


def _env_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def config_command(
    markdown: bool = typer.Option(False, "--markdown", help="Print the configuration reference (Markdown)."),
    write_docs: bool = typer.Option(
        False, "--write-docs", help="Regenerate docs/configuration.md and the README's embedded reference."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the effective configuration as one JSON object."),
) -> None:
    """Print the effective configuration (env + .env), secrets masked."""
    if markdown:
        typer.echo(render_markdown(), nl=False)
        return
    if write_docs:
        from pathlib import Path

        root = Path(__file__).resolve().parents[1]  # the source checkout (editable install)
        (root / "docs" / "configuration.md").write_text(render_markdown())
        readme = root / "README.md"
        readme.write_text(sync_readme(readme.read_text()))
        typer.echo("wrote docs/configuration.md and README.md")
        return
    values = effective(Settings())
    if as_json:
        typer.echo(json.dumps(values, sort_keys=True))
        return
    for name, value in values.items():
        typer.echo(f"{env_var(name)}={_env_value(value)}")
