"""Statements compiled once per dialect and sent to the driver's ``executemany`` as plain tuples.

SQLAlchemy's per-row parameter processing of a compiled ``insert()`` cost the record writer about
a fifth of its CPU (py-spy under load, issue 16), so the hot bulk statements (the records' insert,
the rollups' upserts) are compiled here once, with each column's bind processor (what SQLAlchemy
would apply: ``UTCDateTime``, ``Money``, booleans), and their rows go to the driver as tuples
(positional paramstyles) or dicts (named ones).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


@dataclass(frozen=True, slots=True)
class BulkStatement:
    """A compiled statement and, in bind order, each parameter's name and bind processor."""

    sql: str
    columns: tuple[tuple[str, Callable[[Any], Any] | None], ...]
    positional: bool
    #: the row's values in bind order, and the (index, processor) of those that have one: a row's
    #: values taken at once and only those processed (a generator over every column took a third
    #: of ``parameters``' 10 µs a record)
    _values: Callable[[Mapping[str, Any]], tuple[Any, ...]] = field(init=False, repr=False, compare=False)
    _processed: tuple[tuple[int, Callable[[Any], Any]], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = tuple(name for name, _ in self.columns)
        values = itemgetter(*names) if len(names) > 1 else (lambda row: tuple(row[n] for n in names))
        object.__setattr__(self, "_values", values)
        processed = tuple((i, proc) for i, (_, proc) in enumerate(self.columns) if proc is not None)
        object.__setattr__(self, "_processed", processed)

    def parameters(self, row: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        values = list(self._values(row))
        for index, proc in self._processed:
            values[index] = proc(values[index])
        if self.positional:
            return tuple(values)
        return {name: value for (name, _), value in zip(self.columns, values, strict=True)}


def compile_bulk(stmt: sa.Insert, table: sa.Table, dialect: Dialect) -> BulkStatement:
    """``stmt`` (an insert into ``table`` of all its columns) compiled for ``dialect``."""
    compiled = stmt.compile(dialect=dialect)
    names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(compiled.binds)
    columns = tuple(
        (name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in names
    )
    return BulkStatement(str(compiled), columns, compiled.positional)
