"""The response cache's columns on ``requests``, and the spend indexes covering the two a report sums.

A call the cache answered is recorded like any other, with ``cache_hit`` true, ``cost_usd`` 0 and
``saved_usd`` what it would have cost; ``cache`` says what the cache did (``hit``,
``semantic-hit``, ``miss``, ``bypass``; NULL when no cache was on), ``cache_key`` which entry, and
``cache_similarity`` how close a semantic hit was. Rows recorded before this revision read as no
hit (``cache_hit`` false, by the server default) and the rest NULL.

The spend reports sum ``saved_usd`` and count ``cache_hit``, so both covering indexes of migration
0008 are made again with them, and a report still never reads the table's rows.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: the covering spend indexes as migration 0008 left them
OLD_SQLITE_COLUMNS = [
    "created_at",
    "team_id",
    "key_id",
    "user",
    "model",
    "provider",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "tags_json",
    "status",
    "status_code",
]
OLD_POSTGRES_INCLUDE = [
    "team_id",
    "key_id",
    "model",
    "provider",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "status",
    "status_code",
]
CACHE_COLUMNS = ["cache_hit", "saved_usd"]
# Money: NUMERIC(20, 10); on SQLite a BIGINT count of 1e-10 USD (see store/models.py).
_MONEY = sa.Numeric(20, 10).with_variant(sa.BigInteger(), "sqlite")


def _create(sqlite_columns: list[str], postgres_include: list[str]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_requests_spend", "requests", sqlite_columns, postgresql_where=sa.text("false"))
        op.create_index(
            "ix_requests_spend_pg", "requests", ["created_at"], postgresql_include=postgres_include
        )
    else:
        op.create_index("ix_requests_spend", "requests", sqlite_columns)
        op.create_index("ix_requests_spend_pg", "requests", ["created_at"], sqlite_where=sa.text("0"))


def _drop() -> None:
    op.drop_index("ix_requests_spend_pg", table_name="requests")
    op.drop_index("ix_requests_spend", table_name="requests")


def upgrade() -> None:
    # ADD COLUMN on both stores (no table rebuild): old rows take the server default or NULL
    op.add_column("requests", sa.Column("cache_hit", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("requests", sa.Column("cache", sa.String(16), nullable=True))
    op.add_column("requests", sa.Column("cache_key", sa.String(), nullable=True))
    op.add_column("requests", sa.Column("cache_similarity", sa.Float(), nullable=True))
    op.add_column("requests", sa.Column("saved_usd", _MONEY, nullable=True))
    _drop()
    _create(OLD_SQLITE_COLUMNS + CACHE_COLUMNS, OLD_POSTGRES_INCLUDE + CACHE_COLUMNS)


def downgrade() -> None:
    _drop()
    _create(OLD_SQLITE_COLUMNS, OLD_POSTGRES_INCLUDE)
    with op.batch_alter_table("requests") as batch:
        for name in ("saved_usd", "cache_similarity", "cache_key", "cache", "cache_hit"):
            batch.drop_column(name)
