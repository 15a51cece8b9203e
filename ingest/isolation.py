"""Store writes that cannot be blocked by one item: a refused batch is retried item by item.

A refused item (e.g. a value the database cannot hold) becomes a dead letter with reason
``store_rejected`` instead of blocking its partition forever. Outages (``StoreUnavailable``)
propagate: the loop rewinds and retries the whole batch.
"""

from __future__ import annotations

from finsentry.errors import StoreError, StoreUnavailable
from finsentry.logs import get_logger
from finsentry.records import ScoredItem
from ingest.contract import NewsMessage
from ingest.kafka_io import Record
from ingest.records import Rejected
from store import Store
from store.protocol import InTxn

log = get_logger(__name__)


def write_isolating(store: Store, items: list[ScoredItem], valid: list[tuple[Record, NewsMessage]],
                    rejected: list[Rejected], in_txn: InTxn | None) -> tuple[list[ScoredItem], set[str]]:
    """Write the batch; returns (newly stored items, ids the store refused). Refused items are
    appended to ``rejected`` as ``store_rejected`` dead letters."""
    try:
        return store.write_batch(items, in_txn), set()
    except StoreUnavailable:
        raise
    except StoreError as exc:
        log.warning("store.batch_refused", error=str(exc)[:300], action="writing items one by one")
    record_of = {msg.id: rec for rec, msg in reversed(valid)}
    new: list[ScoredItem] = []
    refused: set[str] = set()
    for it in items:
        try:
            new += store.write_batch([it], in_txn)
        except StoreUnavailable:
            raise
        except StoreError as exc:
            refused.add(it.id)
            rejected.append(Rejected(record_of[it.id], "store_rejected", str(exc)[:300]))
    return new, refused
