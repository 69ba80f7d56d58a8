"""Canary releases: the canaries and their events, each request's canary and arm, alerts' MTTD/MTTR times.

A request routed through a canary records the canary's id and its arm (``stable`` or
``candidate``) in ``requests.canary_id`` and ``requests.arm``; every other request leaves both
NULL, and so do the rows recorded before this revision. The gates read a canary's requests in
(created_at, id) order through ``ix_requests_canary``, a partial index (WHERE canary_id IS NOT
NULL, on both stores): a request outside a canary adds no entry to it, so recording costs the
same as before for everyone else.

``canaries`` holds each canary's definition and state, ``canary_events`` its decision log; at
most one canary per model is running or paused (``ux_canaries_active_model``, partial and unique).
``alerts`` gains ``first_affected_at`` (the first record the condition affected) and
``resolved_at``, for the operations report's time to detect and to resolve; both NULL on older
alerts. ``ix_monitor_samples_sampled_at`` lets the quality gates read only the monitor samples
taken since their last read.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-15
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)
_CANARY_ROWS = sa.text("canary_id IS NOT NULL")
_ACTIVE = sa.text("status IN ('running', 'paused')")


def upgrade() -> None:
    # ADD COLUMN on both stores (no table rebuild): old rows read NULL
    op.add_column("requests", sa.Column("canary_id", sa.String(), nullable=True))
    op.add_column("requests", sa.Column("arm", sa.String(16), nullable=True))
    op.create_index(
        "ix_requests_canary",
        "requests",
        ["canary_id", "created_at"],
        postgresql_where=_CANARY_ROWS,
        sqlite_where=_CANARY_ROWS,
    )
    op.add_column("alerts", sa.Column("first_affected_at", _TIME, nullable=True))
    op.add_column("alerts", sa.Column("resolved_at", _TIME, nullable=True))
    op.create_table(
        "canaries",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("candidate_json", sa.Text(), nullable=False),
        sa.Column("steps_json", sa.Text(), nullable=False),
        sa.Column("gates_json", sa.Text(), nullable=False),
        sa.Column("tolerances_json", sa.Text(), nullable=False),
        sa.Column("sticky", sa.String(), nullable=False),
        sa.Column("alpha", sa.Float(), nullable=False),
        sa.Column("min_step_requests", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("percent", sa.Float(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("config_hash", sa.String(), nullable=True),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("step_started_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.Column("ended_at", _TIME, nullable=True),
        sa.Column("last_evaluation_json", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_canaries"),
    )
    op.create_index("ix_canaries_model", "canaries", ["model"])
    op.create_index(
        "ux_canaries_active_model",
        "canaries",
        ["model"],
        unique=True,
        postgresql_where=_ACTIVE,
        sqlite_where=_ACTIVE,
    )
    op.create_table(
        "canary_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("canary_id", sa.String(), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("percent", sa.Float(), nullable=True),
        sa.Column("details_json", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_canary_events"),
    )
    op.create_index("ix_canary_events_canary_id", "canary_events", ["canary_id"])
    op.create_index("ix_monitor_samples_sampled_at", "monitor_samples", ["sampled_at", "record_id"])


def downgrade() -> None:
    op.drop_index("ix_monitor_samples_sampled_at", table_name="monitor_samples")
    op.drop_index("ix_canary_events_canary_id", table_name="canary_events")
    op.drop_table("canary_events")
    op.drop_index("ux_canaries_active_model", table_name="canaries")
    op.drop_index("ix_canaries_model", table_name="canaries")
    op.drop_table("canaries")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("resolved_at")
        batch.drop_column("first_affected_at")
    op.drop_index("ix_requests_canary", table_name="requests")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("arm")
        batch.drop_column("canary_id")
