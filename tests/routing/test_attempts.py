"""The retry/fallback loop (``routing/attempts.py``) with a scripted attempt function.

The attempt function is the loop's injected seam: here it plays back a script of answers and
failures per deployment. The clock and the sleep are one fake clock shared with the deployments'
health, so backoffs, cooldowns and deadlines run without waiting.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

import pytest

from llmgate.config import parse_config
from llmgate.config.deployment import Deployment, build_deployments
from llmgate.errors import (
    NoDeploymentAvailable,
    ProviderError,
    RateLimited,
    RequestTimeout,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
)
from llmgate.routing import Router
from llmgate.routing.attempts import Attempts
from llmgate.routing.health import Health


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Script:
    """The attempt function: each deployment's outcomes in turn (the last one repeats)."""

    def __init__(self, clock: FakeClock, outcomes: dict[str, list[Any]], latency_s: float = 0.25) -> None:
        self.clock, self.outcomes, self.latency_s = clock, outcomes, latency_s
        self.calls: list[tuple[str, float]] = []

    async def __call__(self, deployment: Deployment, timeout: float) -> str:
        self.calls.append((deployment.id, timeout))
        self.clock.now += self.latency_s
        queue = self.outcomes[deployment.id]
        outcome = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(outcome, ProviderError):
            raise outcome
        return str(outcome)


Try = tuple[str, str, float, float]


def record(deployment: Deployment, exc: ProviderError | None, started_ms: float, latency_ms: float) -> Try:
    """Each try as the trail keeps it: deployment, outcome, start and latency in ms."""
    return (deployment.id, exc.error_type if exc is not None else "success", started_ms, latency_ms)


def build(
    groups: dict[str, Iterable[str]], clock: FakeClock, **router_settings: Any
) -> tuple[Attempts[Try], Router]:
    """A loop over model groups of mock deployments with the given ids."""
    config = parse_config(
        {
            "model_list": [
                {"model_name": group, "litellm_params": {"model": "mock/x"}, "model_info": {"id": ident}}
                for group, ids in groups.items()
                for ident in ids
            ],
            "router_settings": router_settings,
        }
    )
    policy = config.routing
    deployments = build_deployments(config)
    health = Health(
        [d.id for d in deployments],
        allowed_fails=policy.allowed_fails,
        cooldown_time=policy.cooldown_time,
        clock=clock,
    )
    router = Router(
        deployments,
        health=health,
        strategy=policy.strategy,
        fallbacks=policy.fallbacks,
        default_fallbacks=policy.default_fallbacks,
        context_window_fallbacks=policy.context_window_fallbacks,
        content_policy_fallbacks=policy.content_policy_fallbacks,
        rng=random.Random(7),
    )
    loop = Attempts(router, policy, record, clock=clock, sleep=clock.sleep, rng=random.Random(7))
    return loop, router


def failing() -> UpstreamError:
    return UpstreamError("upstream answered 503", upstream_status=503)


def rejected(status: int = 400, code: str = "invalid_value", message: str = "bad") -> UpstreamRejected:
    body = b'{"error": {"code": "%s", "message": "%s"}}' % (code.encode(), message.encode())
    return UpstreamRejected("rejected", status=status, body=body)


async def test_retries_a_retryable_failure_up_to_num_retries_then_raises_the_last() -> None:
    clock = FakeClock()
    loop, _ = build({"gpt": ["a"]}, clock, num_retries=2, allowed_fails=10)
    script = Script(clock, {"a": [failing(), failing(), UpstreamTimeout("slow")]})
    trail: list[Try] = []
    with pytest.raises(UpstreamTimeout):
        await loop.first_answer("gpt", script, trail, started=clock())
    assert [d for d, _ in script.calls] == ["a", "a", "a"]  # 1 + num_retries
    assert [t[1] for t in trail] == ["upstream_error", "upstream_error", "timeout"]
    # each retry of a deployment that failed waits a growing, jittered backoff first
    assert len(clock.slept) == 2
    assert 0.05 <= clock.slept[0] <= 0.1 and 0.1 <= clock.slept[1] <= 0.2


async def test_a_retry_that_answers_is_returned_and_recorded_after_the_failure() -> None:
    clock = FakeClock()
    loop, router = build({"gpt": ["a"]}, clock, num_retries=2)
    script = Script(clock, {"a": [failing(), "hello"]})
    trail: list[Try] = []
    assert await loop.first_answer("gpt", script, trail, started=clock()) == "hello"
    assert [(t[0], t[1]) for t in trail] == [("a", "upstream_error"), ("a", "success")]
    assert router.health.latency_ms("a") == pytest.approx(250.0)  # the success was reported to health
    assert router.health.in_flight("a") == 0


