"""finsentry: cross-cutting pieces shared by every package (settings, errors, logging, CLI).

The product packages are ``model`` (classifier), ``monitor`` (aggregation, detection,
store, metrics, alerting), ``ingest`` (Kafka; the composition root) and ``dashboard``.
"""

__version__ = "0.1.0"
