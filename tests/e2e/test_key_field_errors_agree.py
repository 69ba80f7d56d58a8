"""The CLI and the admin API refuse a bad key field with the same words (``auth/key_fields.py``).

The CLI names the option (``--budget: ...``, exit code 2), the API the field (``budget_usd: ...``,
400 with that ``param``); what follows the name is the same rule's message. Before, the CLI had
its own checks and the API pydantic's constraints, each with its own message.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from llmgate.cli.main import app
from support.configs import MASTER_KEY
from support.gateway import RunningGateway

CONFIG: dict[str, Any] = {
    "model_list": [{"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}}],
    "general_settings": {"master_key": MASTER_KEY},
    "llmgate": {"recorder": {"process": False}},
}

CASES = [
    # (option, CLI value, field, API value)
    ("--alias", "   ", "alias", "   "),
    ("--budget", "-5", "budget_usd", "-5"),
    ("--rpm", "0", "rpm", 0),
    ("--expires", "2020-01-01", "expires_at", "2020-01-01"),  # a new key may not be born expired
    ("--cache", "sometimes", "cache", "sometimes"),
]


@pytest.fixture
def gw(gateway_factory: Callable[..., RunningGateway]) -> RunningGateway:
    return gateway_factory(CONFIG)


def cli_refusal(tmp_path: Path, option: str, value: str) -> str:
    config = tmp_path / "cli.yaml"
    config.write_text(
        yaml.safe_dump({**CONFIG, "llmgate": {"database_url": f"sqlite:///{tmp_path / 'cli.db'}"}})
    )
    args = ["keys", "create", "--config", str(config)]
    args += [option, value] if option == "--alias" else ["--alias", "k", option, value]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {option}: "), line
    return line.removeprefix(f"error: {option}: ")


def api_refusal(gw: RunningGateway, field: str, value: Any) -> str:
    body = {"alias": "k", field: value}
    response = gw.post("/admin/keys", json=body, headers={"Authorization": f"Bearer {MASTER_KEY}"})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == field and error["type"] == "invalid_request_error"
    assert error["message"].startswith(f"{field}: "), error
    return str(error["message"]).removeprefix(f"{field}: ")


@pytest.mark.parametrize(("option", "cli_value", "field", "api_value"), CASES)
def test_the_cli_and_the_api_give_the_same_error(
    tmp_path: Path, gw: RunningGateway, option: str, cli_value: str, field: str, api_value: Any
) -> None:
    assert cli_refusal(tmp_path, option, cli_value) == api_refusal(gw, field, api_value)
