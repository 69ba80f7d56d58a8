"""Migrations: empty to head, idempotent, concurrent, and in step with the models."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from llmgate.store import models
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import current_revision, head_revision, upgrade
from llmgate.store.partitions import not_a_partition


def test_head_is_numbered() -> None:
    assert head_revision() == "0020"


def test_empty_database_to_head(empty_engine: Engine) -> None:
    assert current_revision(empty_engine) is None
    upgrade(empty_engine)
    assert current_revision(empty_engine) == head_revision()
    inspector = sa.inspect(empty_engine)
    assert "requests" in inspector.get_table_names()
    columns = {column["name"] for column in inspector.get_columns("requests")}
    assert columns == {column.name for column in models.requests_table().columns}
    indexes = {index["name"]: index["column_names"] for index in inspector.get_indexes("requests")}
    assert indexes == {
        "ix_requests_model": ["model"],
        "ix_requests_created_at_model": ["created_at", "model"],
        "ix_requests_key_id": ["key_id"],
        "ix_requests_team_id": ["team_id"],
        "ix_requests_canary": ["canary_id", "created_at"],
        "ix_requests_session": ["session_id", "created_at"],
    }
    assert {"teams", "api_keys", "audit_log"} <= set(inspector.get_table_names())


def test_0006_adds_the_admin_role_to_existing_keys(empty_engine: Engine) -> None:
    """Keys made before 0006 keep working as plain keys; new ones may be admin keys."""
    from alembic import command

    from llmgate.store.keys import create_key, load_keys
    from llmgate.store.migrate import alembic_config

    with empty_engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0005")
    now = datetime.now(UTC)
    with empty_engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO api_keys (id, key_hash, key_prefix, alias, created_at, updated_at) "
                "VALUES ('key_000000000001', :hash, 'sk-lg-abcd', 'old', :now, :now)"
            ),
            {"hash": "a" * 64, "now": now},
        )
    upgrade(empty_engine)
    assert current_revision(empty_engine) == head_revision()
    column = {c["name"]: c for c in sa.inspect(empty_engine).get_columns("api_keys")}["admin"]
    assert column["nullable"] is False
    create_key(
        empty_engine,
        key_id="key_000000000002",
        key_hash="b" * 64,
        key_prefix="sk-lg-efgh",
        actor="test",
        values={"alias": "new", "admin": True},
        audit={},
    )
    assert {k.alias: k.admin for k in load_keys(empty_engine)} == {"old": False, "new": True}


def test_0011_adds_the_cache_columns_to_existing_requests(empty_engine: Engine) -> None:
    """Requests recorded before 0011 read as no cache hit, nothing saved; new ones keep their own."""
    from alembic import command

    from llmgate.store.migrate import alembic_config
    from llmgate.store.records import get_record, insert_records
    from llmgate.store.rollup_reads import spend_sums

    with empty_engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0010")
    now = datetime.now(UTC)
    with empty_engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO requests (id, created_at, endpoint, model, stream, status, status_code, "
                "tokens_estimated, cost_unknown, latency_ms, attempts) "
                "VALUES ('old1', :now, 'chat/completions', 'gpt', :no, 'success', 200, :no, :no, 1.5, 1)"
            ),
            {"now": now, "no": False},
        )
    upgrade(empty_engine)
    assert current_revision(empty_engine) == head_revision()
    columns = {c["name"]: c for c in sa.inspect(empty_engine).get_columns("requests")}
    assert columns["cache_hit"]["nullable"] is False
    old = get_record(empty_engine, "old1")
    assert old is not None
    assert (old["cache_hit"], old["cache"], old["cache_key"], old["cache_similarity"], old["saved_usd"]) == (
        False,
        None,
        None,
        None,
        None,
    )
    hit = {
        "id": "new1",
        "created_at": now,
        "endpoint": "chat/completions",
        "model": "gpt",
        "status": "success",
        "status_code": 200,
        "latency_ms": 0.4,
        "cost_usd": Decimal(0),
        "cache_hit": True,
        "cache": "semantic-hit",
        "cache_key": "k" * 64,
        "cache_similarity": 0.97,
        "saved_usd": Decimal("0.0012345678"),
    }
    insert_records(empty_engine, [hit])
    new = get_record(empty_engine, "new1")
    assert new is not None and {k: new[k] for k in hit} == hit
    (sums,) = spend_sums(empty_engine, [], now - timedelta(minutes=1))
    assert (sums.requests, sums.cache_hits, sums.saved_usd) == (2, 1, Decimal("0.0012345678"))


def test_upgrade_twice_is_a_no_op(engine: Engine) -> None:
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_models_and_migrations_agree(engine: Engine) -> None:
    """Autogenerate finds nothing to do: every model change has its numbered migration."""
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": not_a_partition}
        )
        diff = compare_metadata(context, models.metadata)
    assert diff == []


def test_concurrent_upgrades_from_two_engines(store_url: str) -> None:
    engines = [create_engine_for(store_url) for _ in range(2)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(engines))

    def run(engine: Engine) -> None:
        try:
            barrier.wait()
            upgrade(engine)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert current_revision(engines[0]) == head_revision()
        with engines[0].connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 1
    finally:
        for engine in engines:
            engine.dispose()
