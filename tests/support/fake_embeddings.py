"""An OpenAI-shaped ``POST /v1/embeddings`` upstream on loopback that is particular about ``encoding_format``.

``mode`` says what it does with the parameter: ``"refuse"`` answers 400 when it is present (as
Gemini does through litellm, and other providers that lack it), ``"honour"`` answers base64 strings
when asked (as OpenAI does), ``"ignore"`` answers floats whatever was asked (as most
OpenAI-compatible servers do). Each input gets ``VECTOR`` (64 floats, exact in float32, so a
decoded base64 vector equals it) with its index added to the first component. Every request body
is kept in ``received``.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import struct
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from aiohttp import web

#: 64 components, each exact in float32
VECTOR = [(i - 32) / 64 for i in range(64)]


def vector_for(index: int) -> list[float]:
    """The floats the fake answers for input ``index``."""
    return [VECTOR[0] + index, *VECTOR[1:]]


@dataclass
class FakeEmbeddings:
    mode: Literal["refuse", "honour", "ignore"] = "refuse"
    received: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        self.received.append(body)
        if self.mode == "refuse" and "encoding_format" in body:
            error = {
                "error": {
                    "message": 'Invalid JSON payload received. Unknown name "encoding_format": '
                    "Cannot find field.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            }
            return web.Response(status=400, body=orjson.dumps(error), content_type="application/json")
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        as_base64 = self.mode == "honour" and body.get("encoding_format") == "base64"
        data = []
        for i in range(len(inputs)):
            vector: Any = vector_for(i)
            if as_base64:
                vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": i, "embedding": vector})
        answer = {
            "object": "list",
            "data": data,
            "model": body.get("model", ""),
            "usage": {"prompt_tokens": 5 * len(inputs), "total_tokens": 5 * len(inputs)},
        }
        return web.Response(body=orjson.dumps(answer), content_type="application/json")

    def start(self) -> FakeEmbeddings:
        app = web.Application()
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/embeddings", self._embeddings)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(app, access_log=None)
        ready = threading.Event()

        async def run() -> None:
            await self._runner.setup()
            await web.SockSite(self._runner, sock).start()
            ready.set()

        self._thread = threading.Thread(
            target=lambda: (self._loop.run_until_complete(run()), self._loop.run_forever()), daemon=True
        )
        self._thread.start()
        assert ready.wait(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
