"""``rollup_traffic``: the hour level summed over every dimension but the outcome.

One row per UTC hour and outcome with the hour level's sums and latency histogram: the dashboard's
overview reads a year from about 26,000 rows here instead of ``rollup_hours``' one row per handful
of requests. The writer keeps it in the records' transaction beside the other levels; the upgrade
fills it from ``rollup_hours`` (sums of sums: exact), so it covers what the hour level covers. A
downgrade drops it.

Revision ID: 0018
Revises: 0017
Create Date: 2027-02-24
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Money: NUMERIC(20, 10); on SQLite a BIGINT count of 1e-10 USD (see store/columns.py).
_MONEY = sa.Numeric(20, 10).with_variant(sa.BigInteger(), "sqlite")
_COUNTS = ["requests", "prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens"]
_SUMS = [
    *_COUNTS,
    "cost_usd",
    "saved_usd",
    "cache_hits",
    "latency_ms_sum",
    "ttft_ms_sum",
    "ttft_count",
    *(f"lat_{i:02d}" for i in range(36)),
]


def _kind(name: str) -> Any:
    if name in ("cost_usd", "saved_usd"):
        return _MONEY
    if name in ("latency_ms_sum", "ttft_ms_sum"):
        return sa.Float()
    return sa.BigInteger()


def upgrade() -> None:
    op.create_table(
        "rollup_traffic",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.SmallInteger(), nullable=False),
        *(sa.Column(name, _kind(name), nullable=False) for name in _SUMS),
        sa.PrimaryKeyConstraint("hour", "outcome", name="pk_rollup_traffic"),
    )
    columns = ", ".join(_SUMS)
    sums = ", ".join(f"sum({name})" for name in _SUMS)
    op.execute(
        f"INSERT INTO rollup_traffic (hour, outcome, {columns}) "
        f"SELECT hour, outcome, {sums} FROM rollup_hours GROUP BY hour, outcome"
    )


def downgrade() -> None:
    op.drop_table("rollup_traffic")
