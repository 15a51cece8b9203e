"""Alert delivery: the `Notifier` (store + outbox), payload builders and webhook signatures.

Public API::

    from monitor.alerting import Notifier, verify_signature, webhook_body, SIGNATURE_HEADER
"""

from finsentry.retry import Backoff
from monitor.alerting.notifier import Notifier, NotifierConfig
from monitor.alerting.payload import (
    ALERTNAME,
    alertmanager_alert,
    fingerprint,
    webhook_body,
)
from monitor.alerting.signing import SIGNATURE_HEADER, sign, verify_signature
from monitor.alerting.transport import HttpSender

__all__ = [
    "ALERTNAME",
    "SIGNATURE_HEADER",
    "Backoff",
    "HttpSender",
    "Notifier",
    "NotifierConfig",
    "alertmanager_alert",
    "fingerprint",
    "sign",
    "verify_signature",
    "webhook_body",
]
