"""The exact response cache through real HTTP with the openai SDK, in front of the fake upstream.

The upstream counts what reaches it (``upstream.received``): a hit must not. Answers are numbered
(``numbered``), so a test can tell a cached answer from a fresh one. Records are read from the
gateway's store.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest
import yaml
from typer.testing import CliRunner

from e2e.test_proxy import MESSAGES, TOOLS, records
from llmgate.cli.main import app
from support.configs import MASTER_KEY, upstream_config
from support.gateway import RunningGateway
from support.keys import add_key, add_team
from support.upstream import FakeUpstream, Fault, text_for

MODEL = "gpt-4o-mini"


def numbered(upstream: FakeUpstream) -> None:
    """Make every answer of ``upstream`` distinct: its text ends with how many requests it had."""
    upstream.reply = lambda body: f"{text_for(body)} #{len(upstream.received)}"


def cache_config(
    upstream: FakeUpstream, *, cache: dict[str, Any] | None = None, **params: Any
) -> dict[str, Any]:
    config = upstream_config(upstream)
    config["litellm_settings"] = {
        "cache": True,
        "num_retries": 0,
        "cache_params": {"type": "local", **params},
    }
    if cache is not None:
        config["llmgate"]["cache"] = cache
    return config


@pytest.fixture
def gateway(upstream: FakeUpstream, gateway_factory: Any) -> RunningGateway:
    numbered(upstream)
    return gateway_factory(cache_config(upstream))  # type: ignore[no-any-return]


def ask(gateway: RunningGateway, key: str = MASTER_KEY, **kwargs: Any) -> Any:
    """A chat completion through the gateway: (its text, its headers)."""
    kwargs.setdefault("messages", MESSAGES)
    raw = gateway.client(key).chat.completions.with_raw_response.create(model=MODEL, **kwargs)
    answer = raw.parse()
    return answer.choices[0].message.content, raw.headers


def wait_stored(gateway: RunningGateway) -> None:
    """Answers are kept in the background: wait until the cache holds an entry (its admin API)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        stats = gateway.get("/admin/cache/stats", headers={"authorization": f"Bearer {MASTER_KEY}"}).json()
        if stats["entries"]:
            return
        time.sleep(0.02)
    raise AssertionError("no answer was kept")


def test_second_identical_request_is_answered_from_the_cache(
    gateway: RunningGateway, upstream: FakeUpstream
) -> None:
    first, first_headers = ask(gateway)
    assert first_headers["x-llmgate-cache"] == "miss"
    wait_stored(gateway)
    second, headers = ask(gateway)
    assert len(upstream.received) == 1  # the second never reached the upstream
    assert second == first and headers["x-llmgate-cache"] == "hit"
    assert headers["x-llmgate-cache-key"] == first_headers["x-llmgate-cache-key"]
    assert headers["x-llmgate-attempts"] == "0"
    assert "cache" not in upstream.received[0].body
    rows = sorted(records(gateway), key=lambda row: row["created_at"])
    miss, hit = rows
    assert (miss["cache"], miss["cache_hit"], hit["cache"], hit["cache_hit"]) == ("miss", False, "hit", True)
    assert hit["cache_key"] == miss["cache_key"] == headers["x-llmgate-cache-key"]
    assert Decimal(hit["cost_usd"]) == 0 and Decimal(miss["cost_usd"]) > 0
    assert Decimal(hit["saved_usd"]) == Decimal(miss["cost_usd"])  # the same deployment, today's prices
    assert hit["response_text"] == first and hit["status_code"] == 200


@pytest.mark.parametrize(
    "change",
    [
        {"temperature": 0.3},
        {"top_p": 0.5},
        {"seed": 7},
        {"max_tokens": 50},
        {"n": 2},
        {"stop": ["\n"]},
        {"logprobs": True},
        {"tools": TOOLS},
        {"response_format": {"type": "json_object"}},
        {"messages": [*MESSAGES[:1], {"role": "user", "content": "What is the capital of Spain?"}]},
        {"messages": [{"role": "system", "content": "You are verbose."}, *MESSAGES[1:]]},
    ],
)
def test_any_changed_parameter_misses(
    gateway: RunningGateway, upstream: FakeUpstream, change: dict[str, Any]
) -> None:
    ask(gateway)
    wait_stored(gateway)
    gateway.client(MASTER_KEY).chat.completions.create(model=MODEL, **{"messages": MESSAGES, **change})
    assert len(upstream.received) == 2


