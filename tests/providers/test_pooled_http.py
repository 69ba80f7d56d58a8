"""What the gateway's HTTP providers make of an upstream's answer (``providers/pooled_http.py``)."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from aiohttp import web

from llmgate.config import build_deployments, parse_config
from llmgate.config.deployment import Deployment
from llmgate.errors import UpstreamError
from llmgate.protocol.endpoints import Endpoint
from llmgate.providers.openai_compat import OpenAICompatProvider
from llmgate.providers.pooled_http import PooledClient, json_answer
from support.upstream import serve_chat

SECRET = "sk-upstream-0123456789abcdef"


def deployment_at(base: str, **params: str) -> Deployment:
    """The one deployment of model ``m``, an OpenAI-compatible upstream at ``base``."""
    litellm_params = {"model": "openai/m", "api_base": base, **params}
    (found,) = build_deployments(
        parse_config({"model_list": [{"model_name": "m", "litellm_params": litellm_params}]})
    )
    return found


DEPLOYMENT = deployment_at("http://127.0.0.1:9/v1", api_key=SECRET)


def answer(body: object) -> bytes:
    return json_answer(200, orjson.dumps(body), {}, DEPLOYMENT, ()).body


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (
            {"error": {"message": f"Quota exceeded for {SECRET}", "type": "insufficient_quota"}},
            "Quota exceeded for",
        ),
        ({"error": "model not loaded"}, "model not loaded"),
        ({"object": "error", "message": "busy", "error": {"code": 503}}, "busy"),
        ({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "Overloaded"),
    ],
)
def test_an_error_in_place_of_an_answer_is_the_upstreams_failure(body: dict[str, object], said: str) -> None:
    """A 200 that holds only an error (some proxies answer a quota or a load error so): retried
    and failed over like a 5xx, never relayed as a success the SDK cannot read."""
    with pytest.raises(UpstreamError) as caught:
        answer(body)
    assert said in caught.value.message and SECRET not in caught.value.message
    assert caught.value.message.startswith(
        f"upstream {DEPLOYMENT.id} answered 200 with an error instead of an answer"
    )


@pytest.mark.parametrize(
    "body",
    [
        {"id": "c", "object": "chat.completion", "choices": [], "error": None},
        {
            "object": "response",
            "status": "failed",
            "output": [],
            "error": {"code": "server_error", "message": "x"},
        },
        {"object": "list", "data": [], "model": "e"},
        {"results": [{"index": 0, "relevance_score": 0.5}], "error": {"message": "partial"}},
    ],
)
def test_answers_pass_as_they_came(body: dict[str, object]) -> None:
    assert orjson.loads(answer(body)) == body


@pytest.mark.parametrize(
    "body",
    [
        b"<html>502 Bad Gateway</html>",
        b'{"id": "x", "choices": [',  # cut short where the upstream's length said it ended
        b"[]",
        b"",
        b'  {"error": "model not loaded"}\n',
    ],
)
def test_a_body_that_is_not_plainly_an_answer_is_parsed_and_refused(body: bytes) -> None:
    with pytest.raises(UpstreamError):
        json_answer(200, body, {}, DEPLOYMENT, ())


def test_a_pretty_printed_answer_passes_as_it_came() -> None:
    body = orjson.dumps(
        {"id": "c", "choices": [{"message": {"content": 'say "error"'}}]}, option=orjson.OPT_INDENT_2
    )
    assert json_answer(200, b"\n" + body + b"\n", {}, DEPLOYMENT, ()).body == b"\n" + body + b"\n"


def test_a_deployments_url_is_parsed_once() -> None:
    client = PooledClient()
    assert client._target("http://127.0.0.1:9/v1/chat/completions") is client._target(
        "http://127.0.0.1:9/v1/chat/completions"
    )


EVENTS = [b'data: {"choices":[{"index":0,"delta":{"content":"%d"}}]}\n\n' % i for i in range(3)]


async def whole(request: web.Request) -> web.StreamResponse:
    """The stream in one body with its length: its end comes with the first read."""
    return web.Response(body=b"".join(EVENTS) + b"data: [DONE]\n\n", content_type="text/event-stream")


async def in_pieces(request: web.Request) -> web.StreamResponse:
    """The stream chunked, a write at a time, its end a read of its own."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for event in EVENTS:
        await response.write(event)
        await asyncio.sleep(0.01)
    await response.write(b"data: [DONE]\n\n")
    return response


@pytest.mark.parametrize("upstream", [whole, in_pieces], ids=["whole", "in-pieces"])
async def test_a_stream_read_to_its_end_gives_its_connection_back(upstream: object) -> None:
    """Each stream read to its end, whether its end came with a chunk or alone, hands its connection
    back to the pool at once: three in a row all go over one."""
    peers: set[object] = set()

    async def counted(request: web.Request) -> web.StreamResponse:
        peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        return await upstream(request)  # type: ignore[operator,no-any-return]

    with serve_chat(counted) as base:
        deployment = deployment_at(base)
        client = OpenAICompatProvider(pool_size=4)
        for _ in range(3):
            stream = await client.open_stream(
                deployment, Endpoint.CHAT, {"model": "m", "messages": [], "stream": True}, timeout=5
            )
            got = b"".join([piece async for piece in stream])
            assert got == b"".join(EVENTS) + b"data: [DONE]\n\n"
            assert client._client().connector is not None
            assert len(client._client().connector._acquired) == 0  # type: ignore[attr-defined]
        await client.aclose()
    assert len(peers) == 1
