"""Plumbing of the dashboard reads: what they accept, how they connect, how errors are told."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import pandas as pd
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.sql import Executable

from finsentry.errors import StoreError, StoreUnavailable
from finsentry.timeutil import as_utc

Connectable = Engine | Connection
P = ParamSpec("P")
R = TypeVar("R")

utc = as_utc  # naive values are UTC (how SQLite hands them back); aware ones are converted


def translated(fn: Callable[P, R]) -> Callable[P, R]:
    """Translate library errors at this edge: unreachable store vs anything else."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except OperationalError as exc:
            raise StoreUnavailable(f"store query {fn.__name__} failed: {exc.orig}") from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"store query {fn.__name__} failed: {exc}") from exc

    return wrapper


@contextmanager
def connect(db: Connectable) -> Iterator[Connection]:
    """The connection itself, or a fresh one from the engine (closed afterwards)."""
    if isinstance(db, Connection):
        yield db
    else:
        with db.connect() as conn:
            yield conn


def utc_col(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True)


def frame(conn: Connection, stmt: Executable) -> pd.DataFrame:
    result = conn.execute(stmt)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))
