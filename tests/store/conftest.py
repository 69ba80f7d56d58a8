"""Store fixtures: every test runs on a temp-file SQLite and, when LLMGATE_TEST_DATABASE_URL is set,
again on PostgreSQL, in a schema of its own (created empty, dropped afterwards)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade
from support.migrated import copy_migrated
from support.postgres import postgres_schema


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'store.db'}"
        return
    base = os.environ.get("LLMGATE_TEST_DATABASE_URL")
    if not base:
        pytest.skip("LLMGATE_TEST_DATABASE_URL is not set")
    with postgres_schema(base) as url:
        yield url


@pytest.fixture
def empty_engine(store_url: str) -> Iterator[Engine]:
    engine = create_engine_for(store_url)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    """A store at the newest migration: a copy of one migrated once per session
    (``support/migrated.py``), checked by ``upgrade`` (a no-op at head)."""
    copy_migrated(store_url)
    engine = create_engine_for(store_url)
    upgrade(engine)
    yield engine
    engine.dispose()
