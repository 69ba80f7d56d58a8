"""A PostgreSQL schema of one's own, so test runs never collide on the shared server."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator

import psycopg
from sqlalchemy.engine import make_url


@contextlib.contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """A URL whose connections use a fresh, empty schema (dropped on exit)."""
    schema = f"llmgate_test_{secrets.token_hex(6)}"
    url = make_url(base_url).set(drivername="postgresql+psycopg")
    libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def with_port(url: str, port: int) -> str:
    return make_url(url).set(port=port).render_as_string(hide_password=False)
