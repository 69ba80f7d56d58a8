"""The OpenAI-compatible provider's pooled session: one session serves every client."""

from __future__ import annotations

import orjson
from aiohttp import web

from llmgate.config import parse_config
from llmgate.config.deployment import build_deployments
from llmgate.protocol.endpoints import Endpoint
from llmgate.providers.openai_compat import OpenAICompatProvider
from support.upstream import serve_chat

ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "up",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
}


async def test_a_cookie_an_upstream_sets_never_rides_on_another_request() -> None:
    cookies_seen: list[str | None] = []

    async def chat(request: web.Request) -> web.StreamResponse:
        cookies_seen.append(request.headers.get("Cookie"))
        response = web.json_response(ANSWER)
        response.set_cookie("session", "client-a-secret")
        return response

    with serve_chat(chat) as base:
        config = parse_config(
            {
                "model_list": [
                    {
                        "model_name": "m",
                        # a host name: aiohttp keeps no cookie from a bare IP address anyway
                        "litellm_params": {
                            "model": "openai/up",
                            "api_base": base.replace("127.0.0.1", "localhost"),
                            "api_key": "sk-1",
                        },
                    }
                ]
            }
        )
        (deployment,) = build_deployments(config)
        provider = OpenAICompatProvider(pool_size=4)
        try:
            body = {"model": "up", "messages": [{"role": "user", "content": "x"}]}
            for _ in range(2):
                answer = await provider.send(deployment, Endpoint.CHAT, body, timeout=10)
                assert orjson.loads(answer.body)["choices"][0]["message"]["content"] == "hi"
        finally:
            await provider.aclose()
    assert cookies_seen == [None, None]
