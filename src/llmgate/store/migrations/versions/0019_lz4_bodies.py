"""PostgreSQL: the requests' bodies compressed with lz4 instead of pglz.

pglz keeps a value uncompressed unless it saves at least a quarter of it, which a kilobyte of
English text seldom does: such a body then goes out of line (TOAST) as it came. lz4 keeps any
saving and costs the writer's database a fraction of pglz's CPU. Measured with prompts and
answers of 1 KB of real English text (``benchmarks/storage_per_request.py``): 2,818 -> 2,549 bytes
a request. Only values written from now on are compressed this way; PostgreSQL reads both.

The setting is each partition's own: it is made on ``requests`` (new months take it from there,
``store/partitions.py``) and on every month that exists. A PostgreSQL built without lz4 keeps
pglz (nothing changes). SQLite: nothing to do. The downgrade goes back to the server's default.

Revision ID: 0019
Revises: 0018
Create Date: 2027-03-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from llmgate.store.partitions import month_partitions

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: the columns that hold a request's text: its body, the answer, the answer's tool calls
BODIES = ("request_json", "response_text", "tool_calls_json")


def upgrade() -> None:
    _compress_with("lz4")


def downgrade() -> None:
    _compress_with("default")


def _compress_with(method: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    built_with_lz4 = bind.exec_driver_sql(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
    ).scalar()
    if not built_with_lz4:
        return
    columns = ", ".join(f"ALTER COLUMN {column} SET COMPRESSION {method}" for column in BODIES)
    for table in ("requests", *month_partitions(bind).values()):
        op.execute(f'ALTER TABLE "{table}" {columns}')
