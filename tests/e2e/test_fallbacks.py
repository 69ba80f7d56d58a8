"""Retries, fallbacks and circuit breakers, driven through the official openai SDK against
fault-injecting upstreams on loopback: what the client sees, and what is recorded."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import openai
import orjson
import pytest

from e2e.test_proxy import MESSAGES, records
from support.configs import MASTER_KEY
from support.gateway import RunningGateway
from support.upstream import FakeUpstream, Fault


@pytest.fixture
def backup() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream().start()
    yield upstream
    upstream.stop()


def entry(name: str, ident: str, api_base: str, **params: Any) -> dict[str, Any]:
    return {
        "model_name": name,
        "model_info": {"id": ident},
        "litellm_params": {
            "model": "openai/gpt-4o-mini",
            "api_base": api_base,
            "api_key": "sk-upstream-secret-key",
            **params,
        },
    }


def config(primary: str, backup: str, **router: Any) -> dict[str, Any]:
    settings = {"num_retries": 1, "fallbacks": [{"gpt-4o": ["backup"]}], "allowed_fails": 100, "timeout": 2}
    return {
        "model_list": [
            entry("gpt-4o", "primary", primary),
            entry("backup", "backup", backup),
            entry("big", "big", backup),
        ],
        "router_settings": {**settings, **router},
        "general_settings": {"master_key": MASTER_KEY},
    }


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def ask(gateway: RunningGateway, model: str = "gpt-4o", **kwargs: Any) -> Any:
    return gateway.client(MASTER_KEY).chat.completions.with_raw_response.create(
        model=model, messages=MESSAGES, **kwargs
    )


def path_of(row: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(a["deployment"], a["status"], a["error_type"]) for a in orjson.loads(row["attempts_json"])]


def only_record(gateway: RunningGateway) -> dict[str, Any]:
    (row,) = records(gateway)
    return row


Make = Callable[..., RunningGateway]


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [
        (Fault(status=500), "upstream_error"),
        (Fault(status=503), "upstream_error"),
        (Fault(malformed=True), "upstream_error"),
        (Fault(hang_s=3), "timeout"),
    ],
    ids=["500", "503", "malformed-json", "hang-past-timeout"],
)
def test_failures_are_retried_then_fall_back(
    upstream: FakeUpstream, backup: FakeUpstream, gateway_factory: Make, fault: Fault, error_type: str
) -> None:
    gateway = gateway_factory(config(upstream.base_url, backup.base_url, timeout=0.5))
    upstream.fail_next(fault, times=2)
    raw = ask(gateway)
    completion = raw.parse()
    assert completion.choices[0].message.content  # the client just got its answer
    assert raw.headers["x-llmgate-model"] == "backup"
    assert raw.headers["x-llmgate-attempts"] == "3"
    gateway.flush()
    row = only_record(gateway)
    assert row["status"] == "success" and row["deployment"] == "backup" and row["attempts"] == 3
    assert path_of(row) == [
        ("primary", "error", error_type),
        ("primary", "error", error_type),
        ("backup", "success", None),
    ]
    assert row["id"] == raw.headers["x-llmgate-request-id"]


def test_a_retry_can_succeed_on_the_same_deployment(
    upstream: FakeUpstream, backup: FakeUpstream, gateway_factory: Make
) -> None:
    gateway = gateway_factory(config(upstream.base_url, backup.base_url))
    upstream.fail_next(Fault(status=502))
    raw = ask(gateway)
    assert raw.headers["x-llmgate-model"] == "primary" and raw.headers["x-llmgate-attempts"] == "2"
    assert len(backup.received) == 0


def test_refused_connection_falls_back(backup: FakeUpstream, gateway_factory: Make) -> None:
    gateway = gateway_factory(config(closed_port_url(), backup.base_url))
    raw = ask(gateway)
    assert raw.headers["x-llmgate-model"] == "backup"
    gateway.flush()
    assert [p[2] for p in path_of(only_record(gateway))] == [
        "upstream_unavailable",
        "upstream_unavailable",
        None,
    ]


def test_429_cools_the_deployment_down_for_its_retry_after(
    upstream: FakeUpstream, backup: FakeUpstream, gateway_factory: Make
) -> None:
    gateway = gateway_factory(config(upstream.base_url, backup.base_url))
    upstream.fail_next(Fault(status=429, retry_after="30"))
    first = ask(gateway)
    assert first.headers["x-llmgate-model"] == "backup"
    assert first.headers["x-llmgate-attempts"] == "2"  # no retry on a deployment that said wait 30 s
    second = ask(gateway)  # the primary is skipped, not tried
    assert second.headers["x-llmgate-model"] == "backup" and second.headers["x-llmgate-attempts"] == "1"
    assert len(upstream.received) == 1
    health = {d["id"]: d for d in gateway.get("/health/deployments").json()["deployments"]}
    assert health["primary"]["circuit"] == "open"
    assert 25 < health["primary"]["cooldown_remaining_s"] <= 30
    assert health["backup"]["circuit"] == "closed"


def test_a_short_retry_after_is_waited_out_when_there_is_no_fallback(
    upstream: FakeUpstream, gateway_factory: Make
) -> None:
    gateway = gateway_factory(config(upstream.base_url, upstream.base_url, fallbacks=[]))
    upstream.fail_next(Fault(status=429, retry_after="1"))
    started = time.monotonic()
    raw = ask(gateway)
    assert 0.9 < time.monotonic() - started < 3
    assert raw.headers["x-llmgate-model"] == "primary" and raw.headers["x-llmgate-attempts"] == "2"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_caller_errors_come_back_as_they_came_without_retry(
    upstream: FakeUpstream, backup: FakeUpstream, gateway_factory: Make, status: int
) -> None:
    gateway = gateway_factory(config(upstream.base_url, backup.base_url))
    upstream.fail_next(Fault(status=status))
    with pytest.raises(openai.APIStatusError) as caught:
        ask(gateway)
    assert caught.value.status_code == status
    assert caught.value.body["message"] == f"fake upstream error {status}"  # type: ignore[index]
    assert len(upstream.received) == 1 and len(backup.received) == 0


def test_context_window_errors_go_to_the_context_window_fallbacks(
    upstream: FakeUpstream, backup: FakeUpstream, gateway_factory: Make
) -> None:
    gateway = gateway_factory(
        config(upstream.base_url, backup.base_url, context_window_fallbacks=[{"gpt-4o": ["big"]}])
    )
    too_long = orjson.dumps(
        {
            "error": {
                "message": "This model's maximum context length is 128000 tokens.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        }
    )
    upstream.fail_next(Fault(status=400, body=too_long))
    raw = ask(gateway)
    assert raw.headers["x-llmgate-model"] == "big" and raw.headers["x-llmgate-attempts"] == "2"


def test_the_deadline_gives_a_504_in_openai_shape(upstream: FakeUpstream, gateway_factory: Make) -> None:
    gateway = gateway_factory(
        config(upstream.base_url, upstream.base_url, fallbacks=[], timeout=5, request_timeout=0.6)
    )
    upstream.fail_next(Fault(hang_s=3))
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as caught:
        ask(gateway)
    assert time.monotonic() - started < 1.5
    assert caught.value.status_code == 504
    assert caught.value.body["code"] == "request_timeout"  # type: ignore[index]
    gateway.flush()
    row = only_record(gateway)
    assert row["status_code"] == 504 and row["error_type"] == "timeout"


def test_a_stream_that_fails_before_its_first_byte_falls_back(
    upstream: FakeUpstream, backup: FakeUpstream, gateway_factory: Make
) -> None:
    gateway = gateway_factory(config(upstream.base_url, backup.base_url, num_retries=0))
    upstream.fail_next(Fault(status=500))
    stream = gateway.client(MASTER_KEY).chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert (
        text
        == backup.client().chat.completions.create(model="x", messages=MESSAGES).choices[0].message.content
    )
    gateway.flush()
    row = only_record(gateway)
    assert row["status"] == "success" and path_of(row)[-1] == ("backup", "success", None)


def test_a_stream_cut_after_bytes_ends_with_an_error_event(
    upstream: FakeUpstream, backup: FakeUpstream, gateway_factory: Make
) -> None:
    gateway = gateway_factory(config(upstream.base_url, backup.base_url))
    upstream.fail_next(Fault(cut_after=2))
    stream = gateway.client(MASTER_KEY).chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True
    )
    received = []
    with pytest.raises(openai.APIError, match="stream"):
        for chunk in stream:
            received.append(chunk)
    assert len(received) == 2  # what arrived before the cut, then the error: never a silent end
    assert len(backup.received) == 0  # the client had bytes: no fallback mid-answer
    gateway.flush()
    row = only_record(gateway)
    assert row["status"] == "error" and row["error_type"] == "stream_interrupted"
    assert path_of(row) == [("primary", "error", "stream_interrupted")]


def test_streams_that_end_in_error_events_open_the_circuit(
    upstream: FakeUpstream, backup: FakeUpstream, gateway_factory: Make
) -> None:
    """An upstream failing every stream mid-way with an error event (OpenAI's and vLLM's way: HTTP
    said 200) counts against its deployment as a cut stream does, so its circuit opens and the
    next streams go to the fallback; before, such a deployment kept every stream it was sent."""
    gateway = gateway_factory(config(upstream.base_url, backup.base_url, allowed_fails=2, cooldown_time=30))
    upstream.fail_next(Fault(error_after=2), times=2)
    client = gateway.client(MASTER_KEY)
    for _ in range(2):
        with pytest.raises(openai.APIError, match="error while processing"):
            list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    health = {d["id"]: d for d in gateway.get("/health/deployments").json()["deployments"]}
    assert health["primary"]["circuit"] == "open" and health["backup"]["circuit"] == "closed"
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES, stream=True)
    assert raw.headers["x-llmgate-model"] == "backup"
    assert "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert len(upstream.received) == 2 and len(backup.received) == 1


def test_a_stream_that_mentions_errors_is_no_failure(upstream: FakeUpstream, gateway_factory: Make) -> None:
    """The word in an answer's text is not an error event: the circuit stays closed."""
    gateway = gateway_factory(config(upstream.base_url, upstream.base_url, allowed_fails=1))
    said = [{"role": "user", "content": 'the "error": field of a failed stream, and response.failed'}]
    stream = gateway.client(MASTER_KEY).chat.completions.create(model="gpt-4o", messages=said, stream=True)  # type: ignore[arg-type]
    assert "response.failed" in "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    health = {d["id"]: d for d in gateway.get("/health/deployments").json()["deployments"]}
    assert health["primary"]["circuit"] == "closed"


