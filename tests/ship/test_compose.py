"""docker/compose.yml parses and lines up with the settings object and with itself.

Docker cannot run on the test machine, so these tests check what a `docker compose up` depends on:
every FINSENTRY_* variable exists in Settings and validates, every host:port a service dials is a
service that listens there, volumes and data files exist, images are pinned.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from finsentry.configref import env_vars
from finsentry.settings import Settings
from tests.ship.compose_model import (
    DOCKER,
    ROOT,
    env,
    flag,
    host_port,
    interpolate,
    listen_port,
    published,
)

FINSENTRY_SERVICES = ("consumer", "dashboard", "consumer-gpu")
_FINSENTRY_VAR = re.compile(r"FINSENTRY_[A-Z0-9_]+")


def _all_strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (*_all_strings(k), *_all_strings(v))]
    if isinstance(node, list):
        return [s for v in node for s in _all_strings(v)]
    return []


def test_expected_services(services: dict[str, Any]) -> None:
    assert {"kafka", "kafka-init", "postgres", "prometheus", "alertmanager", "receiver",
            "consumer", "dashboard", "replay"} <= set(services)
    assert services["replay"]["profiles"] == ["replay"]
    assert "profiles" not in services["consumer"]  # part of the one-command default stack


def test_every_finsentry_variable_exists_in_settings(compose: dict[str, Any]) -> None:
    used = {m for s in _all_strings(compose) for m in _FINSENTRY_VAR.findall(s)}
    assert used, "compose sets no FINSENTRY_* variable at all?"
    assert used - env_vars() == set(), f"not fields of finsentry.settings.Settings: {sorted(used - env_vars())}"


@pytest.mark.parametrize("name", FINSENTRY_SERVICES)
def test_service_environment_validates_as_settings(
    services: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The environment each finsentry container gets builds a valid Settings (types, ranges)."""
    for var in list(os.environ):
        if var.startswith("FINSENTRY_"):
            monkeypatch.delenv(var)
    monkeypatch.chdir(tmp_path)  # no stray .env
    for key, value in env(services[name]).items():
        monkeypatch.setenv(key, value)
    s = Settings()
    assert s.kafka_bootstrap and s.metrics_host == "0.0.0.0"
    assert s.store_url.startswith("postgresql+psycopg://")


def test_kafka_bootstrap_is_the_advertised_internal_listener(services: dict[str, Any]) -> None:
    kafka_env = env(services["kafka"])
    advertised = dict(
        (x.split("://")[0], x.split("://")[1]) for x in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    )
    inner = kafka_env["KAFKA_INTER_BROKER_LISTENER_NAME"]
    for name in FINSENTRY_SERVICES:
        assert env(services[name])["FINSENTRY_KAFKA_BOOTSTRAP"] == advertised[inner]
    host, _ = host_port(advertised[inner])
    assert host == "kafka" and services["kafka"].get("hostname", "kafka") == "kafka"
    # The host-side listener is published on loopback at the port it advertises.
    ext_host, ext_port = host_port(advertised["EXTERNAL"])
    assert ext_host == "127.0.0.1" and ext_port in published(services["kafka"]).values()


