"""The monitor: event-time trends, syndication links, spike detection, alerts and metrics.

Public API::

    from monitor.service import MonitorService, MonitorConfig   # what the ingest loop calls
    from monitor.buckets import bucket_start, contributions     # additive 1-minute buckets (pure)
    from monitor.detector import SpikeDetector, DetectorConfig  # spike detection (pure)
    from monitor.alerting import Notifier, NotifierConfig       # alert recording and delivery

Every store access goes through named methods of ``store`` (no SQL here). Submodules are
imported on use so `import monitor` stays light (no SQLAlchemy, no Kafka).
"""
