"""The spend indexes also cover how each request ended (``status``, ``status_code``).

The spend reports count, besides all requests, how many succeeded, failed and were rejected
(``store/spend.py``, ``OUTCOMES``), which reads ``status``, ``status_code`` and ``provider``. The
covering indexes of migration 0004 get the first two (``provider`` they had), so a report still
never reads the table's rows (about 1 KB each). Each index is dropped and made again with the
longer column list; on the other store it stays an empty partial index.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

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
]
OLD_POSTGRES_INCLUDE = [
    "team_id",
    "key_id",
    "model",
    "provider",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
]
OUTCOME_COLUMNS = ["status", "status_code"]


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
    _drop()
    _create(OLD_SQLITE_COLUMNS + OUTCOME_COLUMNS, OLD_POSTGRES_INCLUDE + OUTCOME_COLUMNS)


def downgrade() -> None:
    _drop()
    _create(OLD_SQLITE_COLUMNS, OLD_POSTGRES_INCLUDE)