def test_topics_created_match_settings_and_replay(services: dict[str, Any]) -> None:
    script = interpolate(services["kafka-init"]["command"])[0]
    created = dict(re.findall(r"--topic (\S+) --partitions (\d+)", script))
    consumer = env(services["consumer"])
    wanted = {*consumer["FINSENTRY_TOPIC"].split(","), consumer["FINSENTRY_DLQ_TOPIC"],
              consumer["FINSENTRY_OUTPUT_TOPIC"]}
    assert wanted <= set(created)
    assert env(services["kafka"])["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    # Enough partitions for the default replicas (partitions bound the parallelism).
    replicas = services["consumer"]["deploy"]["replicas"]
    assert int(created["news"]) >= replicas >= 2
    replay = interpolate(services["replay"]["command"])
    assert replay[replay.index("--topic") + 1] in consumer["FINSENTRY_TOPIC"].split(",")
    assert replay[replay.index("--bootstrap") + 1] == consumer["FINSENTRY_KAFKA_BOOTSTRAP"]


def test_store_url_points_at_the_postgres_service(services: dict[str, Any]) -> None:
    pg = env(services["postgres"])
    for name in FINSENTRY_SERVICES:
        url = make_url(env(services[name])["FINSENTRY_STORE_URL"])
        assert (url.host, url.port or 5432) == ("postgres", 5432)
        assert (url.username, url.password, url.database) == (
            pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"], pg["POSTGRES_DB"])


def test_alertmanager_url_and_dashboard_link(services: dict[str, Any]) -> None:
    am_port = listen_port(flag(services["alertmanager"], "web.listen-address"))
    dash = env(services["dashboard"])
    for name in FINSENTRY_SERVICES:
        e = env(services[name])
        assert host_port(e["FINSENTRY_ALERTMANAGER_URL"]) == ("alertmanager", am_port)
        # Links in alerts open the dashboard where compose publishes it.
        assert host_port(e["FINSENTRY_EXTERNAL_URL"])[1] == published(services["dashboard"])[
            int(dash["FINSENTRY_DASHBOARD_PORT"])]
    assert dash["FINSENTRY_DASHBOARD_HOST"] == "0.0.0.0"
    healthcheck = " ".join(services["dashboard"]["healthcheck"]["test"])
    assert f":{dash['FINSENTRY_DASHBOARD_PORT']}/" in healthcheck


def test_consumers_expose_their_metrics_port(services: dict[str, Any]) -> None:
    for name in ("consumer", "consumer-gpu"):
        port = env(services[name])["FINSENTRY_METRICS_PORT"]
        assert port in [str(p) for p in services[name]["expose"]]
        assert "ports" not in services[name], "scaled services must not publish fixed host ports"
    assert "consumer" in services["consumer-gpu"]["networks"]["default"]["aliases"]


def test_published_ports_bind_loopback_only(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        for entry in svc.get("ports") or []:
            assert str(entry).startswith("127.0.0.1:"), f"{name} publishes {entry} on every interface"


def test_images_are_pinned(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        image = svc["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest" and any(c.isdigit() for c in tag), f"{name}: unpinned {image}"


def test_bind_mounts_and_build_contexts_exist(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        for vol in svc.get("volumes") or []:
            source = str(vol).split(":")[0]
            if source.startswith("."):
                assert (DOCKER / source).resolve().exists(), f"{name}: missing bind mount source {source}"
        if build := svc.get("build"):
            context = (DOCKER / build["context"]).resolve()
            assert context == ROOT and (context / build["dockerfile"]).is_file()


def test_replay_file_is_bundled(services: dict[str, Any]) -> None:
    replay = interpolate(services["replay"]["command"])
    target = next(a for a in replay if a.startswith("/data/streams/"))
    mount = next(v for v in services["replay"]["volumes"] if ":/data/streams" in v)
    host_dir = (DOCKER / mount.split(":")[0]).resolve()
    assert (host_dir / Path(target).name).is_file()


def test_depends_on_only_known_services(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        deps = svc.get("depends_on") or []
        for dep in deps if isinstance(deps, list) else deps.keys():
            assert dep in services, f"{name} depends on unknown service {dep}"


@pytest.mark.parametrize("name", ["consumer", "dashboard", "replay", "consumer-gpu"])
def test_commands_and_flags_exist_in_the_cli(services: dict[str, Any], name: str) -> None:
    """What compose runs in the finsentry image is a real subcommand with real options."""
    import typer.main

    from app.cli import app

    root = typer.main.get_command(app)
    argv = interpolate(services[name]["command"])
    sub = root.commands.get(argv[0])  # type: ignore[attr-defined]
    assert sub is not None, f"{name}: `finsentry {argv[0]}` does not exist"
    options = {o for p in sub.params for o in p.opts}
    for arg in argv[1:]:
        if arg.startswith("--"):
            assert arg.split("=", 1)[0] in options, f"{name}: `finsentry {argv[0]}` has no {arg}"


def test_valid_compose_specification(compose: dict[str, Any]) -> None:
    """Strict Compose Specification parser (compose_spec, the Rust crate): unknown keys, bad enum values,
    malformed ports and durations are errors. Fed what `docker compose` itself works on: the YAML with
    anchors/merge keys resolved and variables interpolated with their defaults."""
    import json

    from compose_spec import PyCompose

    parsed = PyCompose.from_json(json.dumps(interpolate(compose))).to_dict()
    assert set(parsed["services"]) == set(compose["services"])


def test_kafka_keeps_its_log_on_the_volume(services: dict[str, Any]) -> None:
    kafka = services["kafka"]
    targets = {str(v).split(":")[1] for v in kafka["volumes"]}
    assert env(kafka)["KAFKA_LOG_DIRS"] in targets
    assert env(kafka)["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper


def test_kraft_cluster_id_is_a_kafka_uuid(services: dict[str, Any]) -> None:
    """KRaft formats storage with CLUSTER_ID: a URL-safe base64 UUID of 22 characters."""
    import base64

    cid = env(services["kafka"])["CLUSTER_ID"]
    assert len(cid) == 22 and len(base64.urlsafe_b64decode(cid + "==")) == 16


def test_consumers_are_health_checked_on_healthz(services: dict[str, Any]) -> None:
    """The consumers' compose healthcheck probes /healthz on their metrics port (not just /metrics,
    which answers while the loop is stuck)."""
    for name in ("consumer", "consumer-gpu"):
        port = env(services[name])["FINSENTRY_METRICS_PORT"]
        test = " ".join(services[name]["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/healthz" in test, test
        assert services[name]["healthcheck"]["start_period"]
