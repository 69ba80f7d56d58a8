"""The Responses API's stored responses (``stored_responses``), for ``previous_response_id`` and
``GET /v1/responses/{id}`` on deployments that speak only chat completions.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "stored_responses",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("owner", sa.String(), nullable=True),
        sa.Column("deployment", sa.String(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("previous_response_id", sa.String(128), nullable=True),
        sa.Column("input_json", sa.Text(), nullable=True),
        sa.Column("response_json", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_stored_responses"),
    )
    op.create_index("ix_stored_responses_created_at", "stored_responses", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_stored_responses_created_at", table_name="stored_responses")
    op.drop_table("stored_responses")
