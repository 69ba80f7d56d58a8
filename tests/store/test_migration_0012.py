"""Migration 0012 (canary releases) on a store with data, up and down and up again, on SQLite and
PostgreSQL: older requests and alerts read NULL in the new columns, the indexes are partial, and a
downgrade gives back 0011's schema with every older row intact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine

from llmgate.store.alerts import insert_alert, list_alerts, resolve_alert
from llmgate.store.canaries import CanaryRow, insert_canary
from llmgate.store.migrate import alembic_config, current_revision, head_revision, upgrade
from llmgate.store.records import get_record, insert_records

NOW = datetime.now(UTC).replace(microsecond=0)
NEW_TABLES = {"canaries", "canary_events"}


def to(engine: Engine, revision: str, *, down: bool = False) -> None:
    with engine.begin() as conn:
        (command.downgrade if down else command.upgrade)(alembic_config(conn), revision)


def old_data(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO requests (id, created_at, endpoint, model, stream, status, status_code, "
                "tokens_estimated, cost_unknown, latency_ms, attempts, cache_hit) "
                "VALUES ('old1', :now, 'chat/completions', 'gpt', :no, 'success', 200, :no, :no, 1.5, 1, :no)"
            ),
            {"now": NOW, "no": False},
        )
        conn.execute(
            sa.text(
                "INSERT INTO alerts (at, source, kind, severity, title) "
                "VALUES (:now, 'drift', 'drift.prompt', 'warning', 'old alert')"
            ),
            {"now": NOW},
        )


def index_sql(engine: Engine, name: str) -> str | None:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            query = "SELECT indexdef FROM pg_indexes WHERE indexname = :n AND schemaname = current_schema()"
        else:
            query = "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :n"
        found = conn.execute(sa.text(query), {"n": name}).scalar()
    return str(found) if found is not None else None


def test_0012_up_down_and_up_again_with_data(empty_engine: Engine) -> None:
    to(empty_engine, "0011")
    old_data(empty_engine)
    upgrade(empty_engine)
    assert current_revision(empty_engine) == head_revision()

    inspector = sa.inspect(empty_engine)
    assert set(inspector.get_table_names()) >= NEW_TABLES
    old = get_record(empty_engine, "old1")
    assert old is not None and (old["canary_id"], old["arm"]) == (None, None)
    (alert,) = list_alerts(empty_engine)
    assert (alert["title"], alert["first_affected_at"], alert["resolved_at"]) == ("old alert", None, None)
    for name, words in (
        ("ix_requests_canary", ("canary_id IS NOT NULL",)),
        ("ux_canaries_active_model", ("UNIQUE", "status", "'running'", "'paused'")),
    ):
        sql = index_sql(empty_engine, name)  # partial: "... WHERE <condition>", on both stores
        assert sql is not None and " WHERE " in sql.upper(), (name, sql)
        condition = sql.upper().split(" WHERE ", 1)[1].replace("(", "").replace(")", "")
        assert all(word.upper() in (condition if word != "UNIQUE" else sql.upper()) for word in words), sql
    assert index_sql(empty_engine, "ix_monitor_samples_sampled_at") is not None

    # the new columns and tables take data
    insert_records(
        empty_engine,
        [
            {
                "id": "new1",
                "created_at": NOW,
                "endpoint": "chat/completions",
                "model": "gpt",
                "status": "success",
                "status_code": 200,
                "latency_ms": 2.0,
                "canary_id": "gpt-v2",
                "arm": "candidate",
            }
        ],
    )
    new = get_record(empty_engine, "new1")
    assert new is not None and (new["canary_id"], new["arm"]) == ("gpt-v2", "candidate")
    row = CanaryRow(
        id="gpt-v2",
        model="gpt",
        candidate={"model": "gpt-2"},
        steps=(10.0, 100.0),
        gates=("errors",),
        sticky="user",
        alpha=0.05,
        min_step_requests=100,
        percent=10.0,
    )
    insert_canary(empty_engine, row, actor="test")
    affected = NOW - timedelta(minutes=3)
    alert_id = insert_alert(
        empty_engine,
        at=NOW,
        source="canary",
        kind="canary.rolled_back",
        severity="critical",
        title="rolled back",
        details={},
        first_affected_at=affected,
    )
    assert alert_id is not None
    assert resolve_alert(empty_engine, alert_id, NOW + timedelta(seconds=1)) is True
    assert resolve_alert(empty_engine, alert_id, NOW + timedelta(hours=1)) is False  # the first time stays
    newest = list_alerts(empty_engine)[0]
    assert (newest["first_affected_at"], newest["resolved_at"]) == (affected, NOW + timedelta(seconds=1))

    # down to 0011: the new tables, columns and indexes go; every older row stays
    to(empty_engine, "0011", down=True)
    assert current_revision(empty_engine) == "0011"
    inspector = sa.inspect(empty_engine)
    assert not NEW_TABLES & set(inspector.get_table_names())
    assert not {"canary_id", "arm"} & {c["name"] for c in inspector.get_columns("requests")}
    assert not {"first_affected_at", "resolved_at"} & {c["name"] for c in inspector.get_columns("alerts")}
    assert index_sql(empty_engine, "ix_requests_canary") is None
    assert index_sql(empty_engine, "ix_monitor_samples_sampled_at") is None
    with empty_engine.connect() as conn:
        assert set(conn.execute(sa.text("SELECT id FROM requests")).scalars()) == {"old1", "new1"}
        assert conn.execute(sa.text("SELECT count(*) FROM alerts")).scalar_one() == 2
    # 0011's own indexes are still there after SQLite's table rebuild
    assert index_sql(empty_engine, "ix_requests_spend") is not None
    assert index_sql(empty_engine, "ix_requests_spend_pg") is not None

    # and up again
    upgrade(empty_engine)
    assert current_revision(empty_engine) == head_revision()
    again = get_record(empty_engine, "new1")
    assert again is not None and (again["canary_id"], again["arm"]) == (None, None)
