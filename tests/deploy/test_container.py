"""What the container image relies on, checked without a Docker engine: the Dockerfile's inputs
exist, its command is ``llmgate serve``, and the configs it and compose.yaml ship load with the
environment they set (PostgreSQL, Redis and the spill directory on the volume)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from llmgate.config import load_config

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def test_dockerfile_copies_what_exists_and_serves() -> None:
    for line in DOCKERFILE.splitlines():
        if line.startswith("COPY "):
            for source in shlex.split(line)[1:-1]:
                assert (ROOT / source).exists(), source
    cmd = re.search(r"^CMD \[(.*)\]$", DOCKERFILE, re.MULTILINE)
    assert cmd is not None
    assert [part.strip().strip('"') for part in cmd.group(1).split(",")][:2] == ["llmgate", "serve"]
    assert "/health" in DOCKERFILE  # the HEALTHCHECK probes the gateway's health endpoint
    assert "USER llmgate" in DOCKERFILE  # not root


def test_image_default_config_loads_with_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMGATE_DATABASE_URL", "sqlite:////data/llmgate.db")
    monkeypatch.setenv("LLMGATE_SPILL_DIR", "/data/spill")
    config = load_config(ROOT / "configs" / "default.yaml")
    assert config.llmgate.database_url == "sqlite:////data/llmgate.db"
    assert config.llmgate.spill_dir == "/data/spill"


def test_compose_config_uses_postgres_and_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    compose = yaml.safe_load((ROOT / "configs" / "docker" / "compose.yaml").read_text(encoding="utf-8"))
    env = compose["services"]["llmgate"]["environment"]
    for name in ("LLMGATE_DATABASE_URL", "LLMGATE_REDIS_URL"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.setenv("LLMGATE_MASTER_KEY", "sk-admin-test-0123456789")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    config = load_config(ROOT / "configs" / "docker" / "config.yaml")
    assert config.llmgate.database_url.startswith("postgresql+psycopg://llmgate:llmgate@postgres:5432/")
    assert config.routing.redis_url == "redis://redis:6379/0"
    assert config.general_settings.master_key is not None
    assert {"postgres", "redis"} <= set(compose["services"]["llmgate"]["depends_on"])
