"""``llmgate logs --endpoint NAME`` and ``llmgate report spend --group-by endpoint``, through the CLI
runner, on a store holding requests of several endpoints (inserted with the recorder's own
``insert_records``): SQLite, and PostgreSQL when LLMGATE_TEST_DATABASE_URL is set. NAME is the path after ``/v1/``; an unknown one is one line listing the valid
ones, exit 2.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from typer.testing import CliRunner

from llmgate.cli.main import app
from llmgate.protocol.endpoints import Endpoint
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade
from llmgate.store.records import insert_records
from support.postgres import postgres_schema

START = datetime(2026, 9, 1, 12, tzinfo=UTC)
#: (endpoint, cost) of each stored request, one minute apart
REQUESTS = [
    ("chat/completions", "0.0000100000"),
    ("chat/completions", "0.0000200000"),
    ("embeddings", "0.0000010000"),
    ("responses", "0.0000300000"),
    ("messages", "0.0000400000"),
    ("images/generations", "0.0400000000"),
]


def record(index: int, endpoint: str, cost: str) -> dict[str, Any]:
    return {
        "id": f"{endpoint.replace('/', '-')}-{index}-{uuid.uuid4().hex[:8]}",
        "created_at": START + timedelta(minutes=index),
        "endpoint": endpoint,
        "model": "mock-echo",
        "provider": "mock",
        "deployment": "mock-1",
        "status": "success",
        "status_code": 200,
        "prompt_tokens": 10 + index,
        "completion_tokens": index,
        "cost_usd": Decimal(cost),
        "latency_ms": 5.0,
    }


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('endpoints') / 'store.db'}"
        return
    base = os.environ.get("LLMGATE_TEST_DATABASE_URL")
    if not base:
        pytest.skip("LLMGATE_TEST_DATABASE_URL is not set")
    with postgres_schema(base) as url:
        yield url


@pytest.fixture(scope="module")
def config(store_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("endpoints-config")
    url = store_url
    engine = create_engine_for(url)
    upgrade(engine)
    insert_records(engine, [record(i, endpoint, cost) for i, (endpoint, cost) in enumerate(REQUESTS)])
    engine.dispose()
    path = tmp / "llmgate.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "model_list": [{"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}}],
                "llmgate": {"database_url": url},
            }
        )
    )
    yield path


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def logged(config: Path, *args: str) -> list[dict[str, Any]]:
    result = cli("logs", "--config", str(config), "--since", "2026-09-01", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


@pytest.mark.parametrize(
    "name", ["chat/completions", "embeddings", "responses", "messages", "images/generations"]
)
def test_logs_endpoint_keeps_only_that_endpoint(config: Path, name: str) -> None:
    rows = logged(config, "--endpoint", name)
    assert len(rows) == sum(1 for endpoint, _ in REQUESTS if endpoint == name)
    assert {row["endpoint"] for row in rows} == {name}


def test_logs_endpoint_as_a_path_and_with_other_filters(config: Path) -> None:
    assert [r["endpoint"] for r in logged(config, "--endpoint", "/v1/responses")] == ["responses"]
    assert logged(config, "--endpoint", "embeddings", "--model", "other") == []
    assert len(logged(config)) == len(REQUESTS)  # no --endpoint: every endpoint
    # an endpoint nothing was recorded for yet is valid, and lists nothing
    assert logged(config, "--endpoint", "audio/speech") == []


@pytest.mark.parametrize("name", ["chat", "v2/embeddings", "images", ""])
def test_logs_unknown_endpoint_is_one_line_listing_the_valid_ones(config: Path, name: str) -> None:
    result = cli("logs", "--config", str(config), "--endpoint", name)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --endpoint: use one of ")
    assert all(endpoint.value in lines[0] for endpoint in Endpoint)
    assert "Traceback" not in result.output


def test_spend_grouped_by_endpoint(config: Path) -> None:
    args = ["report", "spend", "--config", str(config), "--since", "2026-09-01", "--until", "2026-09-02"]
    result = cli(*args, "--group-by", "endpoint", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    by_endpoint = {row["endpoint"]: row for row in data["rows"]}
    assert set(by_endpoint) == {endpoint for endpoint, _ in REQUESTS}
    chat = by_endpoint["chat/completions"]
    assert chat["requests"] == 2 and Decimal(chat["cost_usd"]) == Decimal("0.00003")
    assert by_endpoint["images/generations"]["cost_usd"] == "0.0400000000"
    assert sum(row["requests"] for row in data["rows"]) == data["totals"]["requests"] == len(REQUESTS)
    table = cli(*args, "--group-by", "endpoint,model")
    assert table.exit_code == 0, table.output
    assert "images/generations" in table.stdout and "responses" in table.stdout
