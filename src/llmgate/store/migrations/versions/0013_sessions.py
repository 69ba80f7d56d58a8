"""Sessions: each request's session, the earlier call it names as its parent, and its step.

A request that joins a session (``x-llmgate-session-id``, ``metadata.session_id`` or LiteLLM's
``litellm_session_id``: ``protocol/session_headers.py``) records it in ``requests.session_id``; its
parent call (``x-llmgate-parent-id``, a request id) in ``requests.parent_id``, and its step name
(``x-llmgate-step`` or ``metadata.step``) in ``requests.step``. Every other request leaves the three
NULL, and so do the rows recorded before this revision. ``llmgate logs --session``, ``llmgate
sessions list``, ``/admin/sessions`` and the dashboard's Sessions page read a session's calls in
time order through ``ix_requests_session``, a partial index (WHERE session_id IS NOT NULL, on both
stores): a request outside a session adds no entry to it, so recording costs the same as before.

Revision ID: 0013
Revises: 0012
Create Date: 2027-01-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SESSION_ROWS = sa.text("session_id IS NOT NULL")


def upgrade() -> None:
    # ADD COLUMN on both stores (no table rebuild): old rows read NULL
    op.add_column("requests", sa.Column("session_id", sa.String(), nullable=True))
    op.add_column("requests", sa.Column("parent_id", sa.String(32), nullable=True))
    op.add_column("requests", sa.Column("step", sa.String(), nullable=True))
    op.create_index(
        "ix_requests_session",
        "requests",
        ["session_id", "created_at"],
        postgresql_where=_SESSION_ROWS,
        sqlite_where=_SESSION_ROWS,
    )


def downgrade() -> None:
    op.drop_index("ix_requests_session", table_name="requests")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("step")
        batch.drop_column("parent_id")
        batch.drop_column("session_id")