async def test_falls_back_to_the_next_model_group_when_a_group_has_no_tries_left() -> None:
    clock = FakeClock()
    loop, _ = build(
        {"primary": ["p"], "backup": ["b"], "spare": ["s"]},
        clock,
        num_retries=1,
        allowed_fails=10,
        fallbacks=[{"primary": ["backup", "spare"]}],
    )
    script = Script(clock, {"p": [failing()], "b": [failing()], "s": ["from spare"]})
    trail: list[Try] = []
    assert await loop.first_answer("primary", script, trail, started=clock()) == "from spare"
    assert [t[0] for t in trail] == ["p", "p", "b", "b", "s"]


async def test_the_path_is_recorded_in_order_with_start_offsets_and_latencies() -> None:
    clock = FakeClock()
    loop, _ = build(
        {"primary": ["p"], "backup": ["b"]}, clock, num_retries=0, fallbacks=[{"primary": ["backup"]}]
    )
    started = clock()
    script = Script(clock, {"p": [failing()], "b": ["ok"]}, latency_s=0.5)
    trail: list[Try] = []
    await loop.first_answer("primary", script, trail, started=started)
    assert trail == [
        ("p", "upstream_error", 0.0, pytest.approx(500.0)),
        ("b", "success", pytest.approx(500.0), pytest.approx(500.0)),
    ]


async def test_a_client_error_is_answered_as_it_came_without_retry_or_fallback() -> None:
    clock = FakeClock()
    loop, router = build(
        {"primary": ["p", "q"], "backup": ["b"]},
        clock,
        num_retries=3,
        fallbacks=[{"primary": ["backup"]}],
        content_policy_fallbacks=[{"primary": ["backup"]}],
    )
    refusal = rejected(401, "invalid_api_key", "Incorrect API key provided")
    script = Script(clock, {"p": [refusal], "q": [refusal], "b": ["never"]})
    trail: list[Try] = []
    with pytest.raises(UpstreamRejected) as raised:
        await loop.first_answer("primary", script, trail, started=clock())
    assert raised.value is refusal
    assert len(script.calls) == 1 and len(trail) == 1
    assert clock.slept == []
    tried = script.calls[0][0]
    assert router.health.circuit(tried) == "closed"  # the caller's problem does not count against it


async def test_a_context_window_400_goes_to_the_context_window_fallbacks_only() -> None:
    clock = FakeClock()
    loop, _ = build(
        {"small": ["s"], "backup": ["b"], "large": ["l"]},
        clock,
        fallbacks=[{"small": ["backup"]}],
        context_window_fallbacks=[{"small": ["large"]}],
    )
    too_long = rejected(400, "context_length_exceeded", "maximum context length is 8192 tokens")
    script = Script(clock, {"s": [too_long], "b": ["wrong"], "l": ["from large"]})
    trail: list[Try] = []
    assert await loop.first_answer("small", script, trail, started=clock()) == "from large"
    assert [t[0] for t in trail] == ["s", "l"]


async def test_a_context_window_400_without_such_fallbacks_is_answered_as_it_came() -> None:
    clock = FakeClock()
    loop, _ = build({"small": ["s"], "backup": ["b"]}, clock, fallbacks=[{"small": ["backup"]}])
    too_long = rejected(400, "context_length_exceeded", "maximum context length is 8192 tokens")
    script = Script(clock, {"s": [too_long], "b": ["wrong"]})
    trail: list[Try] = []
    with pytest.raises(UpstreamRejected):
        await loop.first_answer("small", script, trail, started=clock())
    assert [t[0] for t in trail] == ["s"]


async def test_a_deployment_cooling_down_is_skipped() -> None:
    clock = FakeClock()
    loop, router = build({"gpt": ["a", "b"]}, clock, num_retries=0)
    router.health.open("a", 30)
    script = Script(clock, {"a": ["from a"], "b": ["from b"]})
    trail: list[Try] = []
    for _ in range(20):
        assert await loop.first_answer("gpt", script, trail, started=clock()) == "from b"
    assert {d for d, _ in script.calls} == {"b"}


