"""The canary follower (canary/state.py): every replica's table follows the store, by its poll and,
with Redis, at once on ``llmgate:canary:changed``; a variant candidate gets its ``canary:<id>``
group on the router, dropped when the canary ends; a promoted canary routes everything."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from llmgate.canary.actions import CanaryActions, Catalog
from llmgate.canary.channel import CHANNEL, publish
from llmgate.canary.state import CanaryFollower, routes_from
from llmgate.config import build_deployments, parse_config
from llmgate.routing.canaries import CanaryTable
from llmgate.server.builders import build_router
from llmgate.store.canaries import CanaryRow
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade
from support.migrated import copy_migrated

CONFIG: dict[str, Any] = {
    "model_list": [
        {
            "model_name": "chat-model",
            "litellm_params": {"model": "mock/echo"},
            "model_info": {"id": "stable-1"},
        },
        {
            "model_name": "chat-model-v2",
            "litellm_params": {"model": "mock/echo"},
            "model_info": {"id": "v2-1"},
        },
    ]
}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    copy_migrated(f"sqlite:///{tmp_path / 'store.db'}")  # migrated once per session (support/migrated.py)
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)  # a no-op at head
    yield engine
    engine.dispose()


def parts(engine: Engine, redis_url: str | None = None) -> tuple[CanaryFollower, CanaryActions, Any]:
    config = parse_config(CONFIG)
    router, _, table = build_router(config, build_deployments(config), lambda deployment: None)
    follower = CanaryFollower(table, router, lambda: engine, redis_url, poll_s=3600 if redis_url else 0.05)
    actions = CanaryActions(engine, Catalog.of(config), actor="test", source="api", redis_url=redis_url)
    return follower, actions, router


async def until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def run(body: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(body())


def test_the_table_follows_the_store_by_polling(engine: Engine) -> None:
    follower, actions, _ = parts(engine)
    table: CanaryTable = follower.table

    async def body() -> None:
        follower.start()
        try:
            await until(lambda: follower.refreshes >= 1, "the first read")
            assert table.route("chat-model") is None
            await asyncio.to_thread(
                actions.start, model="chat-model", candidate="chat-model-v2", steps="10,100"
            )
            await until(lambda: table.route("chat-model") is not None, "the new canary")
            route = table.route("chat-model")
            assert route is not None
            assert (route.canary_id, route.candidate_model, route.percent, route.promoted) == (
                "chat-model",
                "chat-model-v2",
                10.0,
                False,
            )
            await asyncio.to_thread(actions.rollback, "chat-model")
            await until(lambda: table.route("chat-model") is None, "the rollback")
        finally:
            await follower.stop()

    run(body)


def test_a_variant_candidate_has_its_own_group_until_the_canary_ends(engine: Engine) -> None:
    follower, actions, router = parts(engine)

    async def body() -> None:
        follower.start()
        try:
            await asyncio.to_thread(
                actions.start, model="chat-model", system_prompt="Be brief.", canary_id="brief"
            )
            await until(lambda: follower.table.route("chat-model") is not None, "the variant canary")
            route = follower.table.route("chat-model")
            assert route is not None and route.candidate_model == "canary:brief"
            (variant,) = router.group("canary:brief")
            assert variant.system_prompt == "Be brief." and variant.id == "stable-1@canary:brief"
            await asyncio.to_thread(actions.rollback, "brief")
            await until(lambda: follower.table.route("chat-model") is None, "the rollback")
            assert "canary:brief" not in router.model_names
        finally:
            await follower.stop()

    run(body)


def test_a_promoted_canary_routes_everything_to_its_candidate(engine: Engine) -> None:
    follower, actions, _ = parts(engine)

    async def body() -> None:
        follower.start()
        try:
            await asyncio.to_thread(actions.start, model="chat-model", candidate="chat-model-v2")
            await asyncio.to_thread(actions.promote, "chat-model", full=True)
            await until(
                lambda: (r := follower.table.route("chat-model")) is not None and r.promoted, "the promotion"
            )
        finally:
            await follower.stop()

    run(body)


def test_redis_publish_reaches_a_follower_at_once(engine: Engine, redis_url: str) -> None:
    # the poll is an hour: only the message on llmgate:canary:changed can make it read again
    follower, actions, _ = parts(engine, redis_url)

    async def body() -> None:
        follower.start()
        try:
            await until(lambda: follower.refreshes >= 1, "the first read")
            await until(lambda: follower.subscribed, "the follower's subscription")
            assert subscribers(redis_url) > 0
            await asyncio.to_thread(actions.start, model="chat-model", candidate="chat-model-v2")
            await until(lambda: follower.table.route("chat-model") is not None, "the published start")
            await asyncio.to_thread(actions.rollback, "chat-model")
            await until(lambda: follower.table.route("chat-model") is None, "the published rollback")
        finally:
            await follower.stop()

    run(body)
    assert CHANNEL == "llmgate:canary:changed"


def subscribers(url: str) -> int:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return int(dict(client.pubsub_numsub(CHANNEL)).get(CHANNEL.encode(), 0))
    finally:
        client.close()


def test_publish_without_redis_or_with_redis_away_never_fails() -> None:
    publish(None, "x")
    publish("redis://127.0.0.1:1/0", "x")  # nothing listens there: logged, not raised


def test_routes_from_keeps_the_active_one_else_the_last_promotion() -> None:
    def row(canary_id: str, model: str, status: str, minute: int) -> CanaryRow:
        from datetime import UTC, datetime

        at = datetime(2026, 1, 1, 0, minute, tzinfo=UTC)
        return CanaryRow(
            id=canary_id,
            model=model,
            candidate={"model": "x"},
            steps=(100.0,),
            gates=("errors",),
            sticky="user",
            alpha=0.05,
            min_step_requests=1,
            status=status,
            started_at=at,
        )

    rows = [
        row("a1", "a", "promoted", 1),
        row("a2", "a", "rolled_back", 2),  # a later canary ended: a is back to its config
        row("b1", "b", "promoted", 1),
        row("c1", "c", "promoted", 1),
        row("c2", "c", "running", 3),
        row("d1", "d", "rolled_back", 1),
    ]
    assert sorted(r.id for r in routes_from(rows)) == ["b1", "c2"]
