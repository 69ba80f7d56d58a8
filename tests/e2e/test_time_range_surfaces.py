"""One ``--since`` everywhere: the CLI, the admin API and the dashboard select the same rows.

A gateway with ``llmgate.time_zone: America/New_York`` holds requests (and audit entries) placed
around midnight starting 2026-11-01 in New York (04:00 UTC): one just after UTC midnight (still
Oct 31 in New York), one a second before local midnight, one at it and one after. A bare date, or a
datetime without an offset, means that local midnight on every surface: ``llmgate logs``,
``llmgate report spend``, ``GET /admin/spend/report``, the dashboard's ``/ui/api/requests`` and
``/ui/api/spend``, ``llmgate audit`` and ``GET /admin/audit``. Rows go in with the recorder's
own ``insert_records``; the gateway serves real HTTP on loopback, the CLI runs through its runner
against the same store.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from llmgate.cli.main import app
from llmgate.store.migrate import upgrade
from llmgate.store.models import table
from llmgate.store.records import insert_records
from support.configs import MASTER_KEY, upstream_config
from support.gateway import RunningGateway
from support.upstream import FakeUpstream

TZ = "America/New_York"
ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}
#: name -> when (UTC); local midnight of 2026-11-01 in New York (EDT, UTC-4) is 04:00 UTC
MOMENTS = {
    "oct31_2030_local": datetime(2026, 11, 1, 0, 30, tzinfo=UTC),  # after UTC midnight
    "oct31_2359_local": datetime(2026, 11, 1, 3, 59, 59, tzinfo=UTC),
    "nov1_0000_local": datetime(2026, 11, 1, 4, 0, tzinfo=UTC),
    "nov1_0030_local": datetime(2026, 11, 1, 4, 30, tzinfo=UTC),
}
AFTER_LOCAL_MIDNIGHT = {"nov1_0000_local", "nov1_0030_local"}
#: the same instant, as each form a user may type it
SINCES = ["2026-11-01", "2026-11-01T00:00", "2026-11-01T00:00:00-04:00", "2026-11-01T04:00Z"]


@dataclass
class Setup:
    gateway: RunningGateway
    config: Path
    record_ids: dict[str, str]  # record id -> name
    audit_targets: dict[str, str]  # audit target -> name


@pytest.fixture
def setup(upstream: FakeUpstream, gateway_factory: Callable[..., RunningGateway], tmp_path: Path) -> Setup:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    config = upstream_config(upstream, database_url=url, time_zone=TZ, spill_dir=str(tmp_path / "spill"))
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    gateway = gateway_factory(config)
    engine = gateway.state.engine
    upgrade(engine)
    record_ids = {uuid.uuid4().hex: name for name in MOMENTS}
    insert_records(
        engine,
        [
            {
                "id": record_id,
                "created_at": MOMENTS[name],
                "endpoint": "chat/completions",
                "model": name,  # so the spend report grouped by model names each request
                "provider": "openai",
                "status": "success",
                "status_code": 200,
                "prompt_tokens": 10,
                "completion_tokens": 5,
                "latency_ms": 3.0,
            }
            for record_id, name in record_ids.items()
        ],
    )
    audit_targets = {f"team-{name}": name for name in MOMENTS}
    with engine.begin() as conn:
        conn.execute(
            sa.insert(table("audit_log")),
            [
                {"at": MOMENTS[name], "actor": "cli:test", "action": "team.create", "target": target}
                for target, name in audit_targets.items()
            ],
        )
    return Setup(gateway, config_path, record_ids, audit_targets)


def _cli(setup: Setup, *args: str) -> Any:
    result = CliRunner().invoke(app, [*args, "--config", str(setup.config), "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _api(setup: Setup, path: str, **params: str) -> Any:
    response = setup.gateway.get(path, params=params, headers=ADMIN)
    assert response.status_code == 200, response.text
    return orjson.loads(response.content)


def selected(setup: Setup, since: str) -> dict[str, set[str]]:
    """What each surface selects with ``since``, as names of ``MOMENTS``."""
    ids, targets = setup.record_ids, setup.audit_targets
    return {
        "llmgate logs": {ids[r["id"]] for r in _cli(setup, "logs", "--since", since)},
        "llmgate report spend": {
            row["model"]
            for row in _cli(setup, "report", "spend", "--since", since, "--group-by", "model")["rows"]
        },
        "/admin/spend/report": {
            row["model"] for row in _api(setup, "/admin/spend/report", since=since, group_by="model")["rows"]
        },
        "/ui/api/requests": {ids[r["id"]] for r in _api(setup, "/ui/api/requests", since=since)["rows"]},
        "/ui/api/spend": {
            row["model"] for row in _api(setup, "/ui/api/spend", since=since, group_by="model")["rows"]
        },
        "llmgate audit": {targets[e["target"]] for e in _cli(setup, "audit", "--since", since)},
        "/admin/audit": {targets[e["target"]] for e in _api(setup, "/admin/audit", since=since)["data"]},
    }


@pytest.mark.parametrize("since", SINCES)
def test_every_surface_starts_at_midnight_in_the_time_zone(setup: Setup, since: str) -> None:
    got = selected(setup, since)
    assert got == {surface: AFTER_LOCAL_MIDNIGHT for surface in got}