def test_circuit_opens_skips_then_probes_half_open(
    upstream: FakeUpstream, backup: FakeUpstream, gateway_factory: Make
) -> None:
    gateway = gateway_factory(
        config(upstream.base_url, backup.base_url, num_retries=0, allowed_fails=2, cooldown_time=1)
    )
    upstream.down = True
    for _ in range(2):
        assert ask(gateway).headers["x-llmgate-model"] == "backup"
    assert len(upstream.received) == 2
    for _ in range(5):  # open: skipped, not tried
        raw = ask(gateway)
        assert raw.headers["x-llmgate-model"] == "backup" and raw.headers["x-llmgate-attempts"] == "1"
    assert len(upstream.received) == 2
    health = {d["id"]: d for d in gateway.get("/health/deployments").json()["deployments"]}
    assert health["primary"]["circuit"] == "open" and health["primary"]["error_rate"] > 0
    upstream.down = False
    time.sleep(1.1)
    assert gateway.get("/health/deployments").json()["deployments"][0]["circuit"] == "half_open"
    raw = ask(gateway)  # the probe goes to the primary, succeeds, and closes the circuit
    assert raw.headers["x-llmgate-model"] == "primary"
    assert gateway.get("/health/deployments").json()["deployments"][0]["circuit"] == "closed"


def test_everything_cooling_down_fails_fast_with_retry_after(
    upstream: FakeUpstream, gateway_factory: Make
) -> None:
    gateway = gateway_factory(
        config(
            upstream.base_url,
            upstream.base_url,
            fallbacks=[],
            num_retries=0,
            allowed_fails=1,
            cooldown_time=20,
        )
    )
    upstream.down = True
    with pytest.raises(openai.APIStatusError):
        ask(gateway)
    with pytest.raises(openai.APIStatusError) as caught:
        ask(gateway)
    assert caught.value.status_code == 503
    assert caught.value.body["code"] == "no_deployment_available"  # type: ignore[index]
    assert 1 <= int(caught.value.response.headers["retry-after"]) <= 20
    assert len(upstream.received) == 1


def test_fallbacks_must_name_configured_groups(gateway_factory: Make) -> None:
    from llmgate.config import parse_config
    from llmgate.errors import ConfigError

    with pytest.raises(ConfigError, match="'nope' is not a model_name in model_list"):
        parse_config(config("http://x/v1", "http://y/v1", fallbacks=[{"gpt-4o": ["nope"]}]))
