"""Alembic environment for llmgate's store.

Run through ``llmgate.store.migrate`` (``upgrade``, ``new_revision``), which passes an open
connection in ``config.attributes["connection"]`` and owns the transaction and the lock around
it; there is no ``alembic.ini``. ``target_metadata`` is every table in ``store/models.py``, so
autogenerate proposes the next numbered migration from the models.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from llmgate.store.models import metadata
from llmgate.store.partitions import not_a_partition


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("run llmgate's migrations through llmgate.store.migrate (no alembic.ini)")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTERs rebuild the table
        compare_type=True,
        include_name=not_a_partition,  # PostgreSQL's monthly partitions of requests (migration 0017)
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported")
run_migrations_online()
