"""The compose stack's webhook receiver, which doubles as a Standard Webhooks verification example."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from types import ModuleType

import pytest

from monitor.alerting.signing import signature_headers
from tests.ship.compose_model import load_docker_module

SECRET = "s3cret"


def _receiver() -> ModuleType:
    return load_docker_module("receiver.py")


@pytest.fixture
def receiver() -> Iterator[str]:
    mod = _receiver()
    mod.Handler.secrets = (SECRET,)
    mod.Handler.seen.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), mod.Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


PAYLOAD = {
    "version": "4", "receiver": "webhook", "status": "firing", "groupKey": "{}:{key=\"AAPL\"}",
    "alerts": [{"status": "firing", "labels": {"alertname": "NegativeSentimentSpike", "key_type": "ticker",
                                                "key": "AAPL", "severity": "warning"}}],
}


def _post(url: str, body: bytes, headers: dict[str, str] | None = None) -> int:
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def test_signed_direct_webhook_is_accepted_and_tampering_rejected(receiver: str) -> None:
    body = json.dumps(PAYLOAD).encode()
    headers = signature_headers("msg_1", body, ["old-key", SECRET])  # rotation: the second secret matches
    assert _post(f"{receiver}/finsentry", body, headers) == 200
    assert _post(f"{receiver}/finsentry", body, headers) == 204  # the same webhook-id again: dropped
    assert _post(f"{receiver}/finsentry", body + b" ", signature_headers("msg_2", body, [SECRET])) == 401
    assert _post(f"{receiver}/finsentry", body) == 401
    assert _post(f"{receiver}/finsentry", body, signature_headers("msg_3", body, ["other"])) == 401
    stale = signature_headers("msg_4", body, [SECRET], now=time.time() - 600)
    assert _post(f"{receiver}/finsentry", body, stale) == 401


def test_alertmanager_webhook_and_health(receiver: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _post(f"{receiver}/alerts", json.dumps(PAYLOAD).encode()) == 200
    assert _post(f"{receiver}/alerts", b"not json") == 400
    with urllib.request.urlopen(f"{receiver}/healthz", timeout=5) as resp:
        assert resp.status == 200
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["alerts"][0]["key"] == "AAPL" and line["status"] == "firing"


def test_verify_rules() -> None:
    verify = _receiver().verify
    body = b'{"a": 1}'
    good = signature_headers("msg_x", body, [SECRET], now=1_000_000)
    assert verify(body, good, [SECRET], now=1_000_100)
    assert not verify(body, good, [SECRET], now=1_000_400)  # outside the 5 min tolerance
    assert not verify(body, {**good, "webhook-id": "msg_y"}, [SECRET], now=1_000_000)
    assert not verify(body, {k: v for k, v in good.items() if k != "webhook-signature"}, [SECRET], now=1_000_000)
    assert not verify(body, good, [], now=1_000_000)


def test_secrets_from_env() -> None:
    env = {"FINSENTRY_ALERT_WEBHOOK_SECRET": "a", "FINSENTRY_ALERT_WEBHOOK_SECRETS": " b, ,c"}
    assert _receiver().secrets_from_env(env) == ("a", "b", "c")
