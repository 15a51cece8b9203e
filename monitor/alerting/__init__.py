"""Alert delivery: the `Notifier` (store + outbox), payload builders and webhook signatures.

Public API::

    from monitor.alerting import Notifier, verify, webhook_body
"""

from finsentry.retry import Backoff
from monitor.alerting.notifier import Notifier, NotifierConfig, message_id
from monitor.alerting.payload import (
    ALERTNAME,
    alertmanager_alert,
    fingerprint,
    webhook_body,
)
from monitor.alerting.signing import (
    WEBHOOK_ID,
    WEBHOOK_SIGNATURE,
    WEBHOOK_TIMESTAMP,
    sign,
    signature_headers,
    verify,
)
from monitor.alerting.transport import HttpSender

__all__ = [
    "ALERTNAME",
    "WEBHOOK_ID",
    "WEBHOOK_SIGNATURE",
    "WEBHOOK_TIMESTAMP",
    "Backoff",
    "HttpSender",
    "Notifier",
    "NotifierConfig",
    "alertmanager_alert",
    "fingerprint",
    "message_id",
    "sign",
    "signature_headers",
    "verify",
    "webhook_body",
]
