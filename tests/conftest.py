"""Fixtures shared by every test: a loopback upstream and gateways in front of it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from support.configs import upstream_config
from support.upstream import FakeUpstream

if TYPE_CHECKING:
    from support.gateway import RunningGateway


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def gateway_factory(tmp_path: Path) -> Iterator[Callable[..., RunningGateway]]:
    from support.gateway import RunningGateway

    started: list[RunningGateway] = []

    def make(config: dict[str, Any], **kwargs: Any) -> RunningGateway:
        gateway = RunningGateway(config, tmp_path, **kwargs).start()
        started.append(gateway)
        return gateway

    yield make
    for gateway in started:
        gateway.stop()


@pytest.fixture
def gateway(upstream: FakeUpstream, gateway_factory: Callable[..., RunningGateway]) -> RunningGateway:
    return gateway_factory(upstream_config(upstream))


@pytest.fixture
def pg_url() -> str:
    url = os.environ.get("LLMGATE_TEST_DATABASE_URL")
    if not url:
        pytest.skip("LLMGATE_TEST_DATABASE_URL is not set")
    return url


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("LLMGATE_TEST_REDIS_URL")
    if not url:
        pytest.skip("LLMGATE_TEST_REDIS_URL is not set")
    return url
