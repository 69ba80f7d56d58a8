"""Internal users and team membership; the LiteLLM management API's extra key and team fields.

An internal user (LiteLLM's ``/user/new``) has its own budget, limits and model allow-list, and
its keys (``api_keys.user_id``) spend from it, as a team's keys spend from the team's. A team's
members are users with a role (``team_members``). Keys gain LiteLLM's ``metadata``, model
``aliases`` and ``max_parallel_requests``; teams gain ``team_alias`` and ``metadata``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Money: NUMERIC(20, 10); on SQLite a BIGINT count of 1e-10 USD (see store/columns.py).
_MONEY = sa.Numeric(20, 10).with_variant(sa.BigInteger(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "internal_users",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=True),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("models_json", sa.Text(), nullable=True),
        sa.Column("budget_usd", _MONEY, nullable=True),
        sa.Column("budget_period", sa.String(), nullable=True),
        sa.Column("rpm", sa.Integer(), nullable=True),
        sa.Column("tpm", sa.Integer(), nullable=True),
        sa.Column("metadata_json", sa.Text(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_internal_users"),
    )
    op.create_index("ix_internal_users_updated_at", "internal_users", ["updated_at"])
    op.create_table(
        "team_members",
        sa.Column("team_id", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("team_id", "user_id", name="pk_team_members"),
    )
    op.create_index("ix_team_members_user_id", "team_members", ["user_id"])
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("metadata_json", sa.Text(), nullable=True))
        batch.add_column(sa.Column("aliases_json", sa.Text(), nullable=True))
        batch.add_column(sa.Column("max_parallel", sa.Integer(), nullable=True))
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"])
    with op.batch_alter_table("teams") as batch:
        batch.add_column(sa.Column("alias", sa.String(), nullable=True))
        batch.add_column(sa.Column("metadata_json", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("teams") as batch:
        batch.drop_column("metadata_json")
        batch.drop_column("alias")
    op.drop_index("ix_api_keys_user_id", table_name="api_keys")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("max_parallel")
        batch.drop_column("aliases_json")
        batch.drop_column("metadata_json")
    op.drop_index("ix_team_members_user_id", table_name="team_members")
    op.drop_table("team_members")
    op.drop_index("ix_internal_users_updated_at", table_name="internal_users")
    op.drop_table("internal_users")
