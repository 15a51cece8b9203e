"""Dialect-portable time expressions, so one query text serves SQLite and PostgreSQL.

SQLite stores ``DateTime`` as ``'YYYY-MM-DD HH:MM:SS.ffffff'`` text (the writer stores UTC);
PostgreSQL as ``timestamptz``. ``epoch_bin(col, width)`` gives the start of the fixed-width
bin (epoch seconds, integer) a timestamp falls in, so charts bin in the database and only
a few hundred rows ever travel to the page.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ColumnElement, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class epoch_bin(FunctionElement[int]):  # noqa: N801 - reads like the SQL function it renders
    """``epoch_bin(column, width_s)``: bin start in epoch seconds."""

    type = BigInteger()
    inherit_cache = True
    name = "epoch_bin"

    def __init__(self, column: ColumnElement[Any], width_s: int) -> None:
        if width_s < 1:
            raise ValueError("bin width must be >= 1 s")
        # The width travels as a literal clause so it is part of SQLAlchemy's statement cache key.
        super().__init__(column, literal_column(str(int(width_s))))


@compiles(epoch_bin, "sqlite")
def _sqlite(element: epoch_bin, compiler: SQLCompiler, **kw: object) -> str:
    col, w = (compiler.process(c, **kw) for c in element.clauses)
    return f"((CAST(strftime('%s', {col}) AS INTEGER) / {w}) * {w})"


@compiles(epoch_bin, "postgresql")
def _postgresql(element: epoch_bin, compiler: SQLCompiler, **kw: object) -> str:
    col, w = (compiler.process(c, **kw) for c in element.clauses)
    return f"(CAST(floor(extract(epoch FROM {col}) / {w}) AS BIGINT) * {w})"


@compiles(epoch_bin)
def _default(element: epoch_bin, compiler: SQLCompiler, **kw: object) -> str:  # pragma: no cover
    raise NotImplementedError(f"epoch_bin has no rendering for {compiler.dialect.name}")
