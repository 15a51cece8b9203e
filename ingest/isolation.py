"""Store writes that cannot be blocked by one item: a refused batch is retried item by item, once.

A refused item (``StoreError``: a value the database cannot hold) becomes a dead letter with
reason ``store_rejected`` instead of blocking its partition forever:
each item is tried at most twice (in the batch, then alone), so the work is bounded. Outages
(``StoreUnavailable``, including ``StorePermissionDenied``: no write permission is the store's
fault, never the records') propagate: the loop rewinds and retries the whole batch with backoff,
and commits nothing meanwhile. Any other exception is a bug, not a record's fault: it is not
turned into dead letters (that would dead-letter every item while the bug lasts).
"""

from __future__ import annotations

from collections.abc import Sequence

from finsentry.errors import StoreError, StoreUnavailable
from finsentry.logs import get_logger
from finsentry.records import ScoredItem
from ingest.contract import NewsMessage
from ingest.kafka_io import Record
from ingest.records import Rejected
from store import DeadLetter, Store
from store.protocol import InTxn

log = get_logger(__name__)


def _describe(exc: StoreError) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def write_isolating(store: Store, items: list[ScoredItem], valid: list[tuple[Record, NewsMessage]],
                    rejected: list[Rejected], in_txn: InTxn | None) -> tuple[list[ScoredItem], set[str]]:
    """Write the batch; returns (newly stored items, ids the store refused). Refused items are
    appended to ``rejected`` as ``store_rejected`` dead letters."""
    try:
        return store.write_batch(items, in_txn), set()
    except StoreUnavailable:
        raise
    except StoreError as exc:
        log.warning("store.batch_refused", error=_describe(exc), action="writing items one by one")
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
            rejected.append(Rejected(record_of[it.id], "store_rejected", _describe(exc)))
    return new, refused


def record_dead_letters_isolating(store: Store, rejected: Sequence[Rejected]) -> None:
    """Remember the batch's dead letters in the store; a row the store refuses is skipped (logged:
    it still goes to the DLQ topic), an outage propagates."""
    rows = [DeadLetter(r.record.topic, r.record.partition, r.record.offset, r.reason) for r in rejected]
    try:
        store.record_dead_letters(rows)
        return
    except StoreUnavailable:
        raise
    except StoreError as exc:  # one odd row must not block the batch
        log.warning("store.dead_letters_refused", error=_describe(exc), action="one by one")
    for row in rows:
        try:
            store.record_dead_letters([row])
        except StoreUnavailable:
            raise
        except StoreError as exc:
            log.warning("store.dead_letter_refused", topic=row.topic, partition=row.partition,
                        offset=row.offset, error=_describe(exc), action="in the DLQ topic only")
