"""Stores already at the newest migration, for tests that only need one: copies of a store migrated
once per test process, instead of running every migration for each test.

Running all the migrations costs about 0.2 s on a SQLite file and 0.6-1 s on a PostgreSQL schema;
copying a migrated one costs a few milliseconds. The copy is made from the migrations of this very
checkout (the template is migrated by ``llmgate.store.migrate.upgrade`` at the first use in the
process), so it follows any new migration:

- SQLite: the template file, copied byte for byte (its engine disposed first, so nothing is left
  in a WAL file) into a file made as the store makes it (0600, in a 0700 directory if new);
- PostgreSQL: ``pg_dump --schema`` of the template schema (tables, indexes, constraints, sequences
  and the rows the migrations insert, such as ``alembic_version``), replayed into the new schema
  under its own name. Without ``pg_dump`` on the PATH, the schema is migrated as before.

``copy_migrated(url)`` fills a new store (SQLite or PostgreSQL) with a copy. Callers still run
``upgrade`` on the copy: a no-op (a few ms) on a store at head, and what makes
the copy a store at head whatever happened to the template.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade
from support.postgres import postgres_schema

_lock = threading.Lock()
_sqlite_template: Path | None = None
_pg_scripts: dict[str, str | None] = {}
_PLACEHOLDER = "__llmgate_migrated_schema__"


def migrated_sqlite(path: Path) -> None:
    """Make ``path`` a SQLite store at the newest migration (a copy of this process's template)."""
    global _sqlite_template
    with _lock:
        if _sqlite_template is None:
            home = tempfile.mkdtemp(prefix="llmgate-migrated-")
            atexit.register(shutil.rmtree, home, True)
            template = Path(home) / "store.db"
            engine = create_engine_for(f"sqlite:///{template}")
            try:
                upgrade(engine)
            finally:
                engine.dispose()
            assert not template.with_name("store.db-wal").exists()
            _sqlite_template = template
    # as the store makes its file when it creates one: the directory 0700, the file 0600
    if not path.parent.exists():
        path.parent.parent.mkdir(parents=True, exist_ok=True)
        path.parent.mkdir(mode=0o700)
    descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(descriptor, "wb") as copy:
        copy.write(_sqlite_template.read_bytes())


def _libpq(base_url: str) -> str:
    return make_url(base_url).set(drivername="postgresql").render_as_string(hide_password=False)


def _schema_of(url: str) -> str:
    options = make_url(url).query["options"]
    assert isinstance(options, str) and options.startswith("-csearch_path=")
    return options.removeprefix("-csearch_path=")


def _pg_script(base_url: str) -> str | None:
    """The SQL that recreates a migrated schema under ``_PLACEHOLDER``; None when ``pg_dump`` is
    missing or cannot dump this server (then each schema is migrated, as before)."""
    with _lock:
        if base_url not in _pg_scripts:
            _pg_scripts[base_url] = _dump_migrated(base_url) if shutil.which("pg_dump") else None
        return _pg_scripts[base_url]


def _dump_migrated(base_url: str) -> str | None:
    with postgres_schema(base_url) as url:
        engine = create_engine_for(url)
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        schema = _schema_of(url)
        command = [
            "pg_dump",
            "--schema",
            schema,
            "--no-owner",
            "--no-privileges",
            "--inserts",
            _libpq(base_url),
        ]
        try:
            dump = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
        except (OSError, subprocess.SubprocessError):  # e.g. a pg_dump older than the server
            return None
    lines = [
        line
        for line in dump.splitlines()
        # psql meta-commands (\restrict) and the schema itself: the caller made it
        if not line.startswith("\\") and line != f"CREATE SCHEMA {schema};"
    ]
    script = "\n".join(lines).replace(schema, _PLACEHOLDER)
    if "CREATE TABLE" not in script or "alembic_version" not in script:
        return None
    return script


def copy_migrated(url: str) -> None:
    """Fill the store at ``url`` (a SQLite file not made yet, or a PostgreSQL URL whose
    ``search_path`` is an empty schema, as ``postgres_schema`` gives) with a copy of this process's
    migrated template. Create its engine afterwards, and run ``upgrade`` on it (a no-op at head)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database, url
        migrated_sqlite(Path(parsed.database))
        return
    base = parsed.difference_update_query(["options"]).render_as_string(hide_password=False)
    script = _pg_script(base)
    if script is None:
        engine = create_engine_for(url)
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        return
    with psycopg.connect(_libpq(base)) as conn:
        conn.execute(script.replace(_PLACEHOLDER, _schema_of(url)).encode())
