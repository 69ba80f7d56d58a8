"""Virtual keys, teams and the audit log; the key and team of each request.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Money: NUMERIC(20, 10); on SQLite a BIGINT count of 1e-10 USD (see store/models.py).
_MONEY = sa.Numeric(20, 10).with_variant(sa.BigInteger(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("key_id", sa.String(), nullable=True))
        batch.add_column(sa.Column("team_id", sa.String(), nullable=True))
    op.create_index("ix_requests_key_id", "requests", ["key_id"])
    op.create_index("ix_requests_team_id", "requests", ["team_id"])
    op.create_table(
        "teams",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("models_json", sa.Text(), nullable=True),
        sa.Column("budget_usd", _MONEY, nullable=True),
        sa.Column("budget_period", sa.String(), nullable=True),
        sa.Column("rpm", sa.Integer(), nullable=True),
        sa.Column("tpm", sa.Integer(), nullable=True),
        sa.Column("tags_json", sa.Text(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_teams"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("key_prefix", sa.String(), nullable=False),
        sa.Column("alias", sa.String(), nullable=False),
        sa.Column("team_id", sa.String(), nullable=True),
        sa.Column("user_id", sa.String(), nullable=True),
        sa.Column("models_json", sa.Text(), nullable=True),
        sa.Column("budget_usd", _MONEY, nullable=True),
        sa.Column("budget_period", sa.String(), nullable=True),
        sa.Column("rpm", sa.Integer(), nullable=True),
        sa.Column("tpm", sa.Integer(), nullable=True),
        sa.Column("tags_json", sa.Text(), nullable=True),
        sa.Column("expires_at", _TIME, nullable=True),
        sa.Column("revoked_at", _TIME, nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
        sa.UniqueConstraint("alias", name="uq_api_keys_alias"),
    )
    op.create_index("ix_api_keys_team_id", "api_keys", ["team_id"])
    op.create_index("ix_api_keys_updated_at", "api_keys", ["updated_at"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("changes_json", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_api_keys_updated_at", table_name="api_keys")
    op.drop_index("ix_api_keys_team_id", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("teams")
    op.drop_index("ix_requests_team_id", table_name="requests")
    op.drop_index("ix_requests_key_id", table_name="requests")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("team_id")
        batch.drop_column("key_id")
