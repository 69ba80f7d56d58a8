"""Datasets: named sets of cases copied out of recorded calls, exported as eval suites.

``datasets`` holds one row per dataset: its unique name (``ux_datasets_name``), a description,
the query that made it from the logs (``query_json``; NULL when it was curated by hand) and its
times. ``dataset_items`` holds the cases: the request each was copied from, its session, model
and time, the messages sent (PII scrubbed unless kept), the retrieved context, the recorded
answer, the users' rating and a snapshot of its scores, and who added it when. The unique index
``ux_dataset_items_request`` on (dataset_id, request_id) makes adding a request twice leave one
item, on both stores. New tables only: recording is unchanged, and a downgrade drops both and
leaves every other row as it was.

Revision ID: 0015
Revises: 0014
Create Date: 2027-01-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("query_json", sa.Text(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_datasets"),
    )
    op.create_index("ux_datasets_name", "datasets", ["name"], unique=True)
    op.create_table(
        "dataset_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(32), nullable=True),
        sa.Column("session_id", sa.String(), nullable=True),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("messages_json", sa.Text(), nullable=False),
        sa.Column("context_json", sa.Text(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("rating", sa.String(8), nullable=True),
        sa.Column("scores_json", sa.Text(), nullable=True),
        sa.Column("added_at", _TIME, nullable=False),
        sa.Column("added_by", sa.String(160), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dataset_items"),
    )
    op.create_index("ux_dataset_items_request", "dataset_items", ["dataset_id", "request_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_dataset_items_request", table_name="dataset_items")
    op.drop_table("dataset_items")
    op.drop_index("ux_datasets_name", table_name="datasets")
    op.drop_table("datasets")
