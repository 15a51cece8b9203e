"""Standard Webhooks signatures: the spec's test vector, verification rules, rotation, the startup
checks, and the receiver example of docs/alerting.md run against a real delivery."""

from __future__ import annotations

import http.client
import inspect
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from finsentry.errors import ConfigError
from finsentry.metrics import Metrics
from finsentry.settings import Settings
from ingest.broker import free_port
from monitor.alerting import Notifier, NotifierConfig, signing
from monitor.alerting.payload import encode, webhook_body
from monitor.alerting.signing import (
    WEBHOOK_ID,
    WEBHOOK_SIGNATURE,
    WEBHOOK_TIMESTAMP,
    sign,
    signature_headers,
    verify,
)
from store import Store
from tests.alerting.conftest import firing, make_settings, resolved

DOC = Path(__file__).resolve().parents[2] / "docs" / "alerting.md"
# The published Standard Webhooks test vector (reference implementations' tests).
VEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VEC_ID, VEC_TS, VEC_BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
VEC_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def _headers(sig: str = VEC_SIG, ts: int = VEC_TS, msg_id: str = VEC_ID) -> dict[str, str]:
    return {"Webhook-Id": msg_id, "Webhook-Timestamp": str(ts), "Webhook-Signature": sig}


def test_the_specification_test_vector_reproduces() -> None:
    assert sign(VEC_ID, VEC_TS, VEC_BODY, [VEC_SECRET]) == VEC_SIG
    assert verify(VEC_BODY, _headers(), VEC_SECRET, now=VEC_TS + 10)


def test_every_secret_signs_and_any_one_verifies() -> None:
    sig = sign(VEC_ID, VEC_TS, VEC_BODY, ["old-secret", VEC_SECRET])
    parts = sig.split(" ")
    assert len(parts) == 2 and parts[1] == VEC_SIG and all(p.startswith("v1,") for p in parts)
    for receiver_secrets in (["old-secret"], [VEC_SECRET], ["unrelated", VEC_SECRET]):
        assert verify(VEC_BODY, _headers(sig), receiver_secrets, now=VEC_TS)
    assert not verify(VEC_BODY, _headers(sig), ["unrelated"], now=VEC_TS)


@pytest.mark.parametrize(
    ("case", "body", "headers", "now"),
    [
        ("tampered body", VEC_BODY + b" ", _headers(), VEC_TS),
        ("stale (replayed later)", VEC_BODY, _headers(), VEC_TS + 301),
        ("from the future", VEC_BODY, _headers(), VEC_TS - 301),
        ("other id", VEC_BODY, _headers(msg_id="msg_other"), VEC_TS),
        ("timestamp changed", VEC_BODY, _headers(ts=VEC_TS + 1), VEC_TS),
        ("no v1 prefix", VEC_BODY, _headers(sig=VEC_SIG[3:]), VEC_TS),
        ("missing headers", VEC_BODY, {}, VEC_TS),
        ("not a number", VEC_BODY, {**_headers(), "Webhook-Timestamp": "16e8"}, VEC_TS),
        ("huge number", VEC_BODY, {**_headers(), "Webhook-Timestamp": "9" * 5000}, VEC_TS),
    ],
)
def test_verification_rejects(case: str, body: bytes, headers: dict[str, str], now: int) -> None:
    assert not verify(body, headers, [VEC_SECRET], now=now), case


def test_tolerance_is_inclusive_at_five_minutes() -> None:
    assert verify(VEC_BODY, _headers(), VEC_SECRET, now=VEC_TS + 300)
    assert verify(VEC_BODY, _headers(), VEC_SECRET, now=VEC_TS - 300)


def test_headers_carry_id_timestamp_and_one_signature_per_secret() -> None:
    body = encode(webhook_body([firing()], "x"))
    h = signature_headers("msg_1", body, ["k1", "k2"], now=1_700_000_000)
    assert h[WEBHOOK_ID] == "msg_1" and h[WEBHOOK_TIMESTAMP] == "1700000000"
    assert len(h[WEBHOOK_SIGNATURE].split()) == 2
    assert verify(body, h, "k2", now=1_700_000_000)
    assert set(h) == {WEBHOOK_ID, WEBHOOK_TIMESTAMP, WEBHOOK_SIGNATURE}  # no replayable body-only header


def test_bad_whsec_secret_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="base64"):
        NotifierConfig.from_settings(make_settings(alert_webhook_urls=["http://x/h"], alert_webhook_secret="whsec_%%"))


