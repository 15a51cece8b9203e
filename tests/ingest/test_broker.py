"""The embedded broker never outlives the process that started it (even after kill -9)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.ingest.harness import ROOT

SCRIPT = (
    "from ingest.broker import EmbeddedBroker; import time; "
    "b = EmbeddedBroker().start(); print(b.pid, flush=True); time.sleep(120)"
)


@pytest.mark.skipif(sys.platform != "linux", reason="parent-death signal is Linux-only")
def test_broker_dies_with_a_killed_parent():
    with subprocess.Popen(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as parent:
        assert parent.stdout is not None
        broker_pid = int(parent.stdout.readline())
        os.kill(broker_pid, 0)  # running
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(broker_pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(broker_pid, signal.SIGKILL)
    pytest.fail("embedded broker outlived its killed parent")
