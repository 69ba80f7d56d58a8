"""The virtual keys are loaded while the gateway starts, so the first request with one pays no
import, engine or first query; a store that is down at start is tried again once it is back."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import openai
import pytest
from sqlalchemy.engine import make_url

from llmgate.store.db import create_engine_for
from support.configs import MASTER_KEY
from support.gateway import RunningGateway
from support.keys import add_key
from support.postgres import postgres_schema, with_port
from support.tcp_proxy import TcpProxy

MESSAGES: Any = [{"role": "user", "content": "hello"}]
MODELS = [{"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}}]


def test_keys_are_loaded_before_the_gateway_serves(tmp_path: Path, gateway_factory: Any) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    engine = create_engine_for(url)
    key, _ = add_key(engine, "app")
    engine.dispose()
    settings = {"database_url": url, "recorder": {"process": False}}
    gateway: RunningGateway = gateway_factory(
        {"model_list": MODELS, "general_settings": {"master_key": MASTER_KEY}, "llmgate": settings}
    )
    registry = gateway.state.registry
    assert registry.loaded  # before any request
    answer = gateway.client(key).chat.completions.with_raw_response.create(
        model="mock-echo", messages=MESSAGES
    )
    assert answer.status_code == 200
    assert registry.lookups == {}  # found in the copy loaded at start: the store was not asked


def test_an_open_gateway_does_not_load_keys_at_start(tmp_path: Path, gateway_factory: Any) -> None:
    """Without a master key no key can be made for it: the store stays unopened for keys."""
    settings = {"database_url": f"sqlite:///{tmp_path / 'open.db'}", "recorder": {"process": False}}
    gateway: RunningGateway = gateway_factory({"model_list": MODELS, "llmgate": settings})
    assert not gateway.state.registry.loaded


def test_keys_load_once_the_store_is_back(pg_url: str, gateway_factory: Any) -> None:
    target = make_url(pg_url)
    with postgres_schema(pg_url) as url, TcpProxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
        engine = create_engine_for(url)
        key, _ = add_key(engine, "app")
        engine.dispose()
        proxy.cut()  # the store is down while the gateway starts
        settings = {"database_url": with_port(url, proxy.port), "recorder": {"process": False}}
        gateway: RunningGateway = gateway_factory(
            {"model_list": MODELS, "general_settings": {"master_key": MASTER_KEY}, "llmgate": settings}
        )
        assert not gateway.state.registry.loaded
        client = gateway.client(key)
        with pytest.raises(openai.APIStatusError) as refused:
            client.chat.completions.create(model="mock-echo", messages=MESSAGES)
        assert refused.value.status_code == 503

        proxy.restore()
        deadline = time.monotonic() + 15
        while True:
            try:
                client.chat.completions.create(model="mock-echo", messages=MESSAGES)
                break
            except openai.APIStatusError as exc:
                assert exc.status_code == 503 and time.monotonic() < deadline, "keys never loaded"
                time.sleep(0.2)
        assert gateway.state.registry.loaded