def test_user_and_metadata_do_not_change_the_key(gateway: RunningGateway, upstream: FakeUpstream) -> None:
    ask(gateway, user="ana")
    wait_stored(gateway)
    _, headers = ask(gateway, user="bob", metadata={"purpose": "retry"})
    assert headers["x-llmgate-cache"] == "hit" and len(upstream.received) == 1


def test_another_team_misses_and_a_team_shares(gateway: RunningGateway, upstream: FakeUpstream) -> None:
    engine = gateway.state.engine
    add_team(engine, "search")
    add_team(engine, "billing")
    search_a, _ = add_key(engine, "search-a", team_id="search")
    search_b, _ = add_key(engine, "search-b", team_id="search")
    billing, _ = add_key(engine, "billing", team_id="billing")
    lone, _ = add_key(engine, "lone")
    ask(gateway, search_a)
    wait_stored(gateway)
    assert ask(gateway, search_b)[1]["x-llmgate-cache"] == "hit"  # the same team
    assert ask(gateway, billing)[1]["x-llmgate-cache"] == "miss"  # another team
    assert ask(gateway, lone)[1]["x-llmgate-cache"] == "miss"  # a key without a team: its own
    assert ask(gateway)[1]["x-llmgate-cache"] == "miss"  # the master key: the shared scope
    assert len(upstream.received) == 4


def test_global_scope_shares_across_teams(upstream: FakeUpstream, gateway_factory: Any) -> None:
    gateway = gateway_factory(cache_config(upstream, cache={"scope": "global"}))
    add_team(gateway.state.engine, "search")
    key, _ = add_key(gateway.state.engine, "other", team_id="search")
    ask(gateway)
    wait_stored(gateway)
    assert ask(gateway, key)[1]["x-llmgate-cache"] == "hit"


def test_a_key_denied_the_cache_bypasses_it(gateway: RunningGateway, upstream: FakeUpstream) -> None:
    key, _ = add_key(gateway.state.engine, "no-cache", metadata_json=orjson.dumps({"cache": False}).decode())
    assert ask(gateway, key)[1]["x-llmgate-cache"] == "bypass"
    time.sleep(0.2)
    assert ask(gateway, key)[1]["x-llmgate-cache"] == "bypass"
    assert len(upstream.received) == 2


def test_a_key_made_with_cache_off_bypasses_it(
    gateway: RunningGateway, upstream: FakeUpstream, tmp_path: Path
) -> None:
    """``llmgate keys create --cache off`` on the gateway's store: that key never reads or fills
    the cache, while a key made without it misses, then hits."""
    config = tmp_path / "keys.yaml"
    url = gateway.state.engine.url.render_as_string(hide_password=False)
    config.write_text(
        yaml.safe_dump({"general_settings": {"master_key": MASTER_KEY}, "llmgate": {"database_url": url}})
    )

    def create(*args: str) -> str:
        result = CliRunner().invoke(
            app, ["keys", "create", "--config", str(config), "--format", "json", *args]
        )
        assert result.exit_code == 0, result.output
        return str(json.loads(result.stdout)["key"])

    denied, other = create("--alias", "no-cache", "--cache", "off"), create("--alias", "other")
    assert ask(gateway, denied)[1]["x-llmgate-cache"] == "bypass"
    assert ask(gateway, other)[1]["x-llmgate-cache"] == "miss"
    wait_stored(gateway)
    assert ask(gateway, other)[1]["x-llmgate-cache"] == "hit"
    assert ask(gateway, denied)[1]["x-llmgate-cache"] == "bypass"
    assert len(upstream.received) == 3


def test_a_team_set_to_cache_off_denies_its_keys(gateway: RunningGateway, upstream: FakeUpstream) -> None:
    """The admin API's ``cache: off`` on a team: its keys bypass the cache until it is on again."""
    auth = {"authorization": f"Bearer {MASTER_KEY}"}
    assert gateway.post("/admin/teams", json={"alias": "t", "cache": "off"}, headers=auth).status_code == 201
    made = gateway.post("/admin/keys", json={"alias": "member", "team": "t"}, headers=auth)
    key = made.json()["key"]
    assert made.json()["cache"] == "on"  # the key's own setting: the team's applies
    assert ask(gateway, key)[1]["x-llmgate-cache"] == "bypass"
    time.sleep(0.2)
    assert ask(gateway, key)[1]["x-llmgate-cache"] == "bypass"
    turned = httpx.patch(f"{gateway.url}/admin/teams/t", json={"cache": "on"}, headers=auth, timeout=30)
    assert turned.json()["cache"] == "on"
    assert ask(gateway, key)[1]["x-llmgate-cache"] == "miss"
    wait_stored(gateway)
    assert ask(gateway, key)[1]["x-llmgate-cache"] == "hit"
    assert len(upstream.received) == 3


