"""The monitor: event-time trends, syndication links, spike detection, alerts and metrics.

Public API::

    from monitor.service import MonitorService          # what the ingest loop calls
    from monitor.buckets import Counts, BucketTable     # additive 1-minute buckets (pure)
    from monitor.windows import sentiment_index         # sliding-window index (pure)
    from monitor.detector import SpikeDetector, DetectorConfig   # spike detection (pure)
    from monitor.rollup import read_index, read_series  # stored buckets (dashboard reads)

Submodules are imported on use so `import monitor` stays light (no SQLAlchemy, no Kafka).
"""
