"""Serving requirements of the images, derived from pyproject.toml (stdlib only: runs in a bare image).

    python docker/requirements.py cpu    # onnxruntime (CPU build): the slim service image
    python docker/requirements.py gpu    # onnxruntime-gpu: the CUDA image

Prints one requirement per line with the version pins of ``docker/requirements.lock`` applied, so
the images install exactly the versions the test suite ran with. Never lists torch/transformers:
the images install ``[project.dependencies]`` only, not the ``train`` extra.

Refresh the lock from the dev virtualenv (same Python minor version as the images):

    .venv/bin/python docker/requirements.py --lock > docker/requirements.lock
"""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = Path(__file__).resolve().parent / "requirements.lock"
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?")
ORT = {"cpu": "onnxruntime", "gpu": "onnxruntime-gpu"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def project_dependencies() -> list[str]:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        return list(tomllib.load(fh)["project"]["dependencies"])


def requirement_name(req: str) -> tuple[str, str]:
    """(canonical name, extras) of a requirement string."""
    m = _NAME.match(req)
    if not m:
        raise ValueError(f"unparseable requirement: {req!r}")
    return canonical(m.group(1)), m.group(2) or ""


def read_lock(path: Path = LOCK) -> dict[str, str]:
    """canonical name -> pinned version, from ``name==version`` lines."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[canonical(name)] = version.strip()
    return pins


def serving_requirements(variant: str, pins: dict[str, str] | None = None) -> list[str]:
    """The serving dependencies for ``variant`` (cpu|gpu), pinned where the lock knows them."""
    if variant not in ORT:
        raise ValueError(f"variant must be one of {sorted(ORT)}")
    pins = read_lock() if pins is None else pins
    out: list[str] = []
    seen: set[str] = set()
    for req in project_dependencies():
        name, extras = requirement_name(req)
        if name.startswith("onnxruntime"):
            name, extras = ORT[variant], ""  # one runtime per image, whatever the platform marker says
        if name in seen:
            continue
        seen.add(name)
        other = ORT["gpu" if name == ORT["cpu"] else "cpu"] if name in ORT.values() else ""
        version = pins.get(name) or (pins.get(other) if other else None)  # both builds share version numbers
        out.append(f"{name}{extras}=={version}" if version else f"{name}{extras}")
    return out


def gpu_extra() -> list[str]:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        return list(tomllib.load(fh)["project"].get("optional-dependencies", {}).get("gpu", []))


def freeze_serving() -> list[str]:
    """Installed versions of the direct serving dependencies (run inside the dev venv). A venv holds
    one ONNX Runtime build (the CPU default or the [gpu] extra): the other keeps its current pin."""
    lines = [f"{n}=={v}" for n, v in read_lock().items() if n in ORT.values()] if LOCK.exists() else []
    lines = [ln for ln in lines if not _installed(ln.split("==")[0])]
    for req in [*project_dependencies(), *gpu_extra()]:
        name, _ = requirement_name(req)
        try:
            lines.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return sorted(set(lines))


def _installed(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def main(argv: list[str]) -> int:
    if argv == ["--lock"]:
        print("# Direct serving dependencies, pinned to the versions the test suite ran with.")
        print("# Regenerate: .venv/bin/python docker/requirements.py --lock > docker/requirements.lock")
        print("\n".join(freeze_serving()))
        return 0
    if len(argv) != 1 or argv[0] not in ORT:
        print(__doc__, file=sys.stderr)
        return 2
    print("\n".join(serving_requirements(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
