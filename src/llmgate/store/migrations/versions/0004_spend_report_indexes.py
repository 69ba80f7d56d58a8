"""Covering indexes for the spend reports, one per store.

Spend reports sum a time range of requests by team, key, user, model, provider and tags
(``store/spend.py``). With an index that holds every column they read, neither store touches the
table's rows (about 1 KB each: prompts and answers): over 1,000,000 requests that is the
difference between seconds and a fraction of one.

- SQLite: ``ix_requests_spend`` on (created_at, then every column a report reads, ``user`` and
  ``tags_json`` included: SQLite has no key-size limit).
- PostgreSQL: ``ix_requests_spend_pg`` on (created_at) INCLUDE the bounded columns. ``user`` and
  ``tags_json`` stay out: a B-tree entry must fit in 2,704 bytes and both hold whatever a client
  sends, so a long one would make its record impossible to store. Reports by user or tag read the
  table, with a parallel scan.

Each index is declared on both stores in ``store/models.py`` (alembic compares the indexes of
the store at hand with the models); on the other store it is an empty partial index
(``WHERE false``), which costs nothing.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_COLUMNS = [
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
POSTGRES_INCLUDE = [
    "team_id",
    "key_id",
    "model",
    "provider",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_requests_spend", "requests", SQLITE_COLUMNS, postgresql_where=sa.text("false"))
        op.create_index(
            "ix_requests_spend_pg", "requests", ["created_at"], postgresql_include=POSTGRES_INCLUDE
        )
    else:
        op.create_index("ix_requests_spend", "requests", SQLITE_COLUMNS)
        op.create_index("ix_requests_spend_pg", "requests", ["created_at"], sqlite_where=sa.text("0"))


def downgrade() -> None:
    op.drop_index("ix_requests_spend_pg", table_name="requests")
    op.drop_index("ix_requests_spend", table_name="requests")
