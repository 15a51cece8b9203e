"""The store on SQLite and PostgreSQL: idempotent writes, in-transaction hook, status, migration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from finsentry.errors import StoreUnavailable
from finsentry.records import ScoredItem
from store import DeadLetter, Store
from store.schema import item_tickers, items

T0 = datetime(2023, 3, 10, 14, 0, tzinfo=UTC)


def item(i: int, label: str | None = "negative", tickers=("SIVB",)) -> ScoredItem:
    return ScoredItem(
        id=f"id-{i}", text=f"Bank {i} shares plunge", published_at=T0 + timedelta(seconds=i),
        ingested_at=T0 + timedelta(minutes=5), source="cnbc", url=f"https://x/{i}", lang="en",
        label=label, p_negative=0.9 if label else None, p_neutral=0.05 if label else None,
        p_positive=0.05 if label else None, score=-0.85 if label else None,
        topics=[("Banking", 0.8)] if label else [], tickers=list(tickers), model_version="m1",
        kafka_topic="news", kafka_partition=0, kafka_offset=i,
    )


def test_write_is_idempotent_and_returns_only_new(store_url):
    store = Store(store_url)
    seen: list[list[str]] = []
    hook = lambda txn, new: seen.append([it.id for it in new])  # noqa: E731
    assert [it.id for it in store.write_batch([item(1), item(2)], hook)] == ["id-1", "id-2"]
    # Redelivery of 2 plus a new 3 (and 3 twice in one batch): only 3 is new.
    new = store.write_batch([item(2), item(3), item(3)], hook)
    assert [it.id for it in new] == ["id-3"]
    assert seen == [["id-1", "id-2"], ["id-3"]]
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(items)).scalar() == 3
        assert conn.execute(sa.select(sa.func.count()).select_from(item_tickers)).scalar() == 3
        row = conn.execute(sa.select(items).where(items.c.id == "id-1")).mappings().one()
    assert row["label"] == "negative" and row["topic"] == "Banking"
    assert row["topics"] == [["Banking", 0.8]] and row["tickers"] == ["SIVB"]
    assert abs(row["score"] + 0.85) < 1e-9 and row["model_version"] == "m1"
    pub = row["published_at"]
    assert (pub if pub.tzinfo else pub.replace(tzinfo=UTC)) == T0 + timedelta(seconds=1)
    store.close()


def test_in_txn_failure_rolls_back_everything(store_url):
    store = Store(store_url)

    def boom(txn, new):
        raise RuntimeError("monitor failed")

    with pytest.raises(RuntimeError):
        store.write_batch([item(1)], boom)
    assert store.status()["items"] == 0
    # The retried batch is new again (nothing half-written).
    assert len(store.write_batch([item(1)])) == 1
    store.close()


def test_status_counts(store_url):
    store = Store(store_url)
    store.write_batch([item(1), item(2, "positive"), item(3, None, ())])
    store.record_dead_letters([DeadLetter("news", 0, 7, "not_json"), DeadLetter("news", 0, 8, "empty_text")])
    store.record_dead_letters([DeadLetter("news", 0, 7, "not_json")])  # redelivered: counted once
    store.upsert_health("host:1", consumed=10, processed=3, dead_lettered=2, lag=0)
    store.upsert_health("host:1", consumed=11, processed=3, dead_lettered=2, lag=0)
    st = store.status()
    assert st["items"] == 3
    assert st["by_label"] == {"negative": 1, "positive": 1, "unscored": 1}
    assert st["dead_lettered"] == 2 and st["dead_lettered_by_reason"] == {"empty_text": 1, "not_json": 1}
    assert st["consumers"] == 1 and st["alerts"] == 0
    assert st["last_published_at"].startswith("2023-03-10T14:00:03")
    store.close()


def test_migration_adds_missing_columns(sqlite_url):
    eng = sa.create_engine(sqlite_url)
    with eng.begin() as conn:  # an older schema without the kafka_* columns
        conn.execute(sa.text("CREATE TABLE items (id VARCHAR(128) PRIMARY KEY, text TEXT NOT NULL,"
                             " published_at DATETIME NOT NULL, ingested_at DATETIME NOT NULL)"))
    eng.dispose()
    store = Store(sqlite_url)
    cols = {c["name"] for c in sa.inspect(store.engine).get_columns("items")}
    assert {"kafka_offset", "label", "topics", "story_hash", "held"} <= cols
    indexes = {i["name"] for i in sa.inspect(store.engine).get_indexes("items")}
    assert {"ix_items_held", "ix_items_story_hash"} <= indexes  # indexes on the added columns too
    assert len(store.write_batch([item(1)])) == 1
    store.close()


def test_sqlite_uses_wal(sqlite_url):
    store = Store(sqlite_url)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.close()


def test_unreachable_postgres_is_store_unavailable(free_port):
    with pytest.raises(StoreUnavailable):
        Store(f"postgresql+psycopg://postgres@127.0.0.1:{free_port}/none")


def test_concurrent_starts_migrate_once(store_url):
    """Several instances creating the schema at once (the two-consumer start) must all succeed."""
    import threading

    errors: list[BaseException] = []
    stores: list[Store] = []

    def start():
        try:
            stores.append(Store(store_url))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(stores[0].write_batch([item(1)])) == 1
    for s in stores:
        s.close()


def test_a_store_written_by_a_newer_finsentry_is_refused_with_a_clear_error(store_url):
    from finsentry.errors import SchemaVersionError
    from store.schema import SCHEMA_VERSION, meta

    store = Store(store_url)
    with store.engine.begin() as conn:
        conn.execute(sa.update(meta).where(meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION + 1)))
    store.close()
    with pytest.raises(SchemaVersionError, match=f"schema version {SCHEMA_VERSION + 1}, newer than"):
        Store(store_url)
    with store.engine.begin() as conn:  # the same or an older version still opens (additive migrations)
        conn.execute(sa.update(meta).where(meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION)))
    store.close()  # the block above checked a connection out of the disposed pool again
    Store(store_url).close()


def test_read_only_commands_refuse_a_store_that_does_not_exist(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from app.cli import app
    from finsentry.errors import StoreError

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["status", "--store", "sqlite:///var/finsentry.db"])
    assert result.exit_code == 1
    assert not (tmp_path / "var").exists()  # nothing created where the user happened to be
    with pytest.raises(StoreError, match=str(tmp_path / "var" / "finsentry.db")):
        Store.open_existing("sqlite:///var/finsentry.db")
    empty = tmp_path / "empty.db"
    bare = sa.create_engine(f"sqlite:///{empty}")
    bare.connect().close()  # a file, but no finsentry tables
    bare.dispose()
    with pytest.raises(StoreError, match="no finsentry tables"):
        Store.open_existing(f"sqlite:///{empty}")
    Store(f"sqlite:///{tmp_path / 'real.db'}").close()
    Store.open_existing(f"sqlite:///{tmp_path / 'real.db'}").close()
