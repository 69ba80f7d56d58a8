"""Scores: feedback on a request or a session (``POST /v1/feedback``, the admin API), from whom.

``scores`` holds one row per (target, name, source): the target is a request (``target_kind``
``request``, ``target_id`` its id) or a session (``session``, the session id); ``source`` says who
scored (``key:<id>``, ``master``, ``monitor``, ``eval:<run id>``). The value is a number or a bool
(``value_num``, a bool as 1.0 / 0.0) or a label (``value_label``), its ``kind`` saying which. The
unique index ``ux_scores_target_name_source`` makes a repeated score update its row (on both
stores), so a client that posts the same feedback twice leaves one row. ``ix_scores_updated_at``
lets the monitor read the scores given since its last read. A new table only: recording is
unchanged, and a downgrade drops the table and leaves every other row as it was.

Revision ID: 0014
Revises: 0013
Create Date: 2027-01-20
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "scores",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("target_kind", sa.String(16), nullable=False),
        sa.Column("target_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("value_num", sa.Float(), nullable=True),
        sa.Column("value_label", sa.String(128), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("source", sa.String(160), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_scores"),
    )
    op.create_index(
        "ux_scores_target_name_source",
        "scores",
        ["target_kind", "target_id", "name", "source"],
        unique=True,
    )
    op.create_index("ix_scores_updated_at", "scores", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_scores_updated_at", table_name="scores")
    op.drop_index("ux_scores_target_name_source", table_name="scores")
    op.drop_table("scores")
