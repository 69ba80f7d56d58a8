"""A budget race: 50 concurrent slow requests against a key whose budget fits 5 of them.

Admission reserves each request's worst-case cost (its body's size in prompt tokens, its
``max_tokens`` in output tokens) and refuses what does not fit beside what is in flight, so the
spend recorded for the key passes its budget by at most one request's cost: on one ``llmgate
serve`` with SQLite, and on two ``llmgate serve`` processes sharing PostgreSQL and Redis. Before,
every request was checked against the spend of finished answers only, and all 50 were served.

The deployment is ``mock/`` with a latency that keeps all 50 in flight together and with prices:
each request costs 4 prompt tokens (one word and the mock's 3 per message) and 10 completion
tokens (its 10-word answer, ``max_tokens`` 10). Half the requests stream, so both settling paths
race. The figures (admitted, spend, budget, overspend) are printed (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import sqlalchemy as sa

from llmgate.store.db import create_engine_for
from llmgate.store.models import MONEY_SCALE
from support.configs import MASTER_KEY
from support.gateway import serve_replicas
from support.keys import add_key
from support.postgres import postgres_schema
from support.served import ServedGateway

REQUESTS = 50
FITS = 5
INPUT_PRICE = Decimal("0.0000001")
OUTPUT_PRICE = Decimal("0.00001")
ANSWER = "one two three four five six seven eight nine ten"
COST = 4 * INPUT_PRICE + 10 * OUTPUT_PRICE  # of each answered request
BUDGET = FITS * COST
LATENCY_MS = 2000  # every request is in flight while the others arrive
MESSAGES: Any = [{"role": "user", "content": "hi"}]

MODEL_LIST = [
    {
        "model_name": "slow",
        "litellm_params": {
            "model": "mock/slow",
            "mock_response": ANSWER,
            "mock_latency_ms": LATENCY_MS,
            "input_cost_per_token": str(INPUT_PRICE),
            "output_cost_per_token": str(OUTPUT_PRICE),
        },
    }
]
CONFIG: dict[str, Any] = {"model_list": MODEL_LIST, "general_settings": {"master_key": MASTER_KEY}}


async def _one(client: openai.AsyncOpenAI, i: int, max_tokens: int | None) -> tuple[str, str]:
    """(outcome, request id): ``ok`` or the error type of a 429."""
    limit: Any = {"max_tokens": max_tokens} if max_tokens else {}
    try:
        if i % 2:
            async with client.chat.completions.with_streaming_response.create(
                model="slow",
                messages=MESSAGES,
                **limit,
                stream=True,
                stream_options={"include_usage": True},
            ) as response:
                async for _ in response.iter_lines():
                    pass
                return "ok", response.headers["x-llmgate-request-id"]
        raw = await client.chat.completions.with_raw_response.create(model="slow", messages=MESSAGES, **limit)
        raw.parse()
        return "ok", raw.headers["x-llmgate-request-id"]
    except openai.RateLimitError as exc:
        return str(exc.body["type"]), exc.response.headers["x-llmgate-request-id"]  # type: ignore[index]


def know_key(bases: list[str], key: str, seconds: float = 30) -> None:
    """Wait until every gateway accepts ``key`` (its first use loads the keys from the store)."""
    deadline = time.monotonic() + seconds
    for base in bases:
        while (
            httpx.get(base + "/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=15).status_code
            != 200
        ):
            assert time.monotonic() < deadline, f"{base} never accepted the key"
            time.sleep(0.1)


def burst(bases: list[str], key: str, max_tokens: int | None = 10) -> list[tuple[str, str]]:
    """``REQUESTS`` requests at once, spread over the gateways at ``bases``."""
    know_key(bases, key)

    async def run() -> list[tuple[str, str]]:
        clients = [
            openai.AsyncOpenAI(base_url=b + "/v1", api_key=key, max_retries=0, timeout=60) for b in bases
        ]
        try:
            return list(
                await asyncio.gather(
                    *(_one(clients[i % len(clients)], i, max_tokens) for i in range(REQUESTS))
                )
            )
        finally:
            for client in clients:
                await client.close()

    return asyncio.run(run())


def check(outcomes: list[tuple[str, str]], costs: dict[str, Decimal | None], label: str) -> None:
    admitted = sum(1 for outcome, _ in outcomes if outcome == "ok")
    refused = sum(1 for outcome, _ in outcomes if outcome == "budget_exceeded")
    spend = sum((c for c in costs.values() if c), Decimal(0))
    print(
        f"\n[{label}] admitted {admitted} of {REQUESTS} (refused {refused}); spend ${spend} of "
        f"${BUDGET} budget; overspend ${max(Decimal(0), spend - BUDGET)} (one request: ${COST})"
    )
    assert admitted + refused == REQUESTS
    assert len(costs) == REQUESTS  # every request has its record
    answered = [c for c in costs.values() if c]
    assert len(answered) == admitted and all(c == COST for c in answered)
    assert admitted >= 1  # the budget can be used
    assert spend <= BUDGET + COST  # and is passed by one request's cost at most


def test_budget_race_on_sqlite(tmp_path: Path) -> None:
    """With ``max_tokens`` 10, then without (a worst case of the model's whole output limit,
    which no budget here fits: one request runs at a time while money is left)."""
    gateway = ServedGateway(CONFIG, tmp_path).start()
    try:
        engine = create_engine_for(f"sqlite:///{gateway.database}")
        try:
            bounded, _ = add_key(engine, "race", budget_usd=str(BUDGET))
            unbounded, _ = add_key(engine, "race-no-max-tokens", budget_usd=str(BUDGET))
        finally:
            engine.dispose()
        results = []
        for key, max_tokens in ((bounded, 10), (unbounded, None)):
            outcomes = burst([gateway.url], key, max_tokens)
            rows = gateway.rows([request_id for _, request_id in outcomes], missing_ok=True)
            # read from the file as stored: integer 1e-10 USD on SQLite
            costs = {i: Decimal(r[0]["cost_usd"]).scaleb(-MONEY_SCALE) for i, r in rows.items() if r}
            results.append((outcomes, costs))
    finally:
        gateway.stop()
    check(*results[0], "SQLite, one gateway, max_tokens 10")
    check(*results[1], "SQLite, one gateway, no max_tokens")


@pytest.fixture
def two_gateways(pg_url: str, redis_url: str, tmp_path: Path) -> Iterator[tuple[list[str], str]]:
    with postgres_schema(pg_url) as url:
        config = {
            **CONFIG,
            "router_settings": {"redis_url": redis_url},
            "llmgate": {"database_url": url, "recorder": {"flush_interval_s": 0.05}},
        }
        with serve_replicas(config, tmp_path) as bases:
            yield bases, url


@pytest.mark.postgres
@pytest.mark.redis
def test_budget_race_on_postgres_and_redis_across_two_gateways(two_gateways: tuple[list[str], str]) -> None:
    bases, url = two_gateways
    engine = create_engine_for(url)
    try:
        key, key_id = add_key(engine, "race-shared", budget_usd=str(BUDGET))
        outcomes = burst(bases, key)
        costs = _stored_costs(engine, key_id, REQUESTS)
    finally:
        engine.dispose()
    check(outcomes, costs, "PostgreSQL + Redis, two gateways")


def _stored_costs(
    engine: sa.Engine, key_id: str, count: int, seconds: float = 20
) -> dict[str, Decimal | None]:
    """The cost of each stored request of ``key_id``, once ``count`` are stored (or time is up)."""
    deadline = time.monotonic() + seconds
    query = sa.text("SELECT id, cost_usd FROM requests WHERE key_id = :key")
    while True:
        with engine.connect() as conn:
            rows = {r.id: _decimal(r.cost_usd) for r in conn.execute(query, {"key": key_id})}
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))
