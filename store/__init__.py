"""The store (SQLite WAL or PostgreSQL): the lowest layer, importing only ``finsentry``.

Public API::

    from store import Store              # every read/write of the service, monitor, notifier
    from store.protocol import StoreProtocol, MonitorStore, AlertStore, Transaction
    from store import reads              # the dashboard's read API (DataFrames)

Modules: ``schema`` (tables), ``dialect`` (engines, error translation), ``sql`` (``Store``,
migrations), ``items`` / ``buckets`` / ``alerts`` (the SQL of one concept each), ``txn`` (the
transaction object handed to write hooks), ``sqltime`` (portable time binning), ``reads``.
"""

from store.dialect import make_engine
from store.protocol import DeadLetter, FiringEpisode, OutboxRow, StoreProtocol, Transaction
from store.sql import Store

__all__ = ["DeadLetter", "FiringEpisode", "OutboxRow", "Store", "StoreProtocol", "Transaction", "make_engine"]