async def test_failures_trip_the_circuit_and_later_requests_skip_the_deployment() -> None:
    clock = FakeClock()
    loop, router = build({"gpt": ["a", "b"]}, clock, num_retries=1, allowed_fails=1, cooldown_time=60)
    script = Script(clock, {"a": [failing()], "b": ["from b"]})
    first: list[Try] = []
    while not first or first[0][0] != "a":  # until a request tries a first
        first = []
        assert await loop.first_answer("gpt", script, first, started=clock()) == "from b"
    assert [t[0] for t in first] == ["a", "b"]
    assert router.health.circuit("a") == "open"
    script.calls.clear()
    for _ in range(20):
        await loop.first_answer("gpt", script, [], started=clock())
    assert {d for d, _ in script.calls} == {"b"}


async def test_every_deployment_cooling_down_is_no_deployment_available_with_the_wait() -> None:
    clock = FakeClock()
    loop, router = build({"gpt": ["a", "b"]}, clock)
    router.health.open("a", 30)
    router.health.open("b", 12)
    script = Script(clock, {"a": ["x"], "b": ["y"]})
    trail: list[Try] = []
    with pytest.raises(NoDeploymentAvailable) as raised:
        await loop.first_answer("gpt", script, trail, started=clock())
    assert raised.value.retry_after == pytest.approx(12)
    assert "try again in 12 s" in raised.value.message
    assert script.calls == [] and trail == []


async def test_a_short_retry_after_is_waited_out_when_no_fallback_is_left() -> None:
    clock = FakeClock()
    loop, _ = build({"gpt": ["a"]}, clock, num_retries=1)
    script = Script(clock, {"a": [RateLimited("slow down", retry_after=3), "after the wait"]}, latency_s=0)
    trail: list[Try] = []
    assert await loop.first_answer("gpt", script, trail, started=clock()) == "after the wait"
    assert clock.slept[0] == pytest.approx(3)  # the cooldown the 429 asked for, then the backoff
    assert len(clock.slept) == 2 and clock.slept[1] <= 0.1
    assert [t[1] for t in trail] == ["rate_limit_exceeded", "success"]


async def test_a_long_retry_after_is_passed_back_as_the_429() -> None:
    clock = FakeClock()
    loop, _ = build({"gpt": ["a"]}, clock, num_retries=1)
    script = Script(clock, {"a": [RateLimited("slow down", retry_after=60), "x"]})
    trail: list[Try] = []
    with pytest.raises(RateLimited):
        await loop.first_answer("gpt", script, trail, started=clock())
    assert clock.slept == [] and len(script.calls) == 1


async def test_the_request_deadline_ends_the_loop_with_the_attempts_made() -> None:
    clock = FakeClock()
    loop, _ = build({"gpt": ["a"]}, clock, num_retries=5, request_timeout=1.0, allowed_fails=10)
    script = Script(clock, {"a": [failing()]}, latency_s=0.45)
    trail: list[Try] = []
    started = clock()
    with pytest.raises(RequestTimeout) as raised:
        await loop.first_answer("gpt", script, trail, started=started)
    assert clock() < started + 1.0  # it does not sleep a backoff that would end past the deadline
    assert len(trail) == len(script.calls) == 2  # the next backoff would end past it
    assert raised.value.message == (
        "The request did not complete within its 1 s deadline (2 attempt(s) made)."
    )


async def test_each_attempt_gets_its_timeout_capped_by_what_is_left_of_the_deadline() -> None:
    clock = FakeClock()
    loop, _ = build({"gpt": ["a"]}, clock, num_retries=1, timeout=5.0, request_timeout=7.0, allowed_fails=10)
    script = Script(clock, {"a": [UpstreamTimeout("slow"), "ok"]}, latency_s=4.0)
    await loop.first_answer("gpt", script, [], started=clock())
    first, second = (timeout for _, timeout in script.calls)
    assert first == 5.0  # router_settings.timeout
    assert second == pytest.approx(7.0 - 4.0 - clock.slept[0])  # what the deadline leaves


async def test_a_cancelled_attempt_releases_the_deployment_and_records_nothing() -> None:
    clock = FakeClock()
    loop, router = build({"gpt": ["a"]}, clock)

    async def cancelled(deployment: Deployment, timeout: float) -> str:
        raise KeyboardInterrupt

    trail: list[Try] = []
    with pytest.raises(KeyboardInterrupt):
        await loop.first_answer("gpt", cancelled, trail, started=clock())
    assert trail == []
    assert router.health.in_flight("a") == 0
