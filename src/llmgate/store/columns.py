"""The store's building blocks: the ``metadata`` every table is declared on, the column helpers,
and the two column types that make SQLite and PostgreSQL behave the same from Python.

``models.py`` and ``monitor_tables.py`` both declare their tables with these, so neither has to
import the other's internals (``models`` imports ``monitor_tables`` to put its tables on the
metadata).

Two column types make SQLite and PostgreSQL behave the same from Python:

- ``UTCDateTime``: timezone-aware UTC ``datetime`` in and out. PostgreSQL stores
  ``timestamptz``; SQLite stores the UTC wall time as fixed-width text (sortable, comparable).
  A naive ``datetime`` is taken to be UTC.
- ``Money``: exact ``Decimal`` with 10 decimal places. PostgreSQL stores ``NUMERIC(20, 10)``.
  SQLite has no decimal type (SQLAlchemy's ``Numeric`` there goes through a float and loses
  digits past the 15th significant one), so it stores the amount as a ``BIGINT`` count of
  1e-10 USD: exact, and ``SUM``, ``ORDER BY`` and comparisons still work in SQL. Range on
  SQLite: about +-922 million USD per value and per sum.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from llmgate.store.money import MONEY_QUANTUM as _MONEY_QUANTUM
from llmgate.store.money import MONEY_SCALE as MONEY_SCALE

__all__ = ["MONEY_SCALE", "Money", "UTCDateTime", "as_utc", "col", "metadata", "money_value", "serial_id"]

_MONEY_SQLITE_LIMIT = 2**63 - 1


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive one is taken as UTC already (as the store keeps it on SQLite)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC ``datetime`` on every database (naive input is taken as UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        value = as_utc(value)
        if dialect.name == "sqlite":
            # SQLite keeps no offset: store the UTC wall time, read it back as UTC.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


class Money(TypeDecorator[Decimal]):
    """An exact ``Decimal`` amount, 10 decimal places: ``NUMERIC(20, 10)``, scaled BIGINT on SQLite."""

    impl = sa.Numeric(20, MONEY_SCALE, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.BigInteger())
        return dialect.type_descriptor(sa.Numeric(20, MONEY_SCALE, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Decimal | int | None:
        if value is None:
            return None
        amount = money_value(value)
        if dialect.name == "sqlite":
            units = int(amount.scaleb(MONEY_SCALE))
            if abs(units) > _MONEY_SQLITE_LIMIT:
                raise ValueError(f"amount {value} is out of range for the SQLite store")
            return units
        return amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite" and isinstance(value, int):
            return Decimal(value).scaleb(-MONEY_SCALE)
        return _to_decimal(value).quantize(_MONEY_QUANTUM, rounding=ROUND_HALF_UP)


def money_value(value: object) -> Decimal:
    """``value`` as the money columns store it: an exact ``Decimal`` rounded half up to 10 places."""
    return _to_decimal(value).quantize(_MONEY_QUANTUM, rounding=ROUND_HALF_UP)


def _to_decimal(value: object) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError("expected a Decimal amount, got bool")
    if isinstance(value, int | str):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))  # the float's shortest repr, not its binary expansion
    raise TypeError(f"expected a Decimal amount, got {type(value).__name__}")


metadata = sa.MetaData()


def col(name: str, kind: Any, *, null: bool = False, **kw: Any) -> sa.Column[Any]:
    """A column, ``NOT NULL`` unless ``null``. Its name is a plain ``str``, as an ORM class would
    give it: ``sa.Column(name, ...)`` makes it a ``quoted_name``, and that becomes every row's key,
    which orjson (``llmgate logs --format json``) refuses as a dict key."""
    column: sa.Column[Any] = sa.Column(kind, nullable=null, **kw)
    column.name = column.key = name
    return column


def serial_id(name: str = "id") -> sa.Column[Any]:
    """An integer primary key the database numbers."""
    return col(name, sa.Integer, primary_key=True)
