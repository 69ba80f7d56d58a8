"""Item 10: an upstream redirect never carries a deployment's credentials to another origin.

Two loopback aiohttp servers: the deployment's ``api_base`` answers every request with a 307 to
the other origin, which records every request it gets and would answer a valid completion.
Through a real ``llmgate serve`` process and the openai SDK, an ``azure/`` deployment (``api-key``
header) and an ``openai/`` one (``Authorization`` and ``extra_headers``), plain and streamed: the
client gets a 502 ``upstream_error`` naming the redirect, and the other origin sees nothing.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from aiohttp import web

from support.configs import MASTER_KEY
from support.served import ServedGateway

MESSAGES: Any = [{"role": "user", "content": "hello"}]
AZURE_KEY = "azure-secret-api-key-0123456789"
OPENAI_KEY = "sk-openai-secret-0123456789"
EXTRA = "extra-secret-0123456789"
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "stolen"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


class LoopbackApp:
    """An aiohttp app answering every method and path with ``handler``, in its own thread."""

    def __init__(self, handler: Callable[[web.Request], Any]) -> None:
        self.seen: list[dict[str, str]] = []
        self._handler = handler
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.origin = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(dict(request.headers))
        await request.read()
        response: web.StreamResponse = await self._handler(request)
        return response

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.SockSite(self._runner, self._sock).start())
        self._loop.run_forever()

    def start(self) -> LoopbackApp:
        self._thread.start()
        return self

    def stop(self) -> None:
        async def cleanup() -> None:
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture(scope="module")
def origins() -> Iterator[tuple[LoopbackApp, LoopbackApp]]:
    async def answer(request: web.Request) -> web.Response:
        return web.json_response(COMPLETION)

    other = LoopbackApp(answer).start()

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(other.origin + "/v1/chat/completions")

    upstream = LoopbackApp(redirect).start()
    yield upstream, other
    upstream.stop()
    other.stop()


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, origins: tuple[LoopbackApp, LoopbackApp]
) -> Iterator[ServedGateway]:
    upstream, _ = origins
    config = {
        "model_list": [
            {
                "model_name": "azure-gpt",
                "litellm_params": {
                    "model": "azure/gpt-4o-eu",
                    "api_base": upstream.origin,
                    "api_key": AZURE_KEY,
                    "api_version": "2024-10-21",
                },
            },
            {
                "model_name": "openai-gpt",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": upstream.origin + "/v1",
                    "api_key": OPENAI_KEY,
                    "extra_headers": {"x-extra-secret": EXTRA},
                },
            },
        ],
        "general_settings": {"master_key": MASTER_KEY},
        "router_settings": {"num_retries": 0},
    }
    gateway = ServedGateway(config, tmp_path_factory.mktemp("redirects")).start()
    yield gateway
    gateway.stop()


@pytest.mark.parametrize("model", ["azure-gpt", "openai-gpt"])
@pytest.mark.parametrize("stream", [False, True])
def test_a_redirect_is_not_followed_with_credentials(
    served: ServedGateway, origins: tuple[LoopbackApp, LoopbackApp], model: str, stream: bool
) -> None:
    upstream, other = origins
    asked = len(upstream.seen)
    with (
        openai.OpenAI(base_url=served.url + "/v1", api_key=MASTER_KEY, max_retries=0, timeout=20) as client,
        pytest.raises(openai.InternalServerError) as caught,
    ):
        client.chat.completions.create(model=model, messages=MESSAGES, stream=stream)
    assert caught.value.status_code == 502
    error: dict[str, Any] = caught.value.body  # type: ignore[assignment]
    assert error["type"] == "upstream_error" and "redirect" in error["message"]
    assert other.origin not in error["message"]
    assert len(upstream.seen) > asked  # the deployment was called, and it did redirect
    sent = upstream.seen[-1]
    assert sent.get("api-key") == AZURE_KEY or sent.get("Authorization") == f"Bearer {OPENAI_KEY}"
    assert other.seen == []  # nothing, credentials or not, reached the other origin