def test_webhooks_without_a_secret_refuse_to_start_unless_unsigned_is_explicit() -> None:
    no_secret = {"alert_webhook_secret": None, "alert_webhook_urls": ["http://127.0.0.1:9/h"]}
    with pytest.raises(ConfigError, match="FINSENTRY_ALERT_WEBHOOK_UNSIGNED"):
        NotifierConfig.from_settings(Settings(**no_secret))
    # No webhook target: nothing to sign, no error (Alertmanager pushes are not signed).
    assert NotifierConfig.from_settings(Settings(alertmanager_url="http://am:9093")).webhook_secrets == ()
    cfg = NotifierConfig.from_settings(Settings(**no_secret, alert_webhook_unsigned=True))
    assert cfg.unsigned and cfg.webhook_secrets == ()
    with structlog.testing.capture_logs() as logs:
        Notifier(cfg, Store("sqlite://"), Metrics(CollectorRegistry())).close()
    assert [e["log_level"] for e in logs if e["event"] == "alert.webhooks_unsigned"] == ["warning"]


def test_secret_and_secrets_merge_in_order_without_duplicates() -> None:
    cfg = NotifierConfig.from_settings(make_settings(alert_webhook_urls=["http://x/h"],
                                                     alert_webhook_secrets=" b , s3cret,c "))
    assert cfg.webhook_secrets == ("s3cret", "b", "c")


# --- the receiver example of docs/alerting.md, run as written ------------------------------------

def _doc_receiver_source() -> str:
    text = DOC.read_text()
    block = text.split("<!-- receiver-example -->", 1)[1]
    return re.search(r"```python\n(.*?)\n```", block, re.S).group(1)  # type: ignore[union-attr]


def test_doc_receiver_uses_the_shipped_verify() -> None:
    assert inspect.getsource(signing.verify) in _doc_receiver_source()


@pytest.fixture
def doc_receiver(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    script = tmp_path / "receiver.py"
    script.write_text(_doc_receiver_source())
    port = free_port()
    env = {"WEBHOOK_SECRETS": f"whsec_bmV3LXJlY2VpdmVyLWtleQ==,{VEC_SECRET}", "PORT": str(port), "PATH": ""}
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while True:  # wait until it listens
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "receiver did not start"
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/hook", proc
    proc.terminate()
    proc.wait(10)
    assert proc.stdout is not None
    proc.stdout.close()


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    port = int(url.split(":")[2].split("/")[0])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("POST", "/hook", body=body, headers={"Content-Type": "application/json", **headers})
    status = conn.getresponse().status
    conn.close()
    return status


def test_doc_receiver_accepts_a_real_delivery_and_rejects_replays_and_forgeries(
        sqlite_engine: Engine, doc_receiver: tuple[str, subprocess.Popen[str]]) -> None:
    url, proc = doc_receiver
    # The service signs with the old and the new secret (mid-rotation); the receiver knows the new one.
    settings = make_settings(alert_webhook_urls=[url], alert_webhook_secret="old-secret",
                             alert_webhook_secrets=VEC_SECRET)
    n = Notifier.from_settings(settings, Store.from_engine(sqlite_engine), Metrics(CollectorRegistry()))
    ev = firing()
    with Store.from_engine(sqlite_engine).transaction() as txn:
        n.record(txn, [ev])
        n.record(txn, [resolved(ev)])
    assert n.deliver_due() == 1 and n.deliver_due() == 1  # 2xx (204) from the example: delivered
    n.close()
    assert proc.stdout is not None
    lines = [json.loads(proc.stdout.readline()) for _ in range(2)]
    assert [(x["status"], x["keys"]) for x in lines] == [("firing", ["SIVB"]), ("resolved", ["SIVB"])]
    assert lines[0]["id"] != lines[1]["id"] and all(x["id"].startswith("msg_") for x in lines)

    body = encode(webhook_body([ev], "x"))
    good = signature_headers(lines[0]["id"], body, [VEC_SECRET])
    assert _post(url, body, good) == 204  # a retry of an accepted id: acknowledged, not processed again
    assert _post(url, body + b" ", good) == 401  # tampered
    assert _post(url, body, signature_headers("msg_x", body, ["wrong"])) == 401  # forged
    stale = signature_headers("msg_stale", body, [VEC_SECRET], now=time.time() - 600)
    assert _post(url, body, stale) == 401  # captured and replayed later
    fresh = signature_headers("msg_fresh", body, [VEC_SECRET])
    assert _post(url, body, fresh) == 204
    # Only the fresh one was processed: the next line printed is it (nothing from the duplicate).
    assert json.loads(proc.stdout.readline())["id"] == "msg_fresh"
