"""Two gateway processes sharing PostgreSQL and Redis: budgets, rate limits and revocations hold
across them.

The two processes (and their store and upstream) serve the whole module: each test makes a key of
its own, and the budgets, rate limits and revocations it checks are per key.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import openai
import pytest

from e2e.test_limits import COST
from e2e.test_proxy import MESSAGES
from llmgate.store.db import create_engine_for
from support.configs import upstream_config
from support.gateway import serve_replicas
from support.keys import add_key, change_key
from support.postgres import postgres_schema
from support.upstream import FakeUpstream

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(scope="module")
def two_gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], str]]:
    pg_url, redis_url = os.environ.get("LLMGATE_TEST_DATABASE_URL"), os.environ.get("LLMGATE_TEST_REDIS_URL")
    if not pg_url or not redis_url:
        pytest.skip("LLMGATE_TEST_DATABASE_URL and LLMGATE_TEST_REDIS_URL are needed")
    upstream = FakeUpstream().start()
    try:
        with postgres_schema(pg_url) as url:
            config = upstream_config(upstream, database_url=url)
            config["router_settings"] = {"redis_url": redis_url}
            with serve_replicas(config, tmp_path_factory.mktemp("limits-shared")) as bases:
                yield bases, url
    finally:
        upstream.stop()


def ask(base: str, key: str) -> None:
    with openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0) as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)


def test_budget_spent_through_one_is_enforced_by_the_other(two_gateways: tuple[list[str], str]) -> None:
    (a, b), url = two_gateways
    engine = create_engine_for(url)
    try:
        key, _ = add_key(engine, "shared-budget", budget_usd=str(2 * COST))
    finally:
        engine.dispose()
    ask(a, key)
    ask(a, key)
    time.sleep(0.2)  # the spend is counted in Redis as each answer completes
    with pytest.raises(openai.RateLimitError) as over:
        ask(b, key)  # b never served this key before
    assert over.value.body["type"] == "budget_exceeded"  # type: ignore[index]


def test_rate_limit_is_shared(two_gateways: tuple[list[str], str]) -> None:
    (a, b), url = two_gateways
    engine = create_engine_for(url)
    try:
        key, _ = add_key(engine, "shared-rpm", rpm=2)
    finally:
        engine.dispose()
    ask(a, key)
    ask(b, key)
    with pytest.raises(openai.RateLimitError):
        ask(a, key)
    with pytest.raises(openai.RateLimitError):
        ask(b, key)


def test_a_key_revoked_is_refused_by_both(two_gateways: tuple[list[str], str]) -> None:
    (a, b), url = two_gateways
    engine = create_engine_for(url)
    try:
        key, key_id = add_key(engine, "shared-revoke")
        ask(a, key)
        ask(b, key)
        change_key(engine, key_id, revoked_at=datetime.now(UTC))
    finally:
        engine.dispose()
    time.sleep(0.6)
    for base in (a, b):
        with pytest.raises(openai.AuthenticationError):
            ask(base, key)