@pytest.mark.parametrize("how", ["body", "header"])
def test_no_cache_reads_fresh_and_stores_it(
    gateway: RunningGateway, upstream: FakeUpstream, how: str
) -> None:
    ask(gateway)
    wait_stored(gateway)
    control = {"extra_body": {"cache": {"no-cache": True}}} if how == "body" else {}
    if how == "header":
        control["extra_headers"] = {"cache-control": "no-cache"}
    fresh, headers = ask(gateway, **control)
    assert headers["x-llmgate-cache"] == "bypass" and fresh.endswith("#2")
    assert all("cache" not in received.body for received in upstream.received)
    deadline = time.monotonic() + 5
    while (again := ask(gateway))[0] != fresh and time.monotonic() < deadline:
        time.sleep(0.02)  # the fresh answer replaces the old entry, in the background
    assert again[0] == fresh and again[1]["x-llmgate-cache"] == "hit"


@pytest.mark.parametrize("how", ["body", "header"])
def test_no_store_is_not_kept(gateway: RunningGateway, upstream: FakeUpstream, how: str) -> None:
    control: dict[str, Any] = (
        {"extra_body": {"cache": {"no-store": True}}}
        if how == "body"
        else {"extra_headers": {"cache-control": "no-store"}}
    )
    assert ask(gateway, **control)[1]["x-llmgate-cache"] == "miss"
    time.sleep(0.3)
    assert ask(gateway)[1]["x-llmgate-cache"] == "miss"
    assert len(upstream.received) == 2


def test_ttl_and_s_maxage(gateway: RunningGateway, upstream: FakeUpstream) -> None:
    # the admin API loads on its first request (FastAPI): loaded first, so that on a busy machine
    # waiting for the 1-s entry below cannot take longer than the entry lives (a CI run saw that)
    assert (
        gateway.get("/admin/cache/stats", headers={"authorization": f"Bearer {MASTER_KEY}"}).status_code
        == 200
    )
    ask(gateway, extra_body={"cache": {"ttl": 1}})
    wait_stored(gateway)
    assert ask(gateway)[1]["x-llmgate-cache"] == "hit"
    time.sleep(0.5)
    # younger than 5 s: accepted; younger than 0.2 s: not (and the fresh answer is kept)
    assert ask(gateway, extra_body={"cache": {"s-maxage": 5}})[1]["x-llmgate-cache"] == "hit"
    assert ask(gateway, extra_headers={"cache-control": "max-age=0.2"})[1]["x-llmgate-cache"] == "miss"
    time.sleep(1.2)  # the entry the miss stored has the default TTL; the first entry's TTL is past
    assert ask(gateway)[1]["x-llmgate-cache"] == "hit"
    ask(gateway, messages=[{"role": "user", "content": "short-lived"}], extra_body={"cache": {"ttl": 0.5}})
    time.sleep(0.8)
    assert ask(gateway, messages=[{"role": "user", "content": "short-lived"}])[1]["x-llmgate-cache"] == "miss"


def _sse(gateway: RunningGateway, **body: Any) -> tuple[httpx.Headers, list[bytes]]:
    """A streamed chat over raw HTTP: its headers and its ``data:`` payloads."""
    payload = {"model": MODEL, "messages": MESSAGES, "stream": True, **body}
    with httpx.stream(
        "POST",
        gateway.url + "/v1/chat/completions",
        json=payload,
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        timeout=20,
    ) as response:
        raw = response.read()
        headers = response.headers
    events = [line[5:].strip() for line in raw.splitlines() if line.startswith(b"data:")]
    return headers, events


def test_a_stream_replays_a_plain_answer(gateway: RunningGateway, upstream: FakeUpstream) -> None:
    text, _ = ask(gateway)
    wait_stored(gateway)
    stream = gateway.client(MASTER_KEY).chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    headers, events = _sse(gateway)
    assert headers["x-llmgate-cache"] == "hit" and headers["content-type"].startswith("text/event-stream")
    assert events[-1] == b"[DONE]" and all(orjson.loads(e)["choices"] for e in events[:-1])  # no usage chunk
    assert len(upstream.received) == 1
    gateway.flush()
    hits = [row for row in records(gateway) if row["cache"] == "hit"]
    assert len(hits) == 2 and all(row["response_text"] == text for row in hits)


