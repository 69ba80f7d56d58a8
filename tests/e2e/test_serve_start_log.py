"""``llmgate serve`` says at start what it runs with: the config file, the models, the store (its
password hidden) and whether the dashboard is on, and where."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from support.configs import MASTER_KEY
from support.gateway import free_port

MODELS = [
    {"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}},
    {"model_name": "mock-echo", "litellm_params": {"model": "mock/fixed"}},
    {"model_name": "mock-embedding", "litellm_params": {"model": "mock/embedding"}},
]


def _start_log(tmp_path: Path, config: dict[str, Any]) -> tuple[str, int]:
    """The log of ``llmgate serve`` (default log level) until its dashboard line, and its port."""
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "llmgate.cli.main", "serve", "--config", str(path), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while "dashboard:" not in log.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            time.sleep(0.05)
    finally:
        process.terminate()
        process.wait(30)
    return log.read_text(), port


def test_start_log_names_config_models_store_and_dashboard(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    config = {
        "model_list": MODELS,
        "general_settings": {"master_key": MASTER_KEY},
        "llmgate": {"database_url": f"sqlite:///{store}", "spill_dir": str(tmp_path / "spill")},
    }
    output, port = _start_log(tmp_path, config)
    assert (
        f"INFO llmgate: llmgate 0.1.0 serving http://127.0.0.1:{port} with config {tmp_path / 'gateway.yaml'}"
        in output
    )
    assert "INFO llmgate: models: mock-echo, mock-embedding (2 aliases, 3 deployments)" in output
    assert f"INFO llmgate: store: sqlite:///{store}" in output
    assert f"INFO llmgate: dashboard: on at http://127.0.0.1:{port}/ui (log in with the master key)" in output
    assert MASTER_KEY not in output


def test_start_log_hides_the_store_password_and_says_the_dashboard_is_off(tmp_path: Path) -> None:
    config = {
        "model_list": MODELS,
        # an unreachable PostgreSQL: records spill, and the start-up log is written all the same
        "llmgate": {
            "database_url": "postgresql+psycopg://llmgate:not-in-the-log@127.0.0.1:9/llmgate",
            "spill_dir": str(tmp_path / "spill"),
        },
    }
    output, _ = _start_log(tmp_path, config)
    assert "INFO llmgate: store: postgresql+psycopg://llmgate:***@127.0.0.1:9/llmgate" in output
    assert "INFO llmgate: dashboard: off (it needs general_settings.master_key)" in output
    assert "not-in-the-log" not in output
