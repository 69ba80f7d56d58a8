"""Canary releases in a gateway process (server/canary_parts.py): with a record writer process, the
split is followed through it (the gateway never opens the store itself), and the controller is
built only once a canary runs."""

from __future__ import annotations

import time
from collections.abc import Callable

from test_admin_canary import CONFIG, arms, eventually

from llmgate.canary.actions import CanaryActions, Catalog
from llmgate.recording.writer_process import RecorderProcess
from llmgate.store.db import create_engine_for
from support.configs import MASTER_KEY
from support.gateway import RunningGateway


def test_a_canary_started_elsewhere_is_followed_through_the_writer_process(
    gateway_factory: Callable[..., RunningGateway],
) -> None:
    # no master key: no virtual keys, so nothing else opens the store in this process either
    gateway = gateway_factory({**CONFIG, "general_settings": {}})
    state = gateway.state
    assert isinstance(state.recorder, RecorderProcess)
    parts = state.canary_parts
    # the follower has asked the writer process at least twice (its poll is 0.5 s): nothing runs
    eventually(lambda: parts.follower.refreshes >= 1, "the follower's first read")
    time.sleep(1.2)
    assert set(arms(gateway, 5)) == {None}
    assert parts.controller is None  # no canary: no controller (nor numpy) in this process
    assert state._engine is None  # the gateway process never opened the store itself

    # a canary started by another process (as `llmgate canary start` does: into the store)
    engine = create_engine_for(str(gateway.config.llmgate.database_url))
    try:
        CanaryActions(engine, Catalog.of(gateway.config), actor="cli:test", source="cli").start(
            model="chat-model", candidate="chat-model-v2", steps="50,100"
        )
    finally:
        engine.dispose()
    eventually(lambda: "candidate" in arms(gateway, 20), "the split, read through the writer process")
    seen = arms(gateway, 60)
    assert set(seen) == {"stable", "candidate"}
    eventually(lambda: parts.controller is not None, "the controller, built once a canary runs")
    assert gateway.client(MASTER_KEY).models.list().data  # the gateway still serves as before
