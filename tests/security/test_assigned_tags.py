"""Item 6: tags an admin assigned to a key or team cannot be overridden by the client.

Through a real ``llmgate serve`` process: a team and a key made with ``llmgate teams create`` /
``llmgate keys create --tags``, requests from the openai SDK that send the same tag names with
other values in ``metadata.tags`` and in ``x-llmgate-tags``. The stored row keeps the assigned
values (and the client's free tags), and ``llmgate report spend --group-by tag:NAME`` bills the
assigned cost centre only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest

from support.configs import MASTER_KEY
from support.served import ServedGateway
from support.upstream import FakeUpstream

MESSAGES: Any = [{"role": "user", "content": "hello"}]


def llmgate(served: ServedGateway, *args: str) -> Any:
    result = subprocess.run(
        [sys.executable, "-m", "llmgate.cli.main", *args, "--config", str(served.config_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip().startswith(("{", "[")) else result.stdout


@pytest.fixture
def served(tmp_path: Any, upstream: FakeUpstream) -> Iterator[ServedGateway]:
    config = {
        "model_list": [
            {
                "model_name": "gpt-4o-mini",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": upstream.base_url,
                    "api_key": "sk-upstream",
                    "input_cost_per_token": "0.0000015",
                    "output_cost_per_token": "0.000002",
                },
            }
        ],
        "general_settings": {"master_key": MASTER_KEY},
    }
    gateway = ServedGateway(config, tmp_path).start()
    yield gateway
    gateway.stop()


def test_assigned_tags_win_over_the_clients(served: ServedGateway) -> None:
    llmgate(served, "teams", "create", "--alias", "search", "--tags", "env=prod", "--format", "json")
    key = llmgate(
        served,
        "keys",
        "create",
        "--alias",
        "billing-bot",
        "--team",
        "search",
        "--tags",
        "cost_centre=cc-42",
        "--format",
        "json",
    )["key"]
    deadline = time.monotonic() + 10  # the gateway's copy of the keys follows the store in 0.25 s
    while (
        httpx.get(
            served.url + "/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=30
        ).status_code
        != 200
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)

    request_ids = []
    with openai.OpenAI(base_url=served.url + "/v1", api_key=key, max_retries=0, timeout=20) as client:
        for tags, header in (
            ({"cost_centre": "cc-victim", "feature": "search"}, None),  # an object
            (["cost_centre=cc-victim", "env:dev"], None),  # a list, both separators
            (None, "cost_centre=cc-victim,env=dev,feature=ads"),  # the header only
            ("cost_centre=cc-victim", "cost_centre=cc-other"),  # both
        ):
            reply = client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini",
                messages=MESSAGES,
                extra_body={"metadata": {"tags": tags}} if tags is not None else None,
                extra_headers={"x-llmgate-tags": header} if header else None,
            )
            request_ids.append(reply.headers["x-llmgate-request-id"])

    rows = served.rows(request_ids)
    stored = [json.loads(rows[request_id][0]["tags_json"]) for request_id in request_ids]
    assert stored == [
        {"cost_centre": "cc-42", "env": "prod", "feature": "search"},
        {"cost_centre": "cc-42", "env": "prod"},
        {"cost_centre": "cc-42", "env": "prod", "feature": "ads"},
        {"cost_centre": "cc-42", "env": "prod"},
    ]

    report = llmgate(served, "report", "spend", "--group-by", "tag:cost_centre", "--format", "json")
    lines = report["rows"] if isinstance(report, dict) else report
    billed = {str(line.get("tag:cost_centre")): Decimal(str(line["cost_usd"])) for line in lines}
    assert set(billed) == {"cc-42"} and billed["cc-42"] > 0
