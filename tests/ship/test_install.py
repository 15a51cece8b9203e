"""The install: CPU runtime by default, the GPU build only as an extra that replaces it, visible progress."""

from __future__ import annotations

import importlib.metadata as md
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = (ROOT / "Makefile").read_text()
RUNTIMES = {"onnxruntime", "onnxruntime-gpu"}


def _project() -> dict:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        return tomllib.load(fh)


def _name(req: str) -> str:
    return re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0].lower()


def test_default_dependencies_are_cpu_only() -> None:
    deps = [_name(r) for r in _project()["project"]["dependencies"]]
    assert "onnxruntime" in deps and "onnxruntime-gpu" not in deps
    assert not {"torch", "transformers"} & set(deps)


def test_gpu_runtime_is_an_extra() -> None:
    extras = _project()["project"]["optional-dependencies"]
    assert [_name(r) for r in extras["gpu"]] == ["onnxruntime-gpu"]
    assert all("onnxruntime" not in _name(r) for name, reqs in extras.items() if name != "gpu" for r in reqs)


def test_exactly_one_runtime_is_installed_here() -> None:
    have = {(d.metadata["Name"] or "").lower() for d in md.distributions()} & RUNTIMES
    assert len(have) == 1, f"both ONNX Runtime builds installed over each other: {have}"


def _recipe(target: str) -> str:
    m = re.search(rf"^{re.escape(target)}:.*?\n((?:\t.*\n|\s*\n)+)", MAKEFILE, flags=re.M)
    assert m, target
    return m.group(1)


def test_make_switches_runtimes_by_uninstalling_first() -> None:
    settle = re.search(r"define ort_settle\n(.*?)endef", MAKEFILE, flags=re.S)
    assert settle, "ort_settle macro"
    body = settle.group(1)
    assert body.index("uninstall -y onnxruntime onnxruntime-gpu") < body.index("install \"$(ORT_GPU_REQ)\"")
    assert "check-ort" in body
    assert "$(ort_settle)" in _recipe("gpu-deps") and "gpu-deps" in MAKEFILE.split("bench-gpu:", 1)[1].split("\n")[0]
    cpu = _recipe("cpu-deps")
    assert cpu.index("uninstall -y onnxruntime-gpu onnxruntime") < cpu.index("install -e .")
    for stamp in ("$(VENV)/.serve", "$(VENV)/.dev"):
        assert "$(ort_cpu_first)" in _recipe(stamp) and "$(ort_settle)" in _recipe(stamp)


def test_installs_show_progress() -> None:
    assert not re.search(r"pip\)? install[^\n]*\s-q\b|\$\(PIP\) install -q", MAKEFILE), "a silent pip install"
    assert MAKEFILE.count('@echo "==> ') >= 4


def test_check_ort_target_reports_the_runtime() -> None:
    venv = ROOT / ".venv" / "bin" / "python"
    if not venv.exists():
        pytest.skip("no project venv")
    out = subprocess.run(["make", "--no-print-directory", "check-ort"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.match(r"onnxruntime runtime: onnxruntime(-gpu)?$", out.stdout.strip())


def test_editable_install_has_a_simple_layout() -> None:
    """package-dir "" = ".": setuptools writes one .pth entry instead of a top-level finder (no warning)."""
    assert _project()["tool"]["setuptools"]["package-dir"] == {"": "."}


def test_image_lock_pins_both_runtime_builds_alike() -> None:
    from tests.ship.compose_model import load_docker_module

    req = load_docker_module("requirements.py")
    pins = req.read_lock()
    assert pins["onnxruntime"] == pins["onnxruntime-gpu"]
    # either pin alone serves both images (the builds share version numbers)
    for only in ("onnxruntime", "onnxruntime-gpu"):
        one = {k: v for k, v in pins.items() if k not in {"onnxruntime", "onnxruntime-gpu"} or k == only}
        for variant in ("cpu", "gpu"):
            assert all("==" in line for line in req.serving_requirements(variant, one)), (only, variant)
