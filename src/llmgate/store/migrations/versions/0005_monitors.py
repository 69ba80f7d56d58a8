"""The live monitors: sampled records with their vectors, baselines, statistics, conditions, progress.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "monitor_samples",
        sa.Column("record_id", sa.String(32), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("sampled_at", _TIME, nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("route", sa.String(), nullable=False),
        sa.Column("embedder", sa.String(), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("prompt_vector", sa.LargeBinary(), nullable=True),
        sa.Column("response_vector", sa.LargeBinary(), nullable=True),
        sa.Column("prompt_excerpt", sa.Text(), nullable=True),
        sa.Column("response_chars", sa.Integer(), nullable=True),
        sa.Column("refused", sa.Boolean(), nullable=False),
        sa.Column("finish_reason", sa.String(), nullable=True),
        sa.Column("tool_call", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("context_relevance", sa.Float(), nullable=True),
        sa.Column("groundedness", sa.Float(), nullable=True),
        sa.Column("answer_relevance", sa.Float(), nullable=True),
        sa.Column("rag_json", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("record_id", name="pk_monitor_samples"),
    )
    op.create_index("ix_monitor_samples_created_at", "monitor_samples", ["created_at"])
    op.create_index(
        "ix_monitor_samples_model_route_created", "monitor_samples", ["model", "route", "created_at"]
    )
    op.create_table(
        "drift_baselines",
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("route", sa.String(), nullable=False),
        sa.Column("since", _TIME, nullable=False),
        sa.Column("until", _TIME, nullable=False),
        sa.Column("set_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("model", "route", name="pk_drift_baselines"),
    )
    op.create_table(
        "monitor_stats",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("route", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("statistic", sa.String(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("p_value", sa.Float(), nullable=True),
        sa.Column("breached", sa.Boolean(), nullable=False),
        sa.Column("reference_n", sa.Integer(), nullable=True),
        sa.Column("current_n", sa.Integer(), nullable=False),
        sa.Column("details_json", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_monitor_stats"),
    )
    op.create_index("ix_monitor_stats_at", "monitor_stats", ["at"])
    op.create_index("ix_monitor_stats_model_route_at", "monitor_stats", ["model", "route", "at"])
    op.create_table(
        "monitor_conditions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("route", sa.String(), nullable=False),
        sa.Column("condition", sa.String(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("raised_at", _TIME, nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("clean_streak", sa.Integer(), nullable=False),
        sa.Column("resolved_at", _TIME, nullable=True),
        sa.Column("details_json", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_monitor_conditions"),
    )
    op.create_index("ix_monitor_conditions_model", "monitor_conditions", ["model"])
    op.create_index("ix_monitor_conditions_active", "monitor_conditions", ["active"])
    op.create_table(
        "monitor_state",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("value_json", sa.Text(), nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_monitor_state"),
    )


def downgrade() -> None:
    op.drop_table("monitor_state")
    op.drop_index("ix_monitor_conditions_active", table_name="monitor_conditions")
    op.drop_index("ix_monitor_conditions_model", table_name="monitor_conditions")
    op.drop_table("monitor_conditions")
    op.drop_index("ix_monitor_stats_model_route_at", table_name="monitor_stats")
    op.drop_index("ix_monitor_stats_at", table_name="monitor_stats")
    op.drop_table("monitor_stats")
    op.drop_table("drift_baselines")
    op.drop_index("ix_monitor_samples_model_route_created", table_name="monitor_samples")
    op.drop_index("ix_monitor_samples_created_at", table_name="monitor_samples")
    op.drop_table("monitor_samples")
