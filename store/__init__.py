"""The store (SQLite WAL or PostgreSQL): schema in ``schema``, reads/writes in ``store``."""

from store.sql import DeadLetter, Store, make_engine

__all__ = ["DeadLetter", "Store", "make_engine"]
