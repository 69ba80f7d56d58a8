"""``store/bulk_sql.py``: a compiled bulk statement binds each row as SQLAlchemy would, in order."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from llmgate.store.bodies import Body, unpack
from llmgate.store.bulk_sql import compile_bulk
from llmgate.store.columns import MONEY_SCALE, Money, UTCDateTime

TABLE = sa.Table(
    "t",
    sa.MetaData(),
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("at", UTCDateTime()),
    sa.Column("cost", Money()),
    sa.Column("ok", sa.Boolean),
    sa.Column("body", Body()),
    sa.Column("n", sa.Integer),
)
ROW = {
    "id": "r1",
    "at": datetime(2026, 12, 7, 1, 2, 3, 456789, tzinfo=UTC),
    "cost": Decimal("0.0000012345"),
    "ok": True,
    "body": "the sea " * 20,
    "n": None,
}


@pytest.mark.parametrize(
    "dialect", [sqlite.dialect(), postgresql.psycopg.dialect()], ids=["sqlite", "postgresql"]
)
def test_each_value_is_bound_by_its_columns_processor_in_the_statements_order(dialect: sa.Dialect) -> None:
    bulk = compile_bulk(sa.insert(TABLE), TABLE, dialect)
    values = bulk.parameters(ROW)
    if bulk.positional:
        assert isinstance(values, tuple)
        by_name = dict(zip([name for name, _ in bulk.columns], values, strict=True))
    else:
        assert isinstance(values, dict)
        by_name = values
    assert set(by_name) == set(ROW)
    assert by_name["id"] == "r1" and by_name["n"] is None
    assert unpack(by_name["body"]) == ROW["body"]  # packed, as stored
    if dialect.name == "sqlite":  # UTC wall time as text, money as scaled integer units, 1 for true
        assert by_name["at"] == "2026-12-07 01:02:03.456789"
        assert by_name["cost"] == int(ROW["cost"].scaleb(MONEY_SCALE))
        assert by_name["ok"] == 1
    else:
        assert by_name["at"] == ROW["at"] and by_name["cost"] == ROW["cost"] and by_name["ok"] is True


def test_a_one_column_statement_binds_a_one_value_row() -> None:
    table = sa.Table("one", sa.MetaData(), sa.Column("id", sa.String, primary_key=True))
    assert compile_bulk(sa.insert(table), table, sqlite.dialect()).parameters({"id": "x"}) == ("x",)
