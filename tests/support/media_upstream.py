"""A loopback upstream for OpenAI's images, audio, moderation and rerank endpoints, and Cohere's rerank.

aiohttp.web in its own thread and event loop, like ``support.upstream.FakeUpstream``. Every request
is kept as it arrived (``Arrival``: path, headers, the raw body bytes, and for a multipart body its
fields and files as aiohttp parsed them), so tests assert what the gateway forwarded: the client's
boundary intact, the fields, the file bytes. Answers are fixed and in each API's shape:

- ``/v1/images/generations``, ``/v1/images/edits``: one image (``b64_json``) per ``n``, with
  gpt-image-style ``usage`` tokens when the model name starts with ``gpt-image``;
- ``/v1/audio/speech``: ``SPEECH`` as ``audio/mpeg``;
- ``/v1/audio/transcriptions``, ``/v1/audio/translations``: ``TRANSCRIPT`` in the
  ``response_format`` asked for (``json``: with ``usage`` of type ``duration``);
- ``/v1/moderations``: one result per input, flagged when the input says "kill";
- ``/v1/rerank`` and ``/v2/rerank`` (LiteLLM's proxy, Cohere's v1 and v2 APIs): documents in reverse order, with
  Cohere's ``meta.billed_units.search_units``.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import orjson
from aiohttp import web

SPEECH = b"ID3\x03fake-mpeg-audio-bytes" * 8
TRANSCRIPT = "the quick brown fox"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


@dataclass
class Arrival:
    path: str
    headers: dict[str, str]
    raw: bytes
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)  # name: (filename, type, bytes)

    def json(self) -> Any:
        return orjson.loads(self.raw)


class MediaUpstream:
    def __init__(self) -> None:
        self.arrivals: list[Arrival] = []
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _arrive(self, request: web.Request) -> Arrival:
        raw = await request.read()
        arrival = Arrival(request.path, dict(request.headers), raw)
        if request.content_type == "multipart/form-data":  # parsed by the stdlib, not by llmgate's parser
            head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
            for part in BytesParser(policy=HTTP).parsebytes(head + raw).iter_parts():
                name = str(part.get_param("name", header="content-disposition"))
                data = part.get_payload(decode=True)
                assert isinstance(data, bytes)
                if part.get_filename() is not None:
                    arrival.files[name] = (str(part.get_filename()), part.get_content_type(), data)
                else:
                    arrival.fields[name] = data.decode()
        self.arrivals.append(arrival)
        return arrival

    async def images(self, request: web.Request) -> web.StreamResponse:
        arrival = await self._arrive(request)
        body = arrival.fields or arrival.json()
        n = int(body.get("n") or 1)
        payload: dict[str, Any] = {
            "created": 1700000000,
            "data": [{"b64_json": base64.b64encode(PNG).decode()} for _ in range(n)],
        }
        if str(body.get("model", "")).startswith("gpt-image"):
            payload["usage"] = {"input_tokens": 50, "output_tokens": 4160, "total_tokens": 4210}
        return web.json_response(payload)

    async def speech(self, request: web.Request) -> web.StreamResponse:
        await self._arrive(request)
        return web.Response(body=SPEECH, content_type="audio/mpeg")

    async def transcript(self, request: web.Request) -> web.StreamResponse:
        arrival = await self._arrive(request)
        fmt = arrival.fields.get("response_format", "json")
        if fmt == "text":
            return web.Response(text=TRANSCRIPT, content_type="text/plain")
        return web.json_response({"text": TRANSCRIPT, "usage": {"type": "duration", "seconds": 2}})

    async def moderations(self, request: web.Request) -> web.StreamResponse:
        body = (await self._arrive(request)).json()
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        results = [
            {"flagged": "kill" in text, "categories": {"violence": "kill" in text}, "category_scores": {}}
            for text in inputs
        ]
        return web.json_response({"id": "modr-1", "model": body.get("model"), "results": results})

    async def rerank(self, request: web.Request) -> web.StreamResponse:
        body = (await self._arrive(request)).json()
        count = len(body["documents"])
        results = [
            {"index": i, "relevance_score": round(0.9 - 0.1 * (count - 1 - i), 3)} for i in range(count)
        ]
        results.reverse()
        top_n = body.get("top_n")
        payload = {
            "id": "rerank-1",
            "results": results[:top_n] if top_n else results,
            "meta": {"api_version": {"version": "1"}, "billed_units": {"search_units": 1}},
        }
        return web.json_response(payload)

    def start(self) -> MediaUpstream:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/images/generations", self.images)
        app.router.add_post("/v1/images/edits", self.images)
        app.router.add_post("/v1/audio/speech", self.speech)
        app.router.add_post("/v1/audio/transcriptions", self.transcript)
        app.router.add_post("/v1/audio/translations", self.transcript)
        app.router.add_post("/v1/moderations", self.moderations)
        app.router.add_post("/v1/rerank", self.rerank)
        app.router.add_post("/v2/rerank", self.rerank)  # Cohere's v2 API, which litellm calls
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
