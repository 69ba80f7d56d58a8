"""Upstream timeouts kept by the sweep (``providers/upstream_deadlines.py``), not aiohttp's timers.

Real HTTP on loopback: an upstream that hangs before its head, after its head, or in the middle
of a stream, and one that is slow but steady. The client sweeps from 0.2 s (in production from
aiohttp's 5-s ceiling threshold) every 0.05 s, so a deadline fires within 0.05 s of its time
(the bounds below leave half a second for a busy machine).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp import web

from llmgate.config import build_deployments, parse_config
from llmgate.config.deployment import Deployment
from llmgate.errors import StreamInterrupted, UpstreamTimeout
from llmgate.protocol.endpoints import Endpoint
from llmgate.providers.openai_compat import OpenAICompatProvider
from support.upstream import serve_chat

LIMIT_S = 0.4
SWEEP_S = 0.05
HANG_S = 1.5  # longer than any deadline here; short enough for the test server to stop soon
BODY = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
ANSWER = b'{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}]}'


def chunk(text: str) -> bytes:
    return b'data: {"choices":[{"index":0,"delta":{"content":"' + text.encode() + b'"}}]}\n\n'


def deployment(base: str) -> Deployment:
    config = {"model_list": [{"model_name": "m", "litellm_params": {"model": "openai/m", "api_base": base}}]}
    (found,) = build_deployments(parse_config(config))
    return found


def swept_client() -> OpenAICompatProvider:
    return OpenAICompatProvider(pool_size=4, swept_from_s=0.2, sweep_every_s=SWEEP_S)


async def hang_before_head(request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(HANG_S)
    return web.Response(body=ANSWER, content_type="application/json")


async def hang_after_head(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await asyncio.sleep(HANG_S)
    await response.write(chunk("late"))
    return response


async def hang_mid_stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for word in ("one", "two"):
        await response.write(chunk(word))
        await asyncio.sleep(0.02)
    await asyncio.sleep(HANG_S)
    return response


async def slow_but_steady(request: web.Request) -> web.StreamResponse:
    """Ten chunks, each 0.1 s after the last: 1 s in all, never LIMIT_S without a byte."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for index in range(10):
        await asyncio.sleep(0.1)
        await response.write(chunk(str(index)))
    await response.write(b"data: [DONE]\n\n")
    return response


def assert_nothing_left(client: OpenAICompatProvider) -> None:
    assert client._deadlines.waiting == {} and client._deadlines.expired == set()
    assert (task := asyncio.current_task()) is not None and task.cancelling() == 0


async def test_a_plain_call_whose_upstream_never_answers_times_out_at_its_deadline() -> None:
    with serve_chat(hang_before_head) as base:
        client = swept_client()
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout, match="did not answer in time"):
            await client.send(deployment(base), Endpoint.CHAT, BODY, timeout=LIMIT_S)
        took = time.monotonic() - started
        assert_nothing_left(client)
        await client.aclose()
    assert LIMIT_S <= took < LIMIT_S + 0.5


@pytest.mark.parametrize("upstream", [hang_before_head, hang_after_head], ids=["before-head", "after-head"])
async def test_a_stream_that_sends_nothing_times_out_before_the_client_gets_a_byte(upstream: object) -> None:
    with serve_chat(upstream) as base:  # type: ignore[arg-type]
        client = swept_client()
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout):
            await client.open_stream(
                deployment(base), Endpoint.CHAT, {**BODY, "stream": True}, timeout=LIMIT_S
            )
        took = time.monotonic() - started
        assert_nothing_left(client)
        await client.aclose()
    assert LIMIT_S <= took < LIMIT_S + 0.5


async def test_a_stream_that_stalls_midway_breaks_a_deadline_after_its_last_chunk() -> None:
    with serve_chat(hang_mid_stream) as base:
        client = swept_client()
        stream = await client.open_stream(
            deployment(base), Endpoint.CHAT, {**BODY, "stream": True}, timeout=LIMIT_S
        )
        got = b""
        with pytest.raises(StreamInterrupted, match="stream broke: SocketTimeoutError") as broke:
            async for piece in stream:
                got += piece
                last = time.monotonic()
        waited = time.monotonic() - last
        assert b"one" in got and b"two" in got
        assert broke.value.deployment == deployment(base).id
        assert_nothing_left(client)
        await client.aclose()
    assert LIMIT_S <= waited < LIMIT_S + 0.5


async def test_a_slow_but_steady_stream_outlives_its_read_timeout() -> None:
    """The deadline is each read's, from the last chunk, not the whole stream's."""
    with serve_chat(slow_but_steady) as base:
        client = swept_client()
        started = time.monotonic()
        stream = await client.open_stream(
            deployment(base), Endpoint.CHAT, {**BODY, "stream": True}, timeout=LIMIT_S
        )
        got = b"".join([piece async for piece in stream])
        assert time.monotonic() - started > 2 * LIMIT_S
        assert got.count(b"data: ") == 11 and got.endswith(b"data: [DONE]\n\n")
        assert_nothing_left(client)
        await client.aclose()


async def test_a_call_cancelled_from_elsewhere_stays_cancelled() -> None:
    """The client went away: that cancellation is not turned into an upstream timeout."""
    with serve_chat(hang_before_head) as base:
        client = swept_client()
        call = asyncio.create_task(client.send(deployment(base), Endpoint.CHAT, BODY, timeout=LIMIT_S))
        await asyncio.sleep(0.1)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert client._deadlines.waiting == {} and client._deadlines.expired == set()
        await client.aclose()


async def test_an_answer_in_time_leaves_no_deadline_behind_and_the_sweep_stops() -> None:
    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(body=ANSWER, content_type="application/json")

    with serve_chat(answer) as base:
        client = swept_client()
        for _ in range(3):
            answered = await client.send(deployment(base), Endpoint.CHAT, BODY, timeout=LIMIT_S)
            assert answered.status == 200
        assert_nothing_left(client)
        for _ in range(100):  # nothing waits: the sweep ends at its next turn (an idle gateway sleeps)
            if client._deadlines._sweeping is None:
                break
            await asyncio.sleep(SWEEP_S)
        assert client._deadlines._sweeping is None
        await client.aclose()


async def test_shorter_timeouts_keep_aiohttps_timers() -> None:
    """Under the threshold (5 s in production) aiohttp's timers keep the timeout, to the millisecond."""
    with serve_chat(hang_before_head) as base:
        client = OpenAICompatProvider(pool_size=4)
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout):
            await client.send(deployment(base), Endpoint.CHAT, BODY, timeout=0.25)
        assert 0.25 <= time.monotonic() - started < 0.6
        assert client._deadlines.waiting == {} and client._deadlines._sweeping is None
        await client.aclose()
    whole, each_read = client._timers(0.25, whole=True), client._timers(0.25, whole=False)
    assert (whole.total, whole.sock_read) == (0.25, None)
    assert (each_read.total, each_read.sock_connect, each_read.sock_read) == (None, 0.25, 0.25)
