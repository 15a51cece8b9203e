"""The /metrics server helper and the Alertmanager routing example of docs/alerting.md."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry

from finsentry.errors import ConfigError
from finsentry.metrics import Metrics
from monitor.exposition import MetricsServer

DOC = Path(__file__).resolve().parents[2] / "docs" / "alerting.md"


def test_metrics_server_serves_the_registry_and_reports_a_busy_port() -> None:
    m = Metrics(CollectorRegistry())
    m.spike_active.labels("ticker", "SIVB", "critical").set(1)
    server = MetricsServer.start(m.registry, "127.0.0.1", 0)
    try:
        text = requests.get(server.url, timeout=5).text
        assert 'finsentry_spike_active{key="SIVB",key_type="ticker",severity="critical"} 1.0' in text
        with pytest.raises(ConfigError):
            MetricsServer.start(m.registry, "127.0.0.1", server.port)
    finally:
        server.close()


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool missing: run `make sysdeps`")
def test_documented_alertmanager_routing_example_is_valid(tmp_path: Path) -> None:
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S) if "route:" in b]
    (tmp_path / "am.yml").write_text(block)
    res = subprocess.run(
        ["amtool", "check-config", str(tmp_path / "am.yml")], capture_output=True, text=True, timeout=30
    )
    assert res.returncode == 0, res.stdout + res.stderr
