"""Virtual keys through real HTTP with the openai SDK: who may call what, how often, for how much.

The fake upstream answers every chat with 16 prompt and 8 completion tokens; at the test
config's prices (0.0000015 / 0.000002 USD per token) each call costs exactly 0.00004 USD.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import openai
import orjson
import pytest

from e2e.test_proxy import MESSAGES, records
from support.configs import MASTER_KEY, upstream_config
from support.gateway import RunningGateway
from support.keys import add_key, add_team, change_key
from support.upstream import FakeUpstream

COST = Decimal("0.00004")


@pytest.fixture
def gateway(upstream: FakeUpstream, gateway_factory: Any) -> RunningGateway:
    return gateway_factory(upstream_config(upstream))  # type: ignore[no-any-return]


def client(gateway: RunningGateway, key: str) -> openai.OpenAI:
    return gateway.client(key)  # type: ignore[no-any-return]


def ask(gateway: RunningGateway, key: str, model: str = "gpt-4o-mini", **kwargs: Any) -> Any:
    return client(gateway, key).chat.completions.with_raw_response.create(
        model=model, messages=MESSAGES, **kwargs
    )


def test_a_virtual_key_is_recorded_with_its_team_user_and_tags(gateway: RunningGateway) -> None:
    engine = gateway.state.engine
    add_team(engine, "search", tags={"cost_centre": "cc-1", "env": "dev"})
    key, key_id = add_key(engine, "search-bot", team_id="search", user_id="ana", tags={"env": "prod"})
    ask(
        gateway,
        key,
        extra_headers={"x-llmgate-tags": "feature=autocomplete"},
        metadata={"tags": "ab:b"},
    ).parse()
    gateway.flush()
    (row,) = records(gateway)
    assert (row["key_id"], row["team_id"], row["auth_identity"], row["user"]) == (
        key_id,
        "search",
        "search-bot",
        "ana",
    )
    assert orjson.loads(row["tags_json"]) == {
        "cost_centre": "cc-1",
        "env": "prod",
        "feature": "autocomplete",
        "ab": "b",
    }
    assert key not in str(row)


def test_revoked_and_expired_keys_are_refused(gateway: RunningGateway) -> None:
    engine = gateway.state.engine
    key, key_id = add_key(engine, "soon-revoked")
    old, _ = add_key(engine, "expired", expires_at=datetime.now(UTC) - timedelta(minutes=1))
    ask(gateway, key).parse()
    change_key(engine, key_id, revoked_at=datetime.now(UTC))
    time.sleep(0.6)  # the gateway's copy of the keys follows the store within 0.25 s
    with pytest.raises(openai.AuthenticationError) as revoked:
        ask(gateway, key)
    assert revoked.value.body["code"] == "key_revoked"  # type: ignore[index]
    with pytest.raises(openai.AuthenticationError):
        ask(gateway, old)
    with pytest.raises(openai.AuthenticationError):
        ask(gateway, "sk-lg-not-a-key")


def test_model_allow_lists_of_key_and_team(gateway: RunningGateway) -> None:
    engine = gateway.state.engine
    add_team(engine, "cheap", models=["gpt-4o-mini", "mock-echo"])
    key, _ = add_key(engine, "narrow", team_id="cheap", models=["gpt-4o-mini", "text-embedding-3-small"])
    ask(gateway, key).parse()
    for model in ("mock-echo", "text-embedding-3-small"):  # one list allows it, the other does not
        with pytest.raises(openai.PermissionDeniedError) as denied:
            ask(gateway, key, model=model)
        assert denied.value.status_code == 403
        assert denied.value.body["code"] == "model_not_allowed"  # type: ignore[index]
    assert [m.id for m in client(gateway, key).models.list()] == ["gpt-4o-mini"]


def test_requests_per_minute(gateway: RunningGateway) -> None:
    key, _ = add_key(gateway.state.engine, "rpm-3", rpm=3)
    remaining = [ask(gateway, key).headers["x-ratelimit-remaining-requests"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    with pytest.raises(openai.RateLimitError) as limited:
        ask(gateway, key)
    response = limited.value.response
    assert response.headers["x-ratelimit-limit-requests"] == "3"
    assert response.headers["x-ratelimit-remaining-requests"] == "0"
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert limited.value.body["type"] == "rate_limit_exceeded"  # type: ignore[index]
    ask(gateway, MASTER_KEY).parse()  # the master key has no limits


def test_team_requests_per_minute_cover_all_its_keys(gateway: RunningGateway) -> None:
    engine = gateway.state.engine
    add_team(engine, "small", rpm=2)
    first, _ = add_key(engine, "one", team_id="small")
    second, _ = add_key(engine, "two", team_id="small")
    ask(gateway, first).parse()
    ask(gateway, second).parse()
    with pytest.raises(openai.RateLimitError):
        ask(gateway, first)


def test_tokens_per_minute(gateway: RunningGateway) -> None:
    key, _ = add_key(gateway.state.engine, "tpm-30", tpm=30)
    ask(gateway, key).parse()  # 24 tokens
    ask(gateway, key).parse()  # 24 < 30 when it started: 48 now
    with pytest.raises(openai.RateLimitError) as limited:
        ask(gateway, key)
    assert limited.value.response.headers["x-ratelimit-limit-tokens"] == "30"


def test_budget_refuses_the_request_that_would_start_over_it(gateway: RunningGateway) -> None:
    key, key_id = add_key(gateway.state.engine, "budget", budget_usd="0.0001", budget_period="monthly")
    for _ in range(3):  # 0, 0.00004, 0.00008 spent when each starts: all under 0.0001
        ask(gateway, key).parse()
    with pytest.raises(openai.RateLimitError) as over:
        ask(gateway, key)
    assert over.value.body["type"] == "budget_exceeded"  # type: ignore[index]
    assert int(over.value.response.headers["retry-after"]) >= 1
    gateway.flush()
    spent = sum(
        (r["cost_usd"] for r in records(gateway) if r["key_id"] == key_id and r["status"] == "success"),
        Decimal(0),
    )
    assert spent == 3 * COST


def test_budget_edge_with_fifty_requests_in_flight(gateway: RunningGateway, upstream: FakeUpstream) -> None:
    budget = 10 * COST
    key, key_id = add_key(gateway.state.engine, "edge", budget_usd=str(budget))
    for _ in range(8):
        ask(gateway, key).parse()
    upstream.latency_s = 0.3  # keep all fifty in flight together
    with ThreadPoolExecutor(50) as pool:
        outcomes = list(pool.map(lambda _: _try(gateway, key), range(50)))
    upstream.latency_s = 0.0
    admitted = outcomes.count("ok")
    assert admitted >= 1
    assert admitted + outcomes.count("budget_exceeded") == 50
    for _ in range(3):  # one at a time, what is left can still be used (each reserves its worst case)
        if _try(gateway, key) != "ok":
            break
    gateway.flush()
    spent = sum(
        (r["cost_usd"] for r in records(gateway) if r["key_id"] == key_id and r["cost_usd"]), Decimal(0)
    )
    assert spent >= budget  # the budget could be used
    assert spent <= budget + COST  # and passed by one request's cost at most
    with pytest.raises(openai.RateLimitError):  # now it is spent: refused at once
        ask(gateway, key)


def _try(gateway: RunningGateway, key: str) -> str:
    try:
        ask(gateway, key).parse()
    except openai.RateLimitError as exc:
        return str(exc.body["type"])  # type: ignore[index]
    return "ok"


def test_spend_survives_a_restart(upstream: FakeUpstream, gateway_factory: Any) -> None:
    config = upstream_config(upstream)
    first = gateway_factory(config)
    key, _ = add_key(first.state.engine, "restart", budget_usd=str(2 * COST))
    ask(first, key).parse()
    ask(first, key).parse()
    first.stop()  # records drained into the store
    second = gateway_factory(config)
    with pytest.raises(openai.RateLimitError):
        ask(second, key)


def test_pricing_file_and_cost_unknown(upstream: FakeUpstream, gateway_factory: Any, tmp_path: Any) -> None:
    (tmp_path / "prices.yaml").write_text(
        "openai/my-private-model:\n  input_cost_per_token: '0.000001'\n  output_cost_per_token: '0.000002'\n"
    )
    config = upstream_config(upstream, pricing_file="prices.yaml")  # relative to the config's directory
    for name, model in (
        ("private", "openai/my-private-model"),
        ("unpriced", "openai/nobody-knows-this-model"),
    ):
        config["model_list"].append(
            {"model_name": name, "litellm_params": {"model": model, "api_base": upstream.base_url}}
        )
    gateway = gateway_factory(config)
    ask(gateway, MASTER_KEY, model="private").parse()
    ask(gateway, MASTER_KEY, model="unpriced").parse()
    gateway.flush()
    rows = {r["model"]: r for r in records(gateway)}
    assert rows["private"]["cost_usd"] == Decimal("0.000032") and rows["private"]["cost_unknown"] is False
    assert rows["unpriced"]["cost_usd"] is None and rows["unpriced"]["cost_unknown"] is True


def test_keys_made_and_revoked_through_the_admin_api_take_effect_at_once(gateway: RunningGateway) -> None:
    admin = {"Authorization": f"Bearer {MASTER_KEY}"}
    made = gateway.post("/admin/keys", json={"alias": "api-made", "models": ["gpt-4o-mini"]}, headers=admin)
    assert made.status_code == 201, made.text
    key, key_id = made.json()["key"], made.json()["id"]
    ask(gateway, key).parse()
    assert gateway.post(f"/admin/keys/{key_id}/revoke", headers=admin).status_code == 200
    with pytest.raises(openai.AuthenticationError):
        ask(gateway, key)  # no wait: this process re-read its keys after the change
