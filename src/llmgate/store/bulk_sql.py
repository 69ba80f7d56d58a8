"""Statements compiled once per dialect and sent to the driver's ``executemany`` as plain tuples.

SQLAlchemy's per-row parameter processing of a compiled ``insert()`` cost the record writer about
a fifth of its CPU (py-spy under load, issue 16), so the hot bulk statements (the records' insert,
the rollups' upserts) are compiled here once, with each column's bind processor (what SQLAlchemy
would apply: ``UTCDateTime``, ``Money``, booleans), and their rows go to the driver as tuples
(positional paramstyles) or dicts (named ones).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


@dataclass(frozen=True, slots=True)
class BulkStatement:
    """A compiled statement and, in bind order, each parameter's name and bind processor."""

    sql: str
    columns: tuple[tuple[str, Callable[[Any], Any] | None], ...]
    positional: bool

    def parameters(self, row: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        if self.positional:
            return tuple(row[name] if proc is None else proc(row[name]) for name, proc in self.columns)
        return {name: row[name] if proc is None else proc(row[name]) for name, proc in self.columns}


def compile_bulk(stmt: sa.Insert, table: sa.Table, dialect: Dialect) -> BulkStatement:
    """``stmt`` (an insert into ``table`` of all its columns) compiled for ``dialect``."""
    compiled = stmt.compile(dialect=dialect)
    names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(compiled.binds)
    columns = tuple(
        (name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in names
    )
    return BulkStatement(str(compiled), columns, compiled.positional)
