"""Prometheus and Alertmanager configs of the compose stack: valid for the real tools, and wired to
the services compose runs (scrape targets, rule files, Alertmanager, webhook receiver)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.ship.compose_model import DOCKER, env, flag, host_port, listen_port

pytestmark = pytest.mark.skipif(
    not (shutil.which("promtool") and shutil.which("amtool")),
    reason="promtool/amtool missing: `make sysdeps` installs them (Debian prometheus, prometheus-alertmanager)",
)


def stage_mounts(service: dict[str, Any], root: Path) -> None:
    """Copy each bind-mounted file to ``root`` + its in-container path, as the container sees it."""
    for vol in service["volumes"]:
        parts = str(vol).split(":")
        if not parts[0].startswith("."):
            continue  # named volume
        dst = root / PurePosixPath(parts[1]).relative_to("/")
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy((DOCKER / parts[0]).resolve(), dst)


def test_promtool_check_config_with_the_mounted_rules(services: dict[str, Any], tmp_path: Path) -> None:
    """rule_files must resolve where compose mounts the shipped rules, and they must load."""
    prom = services["prometheus"]
    stage_mounts(prom, tmp_path)
    config = tmp_path / PurePosixPath(flag(prom, "config.file")).relative_to("/")
    assert config.is_file(), "prometheus.yml is not mounted at --config.file"
    out = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "finsentry.rules.yml" in out.stdout and "SUCCESS" in out.stdout


def test_amtool_check_config(services: dict[str, Any], tmp_path: Path) -> None:
    am = services["alertmanager"]
    stage_mounts(am, tmp_path)
    config = tmp_path / PurePosixPath(flag(am, "config.file")).relative_to("/")
    out = subprocess.run(["amtool", "check-config", str(config)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_prometheus_scrapes_every_consumer(services: dict[str, Any], prometheus_config: dict[str, Any]) -> None:
    jobs = {j["job_name"]: j for j in prometheus_config["scrape_configs"]}
    # The shipped rules say: scrape the service with job="finsentry".
    job = jobs["finsentry"]
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == ["consumer"] and sd["type"] == "A"  # all replicas of the scaled service
    assert str(sd["port"]) == env(services["consumer"])["FINSENTRY_METRICS_PORT"]
    assert job.get("metrics_path", "/metrics") == "/metrics"


def test_prometheus_sends_to_alertmanager(services: dict[str, Any], prometheus_config: dict[str, Any]) -> None:
    am_port = listen_port(flag(services["alertmanager"], "web.listen-address"))
    (am,) = prometheus_config["alerting"]["alertmanagers"]
    targets = [t for sc in am["static_configs"] for t in sc["targets"]]
    assert targets == [f"alertmanager:{am_port}"]
    assert listen_port(flag(services["prometheus"], "web.listen-address")) in {
        int(str(p).split(":")[-1]) for p in services["prometheus"]["ports"]}


def _receivers(node: dict[str, Any]) -> set[str]:
    return {node["receiver"], *(r for child in node.get("routes", []) for r in _receivers(child))}


def test_alertmanager_routes_to_the_webhook_receiver(
    services: dict[str, Any], alertmanager_config: dict[str, Any]
) -> None:
    receivers = {r["name"]: r for r in alertmanager_config["receivers"]}
    assert _receivers(alertmanager_config["route"]) <= set(receivers)
    port = int(env(services["receiver"])["RECEIVER_PORT"])
    for hook in (h for r in receivers.values() for h in r.get("webhook_configs", [])):
        assert host_port(hook["url"]) == ("receiver", port)
        assert urlsplit(hook["url"]).path == "/alerts"
        assert hook.get("send_resolved") is True
    # Grouping keeps one notification per key (the labels the rules and the service both set).
    assert {"alertname", "key_type", "key"} <= set(alertmanager_config["route"]["group_by"])


def test_rules_file_declares_the_spike_alert() -> None:
    rules = yaml.safe_load((DOCKER / "../monitor/rules/finsentry.rules.yml").resolve().read_text())
    names = {r.get("alert") for g in rules["groups"] for r in g["rules"]}
    assert "NegativeSentimentSpike" in names
