"""Rollups: hourly and daily sums of the recorded requests, and from when each level holds them.

``rollup_hours`` (one row per UTC hour and group of team, key, user, model, deployment, provider,
endpoint, outcome, status class and tag set) and ``rollup_days`` (per local day of the configured
zone, without user and deployment) hold the sums the reports read; ``rollup_coverage`` says from
when each level holds every request. On a store that already has records the hour level starts at
the next whole hour (``llmgate db rollup --rebuild --since ...`` fills in the past); on an empty
one it covers everything. The covering indexes the raw spend queries read (``ix_requests_spend`` on
SQLite, ``ix_requests_spend_pg`` on PostgreSQL: the widest index entry of every stored request) go:
the reports now read the rollups, and the raw rows only for partial hours, through
``ix_requests_created_at``. Recording's rows are unchanged; a downgrade drops the three tables and
builds 0011's spend indexes again.

Revision ID: 0016
Revises: 0015
Create Date: 2027-02-10
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)
# Money: NUMERIC(20, 10); on SQLite a BIGINT count of 1e-10 USD (see store/columns.py).
_MONEY = sa.Numeric(20, 10).with_variant(sa.BigInteger(), "sqlite")
# the hour level's latency histogram (store/rollup_tables.py): 35 bounds, 36 buckets
_BUCKETS = [f"lat_{i:02d}" for i in range(36)]
# 0011's spend indexes (dropped here, built again by a downgrade)
_SPEND_COLUMNS = [
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
    "status",
    "status_code",
    "cache_hit",
    "saved_usd",
]
_SPEND_INCLUDE = [c for c in _SPEND_COLUMNS if c not in ("created_at", "user", "tags_json")]


def _dimensions(with_user: bool) -> list[sa.Column[Any]]:
    names = ["team_id", "key_id", "user", "model", "deployment", "provider", "endpoint"]
    if not with_user:
        names = [n for n in names if n not in ("user", "deployment")]
    return [
        *(sa.Column(name, sa.String(), nullable=True) for name in names),
        sa.Column("outcome", sa.SmallInteger(), nullable=False),
        sa.Column("status_class", sa.SmallInteger(), nullable=False),
        sa.Column("tags_json", sa.Text(), nullable=True),
    ]


def _sums(histogram: bool) -> list[sa.Column[Any]]:
    counts = ["requests", "prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens"]
    return [
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in counts),
        sa.Column("cost_usd", _MONEY, nullable=False),
        sa.Column("saved_usd", _MONEY, nullable=False),
        sa.Column("cache_hits", sa.BigInteger(), nullable=False),
        sa.Column("latency_ms_sum", sa.Float(), nullable=False),
        sa.Column("ttft_ms_sum", sa.Float(), nullable=False),
        sa.Column("ttft_count", sa.BigInteger(), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in (_BUCKETS if histogram else [])),
    ]


def upgrade() -> None:
    op.create_table(
        "rollup_hours",
        sa.Column("hour", _TIME, nullable=False),
        sa.Column("grain", sa.String(32), nullable=False),
        *_dimensions(with_user=True),
        *_sums(histogram=True),
        sa.PrimaryKeyConstraint("hour", "grain", name="pk_rollup_hours"),
    )
    op.create_table(
        "rollup_days",
        sa.Column("time_zone", sa.String(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("grain", sa.String(32), nullable=False),
        *_dimensions(with_user=False),
        *_sums(histogram=False),
        sa.PrimaryKeyConstraint("time_zone", "day", "grain", name="pk_rollup_days"),
    )
    coverage = op.create_table(
        "rollup_coverage",
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("time_zone", sa.String(), nullable=True),
        sa.Column("covered_from", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("level", name="pk_rollup_coverage"),
    )
    has_records = op.get_bind().execute(sa.text("SELECT 1 FROM requests LIMIT 1")).first() is not None
    start = datetime(1970, 1, 1, tzinfo=UTC)
    if has_records:  # the next whole hour: the raw rows answer for everything before it
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    if op.get_bind().dialect.name == "sqlite":  # UTC wall time, as store/columns.py UTCDateTime keeps it
        start = start.replace(tzinfo=None)
    op.bulk_insert(coverage, [{"level": "hour", "time_zone": None, "covered_from": start}])

    op.drop_index("ix_requests_spend_pg", table_name="requests")
    op.drop_index("ix_requests_spend", table_name="requests")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_requests_spend", "requests", _SPEND_COLUMNS, postgresql_where=sa.text("false"))
        op.create_index("ix_requests_spend_pg", "requests", ["created_at"], postgresql_include=_SPEND_INCLUDE)
    else:
        op.create_index("ix_requests_spend", "requests", _SPEND_COLUMNS)
        op.create_index("ix_requests_spend_pg", "requests", ["created_at"], sqlite_where=sa.text("0"))
    op.drop_table("rollup_coverage")
    op.drop_table("rollup_days")
    op.drop_table("rollup_hours")
