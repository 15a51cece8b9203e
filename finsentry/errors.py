"""The one exception family of finsentry.

    FinsentryError                     root: catch this to catch anything we raise
    ├── ConfigError                    bad settings / CLI arguments
    ├── ModelError                     model files missing, corrupt, export/validation failed
    │   └── ExportValidationError      ONNX/int8/fp16 outputs drift beyond tolerance
    ├── DataError                      a dataset or input file is unreadable or malformed
    ├── InvalidMessage                 one Kafka record breaks the input contract (-> DLQ)
    ├── StoreError                     the store could not be reached or written
    │   ├── StoreUnavailable           transient: retry later, do not commit offsets
    │   │   └── StorePermissionDenied  the store refuses our role/file: an outage, not a bad record
    │   └── SchemaVersionError         the store was written by a newer finsentry (never retried)
    ├── BrokerError                    Kafka broker unreachable / embedded broker failed
    ├── QuarantineError                the local quarantine file cannot be written (treated as an outage)
    └── DeliveryError                  an alert could not be delivered (will be retried)

Library errors are translated at the adapter edge: ``raise StoreUnavailable(...) from exc``.
"""

from __future__ import annotations


class FinsentryError(Exception):
    """Root of every error finsentry raises on purpose."""


class ConfigError(FinsentryError):
    pass


class ModelError(FinsentryError):
    pass


class ExportValidationError(ModelError):
    pass


class DataError(FinsentryError):
    pass


class InvalidMessage(FinsentryError):
    """A record that violates the input contract; ``reason`` is a short machine-readable code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class StoreError(FinsentryError):
    pass


class StoreUnavailable(StoreError):
    pass


class StorePermissionDenied(StoreUnavailable):
    """No write permission (read-only SQLite file or directory, PostgreSQL role without INSERT)."""


class SchemaVersionError(StoreError):
    pass


class BrokerError(FinsentryError):
    pass


class DeliveryError(FinsentryError):
    pass


class QuarantineError(FinsentryError):
    pass
