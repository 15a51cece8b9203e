"""Small readers over the parsed compose file (variable defaults, env maps, ports)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"


def load_docker_module(filename: str) -> ModuleType:
    """Import a script from docker/ (not a package) by path."""
    spec = importlib.util.spec_from_file_location(f"docker_{Path(filename).stem}", DOCKER / filename)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod

_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}")


def interpolate(value: Any) -> Any:
    """Compose variable interpolation with the defaults (``${X:-d}`` -> d), ``$$`` -> ``$``."""
    if isinstance(value, str):
        return _VAR.sub(lambda m: m.group("default") or "", value).replace("$$", "$")
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    return value


def env(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a dict (list or mapping form), interpolated with defaults."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {k: str(interpolate(v)) for k, v in raw.items()}


def flag(service: dict[str, Any], name: str) -> str | None:
    """Value of ``--name=value`` in a service's command list."""
    for arg in service.get("command") or []:
        if isinstance(arg, str) and arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    return None


def listen_port(address: str) -> int:
    """Port of a listen address like ``:9090`` or ``0.0.0.0:9093``."""
    return int(address.rsplit(":", 1)[1])


def host_port(url: str) -> tuple[str, int]:
    """(host, port) of ``scheme://host:port/...`` or a bare ``host:port``."""
    parts = urlsplit(url if "://" in url else f"tcp://{url}")
    assert parts.hostname and parts.port, f"no host:port in {url!r}"
    return parts.hostname, parts.port


def published(service: dict[str, Any]) -> dict[int, int]:
    """container port -> host port for ``host_ip:host:container`` / ``host:container`` entries."""
    out = {}
    for entry in service.get("ports") or []:
        parts = str(entry).split(":")
        out[int(parts[-1])] = int(parts[-2])
    return out
