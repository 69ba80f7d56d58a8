"""Keys are enforced on the Quickstart's gateway, and a gateway without a master key says it is open.

``configs/default.yaml`` as a newcomer serves it (``llmgate serve``, its store moved to a temporary
folder): it has a local master key, so a call without a key or with a random one gets 401, the
key made with ``llmgate keys create --models mock-echo`` gets 200 for that model and 403 for the
others, and the dashboard takes the local key. The same config without its master key starts
with one WARNING line saying the gateway is open, and ``llmgate keys create`` / ``teams create``
refuse it with one line and exit code 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from llmgate.config.master_key import LOCAL_MASTER_KEY, OPEN_GATEWAY, PUBLIC_LOCAL_KEY, start_warnings
from support.served import ServedGateway

ROOT = Path(__file__).resolve().parents[2]
MESSAGES: Any = [{"role": "user", "content": "hello"}]
LLMGATE = [sys.executable, "-m", "llmgate.cli.main"]


def default_config() -> dict[str, Any]:
    """configs/default.yaml, but with its store where ``ServedGateway`` puts it (a temporary folder)."""
    config: dict[str, Any] = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text(encoding="utf-8"))
    for name in ("database_url", "spill_dir"):
        config["llmgate"].pop(name, None)
    return config


def cli(served: ServedGateway, *args: str) -> subprocess.CompletedProcess[str]:
    command = [*LLMGATE, *args, "--config", str(served.config_path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=os.environ.copy())


def status(served: ServedGateway, key: str, model: str = "mock-echo") -> int:
    with openai.OpenAI(base_url=served.url + "/v1", api_key=key, max_retries=0, timeout=30) as client:
        try:
            client.chat.completions.create(model=model, messages=MESSAGES)
        except openai.APIStatusError as exc:
            return exc.status_code
    return 200


def test_the_default_config_enforces_keys(tmp_path: Path) -> None:
    config = default_config()
    assert config["general_settings"]["master_key"] == LOCAL_MASTER_KEY  # the one the README shows
    served = ServedGateway(config, tmp_path).start()
    try:
        assert "gateway is open" not in served.output()
        missing = httpx.post(served.url + "/v1/chat/completions", json={"model": "mock-echo"}, timeout=30)
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "missing_api_key"
        assert status(served, "random") == 401
        assert status(served, LOCAL_MASTER_KEY, "gpt-4o-mini") == 200

        made = cli(served, "keys", "create", "--alias", "app", "--models", "mock-echo", "--format", "json")
        assert made.returncode == 0, made.stderr
        key = json.loads(made.stdout)["key"]
        assert status(served, key) == 200
        assert status(served, key, "gpt-4o-mini") == 403

        login = httpx.post(served.url + "/ui/login", data={"key": LOCAL_MASTER_KEY}, timeout=30)
        assert login.status_code == 303 and "set-cookie" in login.headers
    finally:
        served.stop()


def test_a_gateway_without_a_master_key_says_it_is_open(tmp_path: Path) -> None:
    config = default_config()
    del config["general_settings"]
    served = ServedGateway(config, tmp_path).start()
    try:
        warnings = [line for line in served.output().splitlines() if "WARNING" in line]
        assert [line.split(": ", 1)[1] for line in warnings if "open" in line] == [OPEN_GATEWAY]
        assert status(served, "random") == 200  # what the warning says
        for command in (("keys", "create", "--alias", "app"), ("teams", "create", "--alias", "ml")):
            refused = cli(served, *command)
            assert refused.returncode == 2 and refused.stdout == ""
            assert refused.stderr.startswith("error: keys need a master_key in the config")
            assert len(refused.stderr.strip().splitlines()) == 1
    finally:
        served.stop()


@pytest.mark.parametrize(
    ("master_key", "host", "warned"),
    [
        (None, "127.0.0.1", OPEN_GATEWAY),
        (None, "0.0.0.0", OPEN_GATEWAY),
        (LOCAL_MASTER_KEY, "127.0.0.1", None),
        (LOCAL_MASTER_KEY, "localhost", None),
        (LOCAL_MASTER_KEY, "::1", None),
        (LOCAL_MASTER_KEY, "0.0.0.0", PUBLIC_LOCAL_KEY % "0.0.0.0"),
        (LOCAL_MASTER_KEY, "gateway.internal", PUBLIC_LOCAL_KEY % "gateway.internal"),
        ("sk-my-own-master-key-0123", "0.0.0.0", None),
    ],
)
def test_start_warnings(master_key: str | None, host: str, warned: str | None) -> None:
    assert start_warnings(master_key, host) == ([warned] if warned else [])