def test_a_plain_request_gets_a_streamed_answer(gateway: RunningGateway, upstream: FakeUpstream) -> None:
    headers, events = _sse(gateway, tools=TOOLS, stream_options={"include_usage": True})
    assert headers["x-llmgate-cache"] == "miss" and events[-1] == b"[DONE]"
    wait_stored(gateway)
    raw = gateway.client(MASTER_KEY).chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, tools=TOOLS
    )
    answer = raw.parse()
    assert raw.headers["x-llmgate-cache"] == "hit" and len(upstream.received) == 1
    call = answer.choices[0].message.tool_calls[0]
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"city": "Paris"}')
    assert answer.choices[0].finish_reason == "tool_calls" and answer.usage.total_tokens > 0
    replayed = gateway.client(MASTER_KEY).chat.completions.create(
        model=MODEL, messages=MESSAGES, tools=TOOLS, stream=True
    )
    deltas = [c.choices[0].delta for c in replayed if c.choices]
    assert [d.tool_calls[0].function.name for d in deltas if d.tool_calls] == ["get_weather"]


def test_errors_and_cut_streams_are_not_cached(gateway: RunningGateway, upstream: FakeUpstream) -> None:
    upstream.fail_next(Fault(status=500))
    with pytest.raises(openai.InternalServerError):
        ask(gateway)
    time.sleep(0.2)
    assert ask(gateway)[1]["x-llmgate-cache"] == "miss"  # the 500 was not kept; this answer is
    other = [{"role": "user", "content": "Tell me a long story."}]
    upstream.fail_next(Fault(cut_after=3))
    headers, events = _sse(gateway, messages=other)
    assert headers["x-llmgate-cache"] == "miss" and b"[DONE]" not in events
    time.sleep(0.3)
    assert ask(gateway, messages=other)[1]["x-llmgate-cache"] == "miss"
    assert len(upstream.received) == 4


def test_refusals_are_not_cached(gateway: RunningGateway, upstream: FakeUpstream) -> None:
    upstream.fail_next(Fault(status=200, body=orjson.dumps(_refusal())))
    with_refusal = gateway.client(MASTER_KEY).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert with_refusal.choices[0].message.refusal == "I can't help with that."
    time.sleep(0.3)
    assert ask(gateway)[1]["x-llmgate-cache"] == "miss"


def _refusal() -> dict[str, Any]:
    message = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
    return {"id": "chatcmpl-r", "object": "chat.completion", "created": 1, "model": "m", "choices": [choice]}


def test_embeddings_and_completions_are_cached(gateway: RunningGateway, upstream: FakeUpstream) -> None:
    client = gateway.client(MASTER_KEY)
    first = client.embeddings.create(model="text-embedding-3-small", input=["a", "bb"])
    time.sleep(0.2)
    raw = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input=["a", "bb"])
    assert raw.headers["x-llmgate-cache"] == "hit"
    assert [d.embedding for d in raw.parse().data] == [d.embedding for d in first.data]
    assert len(upstream.received) == 1


def test_the_cache_off_adds_no_header_and_forwards_no_cache_field(
    upstream: FakeUpstream, gateway_factory: Any
) -> None:
    gateway = gateway_factory(upstream_config(upstream))
    _, headers = ask(gateway, extra_body={"cache": {"no-cache": True}})
    _, again = ask(gateway)
    assert "x-llmgate-cache" not in headers and "x-llmgate-cache" not in again
    assert len(upstream.received) == 2 and "cache" not in upstream.received[0].body


def test_a_group_can_be_turned_on_alone(upstream: FakeUpstream, gateway_factory: Any) -> None:
    config = upstream_config(upstream)
    config["llmgate"]["cache"] = {"models": {MODEL: {"exact": True}}}
    gateway = gateway_factory(config)
    ask(gateway)
    wait_stored(gateway)
    assert ask(gateway)[1]["x-llmgate-cache"] == "hit"
    client = gateway.client(MASTER_KEY)
    client.embeddings.create(model="text-embedding-3-small", input="x")
    raw = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input="x")
    assert "x-llmgate-cache" not in raw.headers  # another group: no cache
