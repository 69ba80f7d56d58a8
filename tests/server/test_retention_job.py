"""server.retention_job: of two contenders sharing a store and a spill directory (two ``llmgate
serve`` processes on one host, or two replicas through Redis), only the elected one prunes; the
other takes over once the first stops. A failing store is one log line, not one per run."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from llmgate.canary.leader import RedisLeadership
from llmgate.config import parse_config
from llmgate.server.retention_job import ROLE, RetentionJob, retention_job
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade
from llmgate.store.models import requests_table
from llmgate.store.records import insert_records


def config(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "model_list": [],
        "llmgate": {
            "database_url": f"sqlite:///{tmp_path / 'store.db'}",
            "spill_dir": str(tmp_path / "spill"),
            "retention": {"requests": "30d", "interval": "1m"},
        },
        **extra,
    }


def old_rows(n: int) -> list[dict[str, Any]]:
    at = datetime.now(UTC) - timedelta(days=40)
    return [
        {
            "id": uuid.uuid4().hex,
            "created_at": at,
            "endpoint": "chat/completions",
            "model": "m",
            "status": "success",
            "status_code": 200,
            "latency_ms": 1.0,
        }
        for _ in range(n)
    ]


def wait_for(condition: Any, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def count(url: str) -> int:
    engine = create_engine_for(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(requests_table())).scalar_one())
    finally:
        engine.dispose()


def test_forever_starts_no_job(tmp_path: Path) -> None:
    assert retention_job(parse_config({"model_list": []})) is None


def test_only_the_elected_contender_prunes(tmp_path: Path) -> None:
    cfg = parse_config(config(tmp_path))
    url = cfg.llmgate.database_url
    assert url is not None
    engine = create_engine_for(url)
    upgrade(engine)
    insert_records(engine, old_rows(50))
    first, second = retention_job(cfg, first_delay_s=0), retention_job(cfg, first_delay_s=0)
    assert isinstance(first, RetentionJob) and isinstance(second, RetentionJob)
    first.start()
    wait_for(lambda: first.runs == 1)
    second.start()
    time.sleep(0.3)  # the second contender asked for the lead and was refused
    assert count(url) == 0
    assert (first.runs, second.runs) == (1, 0)
    insert_records(engine, old_rows(5))
    first.stop()  # gives the lock up; the second takes over at its next tick (here: made now)
    second.prune_once()
    assert count(url) == 0 and second.runs == 1
    second.stop()
    engine.dispose()


def test_a_failing_store_is_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = parse_config(config(tmp_path))
    job = retention_job(cfg)
    assert job is not None
    (tmp_path / "store.db").mkdir()  # a directory where the store should be: every run fails
    with caplog.at_level(logging.INFO, logger="llmgate.retention"):
        for _ in range(3):
            job.prune_once()
    lines = [r for r in caplog.records if r.name == "llmgate.retention"]
    assert len(lines) == 1 and "prune failed" in lines[0].getMessage()
    assert lines[0].exc_info is None and "\n" not in lines[0].getMessage()
    assert job.runs == 0


def test_replicas_elect_one_pruner_through_redis(tmp_path: Path, redis_url: str) -> None:
    cfg = parse_config(config(tmp_path))
    url = cfg.llmgate.database_url
    assert url is not None
    engine = create_engine_for(url)
    upgrade(engine)
    insert_records(engine, old_rows(20))
    key = f"llmgate:retention:leader:test-{uuid.uuid4().hex}"
    jobs = [
        RetentionJob(
            url,
            cfg.llmgate.retention,
            RedisLeadership(redis_url, ttl_s=60, key=key, role=ROLE),
            first_delay_s=0,
        )
        for _ in range(2)
    ]
    for job in jobs:
        job.start()
    wait_for(lambda: sum(job.runs for job in jobs) == 1)
    time.sleep(0.3)
    assert sorted(job.runs for job in jobs) == [0, 1] and count(url) == 0
    for job in jobs:
        job.stop()
    engine.dispose()
