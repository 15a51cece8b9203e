"""The compose stack's webhook receiver, which doubles as the HMAC verification example."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from types import ModuleType

import pytest

from tests.ship.compose_model import load_docker_module

SECRET = b"s3cret"


def _receiver() -> ModuleType:
    return load_docker_module("receiver.py")


@pytest.fixture
def receiver() -> Iterator[str]:
    mod = _receiver()
    mod.Handler.secret = SECRET
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
    sig = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    assert _post(f"{receiver}/finsentry", body, {"X-Finsentry-Signature": sig}) == 200
    assert _post(f"{receiver}/finsentry", body + b" ", {"X-Finsentry-Signature": sig}) == 401
    assert _post(f"{receiver}/finsentry", body) == 401
    wrong = "sha256=" + hmac.new(b"other", body, hashlib.sha256).hexdigest()
    assert _post(f"{receiver}/finsentry", body, {"X-Finsentry-Signature": wrong}) == 401


def test_alertmanager_webhook_and_health(receiver: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _post(f"{receiver}/alerts", json.dumps(PAYLOAD).encode()) == 200
    assert _post(f"{receiver}/alerts", b"not json") == 400
    with urllib.request.urlopen(f"{receiver}/healthz", timeout=5) as resp:
        assert resp.status == 200
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["alerts"][0]["key"] == "AAPL" and line["status"] == "firing"


def test_verify_signature_rules() -> None:
    verify = _receiver().verify_signature
    body = b'{"a": 1}'
    good = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    assert verify(SECRET, body, good)
    assert not verify(SECRET, body, good.removeprefix("sha256="))
    assert not verify(SECRET, body, None)
    assert not verify(b"", body, "sha256=" + hmac.new(b"x", body, hashlib.sha256).hexdigest())
