"""Start the real Prometheus and Alertmanager (Debian packages) on free loopback ports."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.alerting.receiver import free_port

ALERTMANAGER_BIN = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
PROMETHEUS_BIN = shutil.which("prometheus")
needs_alertmanager = pytest.mark.skipif(ALERTMANAGER_BIN is None, reason="no alertmanager: run `make sysdeps`")
needs_prometheus = pytest.mark.skipif(PROMETHEUS_BIN is None, reason="no prometheus: run `make sysdeps`")


class Proc:
    def __init__(self, name: str, args: list[str], url: str, log: Path) -> None:
        self.name, self.url, self.log_path = name, url, log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, path: str = "/-/ready", timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_path.read_text()[-2000:]}")
            try:
                if requests.get(self.url + path, timeout=1).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready in {timeout}s: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()

    def get(self, path: str, **params: Any) -> Any:
        return requests.get(self.url + path, params=params, timeout=5).json()


def start_alertmanager(workdir: Path, webhook_url: str) -> Proc:
    """Alertmanager routing every alert to ``webhook_url`` after a 1 s group wait."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    config = {
        "route": {
            "receiver": "test",
            "group_by": ["alertname", "key_type", "key"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [{"name": "test", "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}],
    }
    (workdir / "am.yml").write_text(yaml.safe_dump(config))
    am = Proc(
        "alertmanager",
        [
            ALERTMANAGER_BIN,
            f"--config.file={workdir / 'am.yml'}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
        f"http://127.0.0.1:{port}",
        workdir / "am.log",
    )
    am.wait_ready()
    return am


def start_prometheus(workdir: Path, rules: Path, targets: list[str], alertmanager: str) -> Proc:
    """Prometheus scraping ``targets`` as job "finsentry" every second, evaluating ``rules``."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [str(rules)],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [{"job_name": "finsentry", "static_configs": [{"targets": targets}]}],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    prom = Proc(
        "prometheus",
        [
            PROMETHEUS_BIN,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--web.external-url=http://127.0.0.1:{port}",
            "--log.level=warn",
        ],
        f"http://127.0.0.1:{port}",
        workdir / "prometheus.log",
    )
    prom.wait_ready()
    return prom
