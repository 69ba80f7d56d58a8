"""The requests' bodies packed by the writer (zstd, ``store/bodies.py``): ``bytea`` on PostgreSQL.

PostgreSQL compresses nothing in a row under about 2 KB, and its pglz and lz4 save little on a
kilobyte of English: a request with a 1 KB prompt and a 1 KB answer took 2,549 B
(``benchmarks/storage_per_request.py``). Packed by the writer, the bodies take about 57% of that.

PostgreSQL: ``request_json``, ``response_text`` and ``tool_calls_json`` become ``bytea``, each
body stored so far as its UTF-8 bytes (one rewrite of ``requests``, every month's partition with
it); the store reads those as they are and packs what it writes from now on. The rewrite keeps them
as small as they were: the columns keep 0019's lz4, which a change of type resets (a packed body
gains nothing from it; PostgreSQL only tries it on rows over about 2 KB). SQLite keeps the
columns as declared (TEXT holds the packed bytes as BLOBs): nothing to do.

The downgrade unpacks every packed body in batches (and replaces a NUL, which text cannot hold,
with U+FFFD), then turns the columns back into text.

Revision ID: 0020
Revises: 0019
Create Date: 2027-03-09
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from llmgate.store.bodies import unpack
from llmgate.store.partitions import month_partitions

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BODIES = ("request_json", "response_text", "tool_calls_json")
_BATCH = 1000


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    if _has_lz4(bind):  # the rewrite compresses what it moves out of line as 0019 did
        op.execute("SET LOCAL default_toast_compression = 'lz4'")
    changes = ", ".join(
        f"ALTER COLUMN {column} TYPE bytea USING convert_to({column}, 'UTF8')" for column in BODIES
    )
    op.execute(f"ALTER TABLE requests {changes}")
    _lz4_again(bind)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    # packed bodies, and bodies with a NUL (which bytea holds and text cannot)
    packed = " OR ".join(
        f"substr({column}, 1, 4) = '\\x28b52ffd'::bytea OR position('\\x00'::bytea IN {column}) > 0"
        for column in BODIES
    )
    select = sa.text(
        f"SELECT id, {', '.join(BODIES)} FROM requests WHERE ({packed}) AND id > :after"
        f" ORDER BY id LIMIT {_BATCH}"
    )
    update = sa.text(f"UPDATE requests SET {', '.join(f'{c} = :{c}' for c in BODIES)} WHERE id = :id")
    after = ""
    while rows := bind.execute(select, {"after": after}).mappings().all():
        bind.execute(update, [_as_text_bytes(row) for row in rows])
        after = rows[-1]["id"]
    changes = ", ".join(
        f"ALTER COLUMN {column} TYPE text USING convert_from({column}, 'UTF8')" for column in BODIES
    )
    op.execute(f"ALTER TABLE requests {changes}")
    _lz4_again(bind)


def _lz4_again(bind: sa.Connection) -> None:
    """0019's lz4 on every month and on ``requests``, which a change of type resets."""
    if not _has_lz4(bind):
        return
    columns = ", ".join(f"ALTER COLUMN {column} SET COMPRESSION lz4" for column in BODIES)
    for table in ("requests", *month_partitions(bind).values()):
        op.execute(f'ALTER TABLE "{table}" {columns}')


def _has_lz4(bind: sa.Connection) -> bool:
    return bool(
        bind.exec_driver_sql(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        ).scalar()
    )


def _as_text_bytes(row: sa.RowMapping) -> dict[str, object]:
    """The row's bodies as UTF-8 text can hold: a NUL becomes U+FFFD, as the store did before 0020."""
    out: dict[str, object] = {"id": row["id"]}
    for column in BODIES:
        value = row[column]
        out[column] = (
            None if value is None else unpack(value).replace("\x00", "\ufffd").encode("utf-8", "replace")
        )
    return out
