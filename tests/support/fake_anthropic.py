"""A fake Anthropic Messages API on loopback, for testing the litellm adapter and ``/v1/messages``.

``POST /v1/messages`` answers like Anthropic does, non-streaming (one ``message`` object) and
streaming (Anthropic's SSE events: ``message_start``, ``content_block_start``,
``content_block_delta``, ``content_block_stop``, ``message_delta`` with usage,
``message_stop``), with text or ``tool_use`` content. Failures are switched on per test
(``failure``): Anthropic's error bodies with the right status and headers, a hang for
timeouts, or a stream cut after ``cut_stream_after`` events. Every request is kept in
``received`` so tests can check what litellm actually sent. ``POST /v1/messages/count_tokens``
answers ``counted_tokens``; the usage carries ``cache_creation_input_tokens`` and
``cache_read_input_tokens`` as set.

Also ``POST /v1/embeddings`` in OpenAI's shape, for providers whose embeddings API is OpenAI's
(Mistral and others): one server, so the tests start one fixture.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from aiohttp import web

Failure = Literal[
    "rate_limit",
    "server_error",
    "overloaded",
    "bad_request",
    "prompt_too_long",
    "authentication",
    "permission",
    "not_found",
    "echo_key",
    "hang",
]

#: status, Anthropic error type, message, extra headers
_FAILURES: dict[str, tuple[int, str, str, dict[str, str]]] = {
    "rate_limit": (
        429,
        "rate_limit_error",
        "Number of request tokens has exceeded your per-minute rate limit",
        {"retry-after": "7"},
    ),
    "server_error": (500, "api_error", "Internal server error", {}),
    "overloaded": (529, "overloaded_error", "Overloaded", {}),
    "bad_request": (400, "invalid_request_error", "messages.1.content: Field required", {}),
    "prompt_too_long": (
        400,
        "invalid_request_error",
        "prompt is too long: 250123 tokens > 200000 maximum",
        {},
    ),
    "authentication": (401, "authentication_error", "invalid x-api-key", {}),
    "permission": (403, "permission_error", "Your API key does not have permission to use this model", {}),
    "not_found": (404, "not_found_error", "model: claude-nonexistent", {}),
    # a careless upstream that repeats the key it was sent ({key} is filled in)
    "echo_key": (401, "authentication_error", "this key was rejected: {key}", {}),
}


@dataclass(slots=True)
class Received:
    """One request as the fake saw it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeAnthropic:
    """The fake server. Set the public attributes between calls to change what it answers."""

    #: the text answer, as the stream's deltas (joined for non-streaming answers)
    text_chunks: list[str] = field(default_factory=lambda: ["Hello", ", ", "world", "!"])
    #: when set, the answer is this tool call (``{"id", "name", "input"}``) after the text
    tool_use: dict[str, Any] | None = None
    input_tokens: int = 12
    output_tokens: int = 5
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    #: what ``POST /v1/messages/count_tokens`` answers
    counted_tokens: int = 42
    failure: Failure | None = None
    #: for streams: close the connection abruptly after this many SSE events
    cut_stream_after: int | None = None
    #: for streams: after this many SSE events, wait for ``resume`` before sending the rest
    pause_after: int | None = None
    resume: asyncio.Event = field(default_factory=asyncio.Event)
    #: streams whose client went away before the last event
    abandoned_streams: int = 0
    received: list[Received] = field(default_factory=list)
    base_url: str = ""
    _runner: web.AppRunner | None = None
    _closing: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
        app.router.add_post("/v1/embeddings", self._embeddings)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self.base_url

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- handlers ---------------------------------------------------------------------------

    async def _record(self, request: web.Request) -> dict[str, Any]:
        body: dict[str, Any] = orjson.loads(await request.read())
        self.received.append(Received(request.path, {k.lower(): v for k, v in request.headers.items()}, body))
        return body

    async def _failure_response(self, request: web.Request) -> web.StreamResponse | None:
        failure = self.failure
        if failure is None:
            return None
        if failure == "hang":
            # Answer nothing until the test is over (the client gives up first).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), timeout=30)
            return web.Response(status=503)
        status, error_type, message, headers = _FAILURES[failure]
        message = message.replace("{key}", request.headers.get("x-api-key", ""))
        body = {"type": "error", "error": {"type": error_type, "message": message}}
        return web.Response(
            status=status, body=orjson.dumps(body), headers=headers, content_type="application/json"
        )

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        failed = await self._failure_response(request)
        if failed is not None:
            return failed
        model = str(body.get("model", ""))
        if body.get("stream"):
            return await self._stream(request, model)
        content: list[dict[str, Any]] = [{"type": "text", "text": "".join(self.text_chunks)}]
        if self.tool_use is not None:
            content.append({"type": "tool_use", **self.tool_use})
        message = {
            "id": "msg_01FakeFakeFake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": "tool_use" if self.tool_use is not None else "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "cache_creation_input_tokens": self.cache_creation_input_tokens,
                "cache_read_input_tokens": self.cache_read_input_tokens,
            },
        }
        return web.Response(body=orjson.dumps(message), content_type="application/json")

    async def _count_tokens(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        failed = await self._failure_response(request)
        if failed is not None:
            return failed
        return web.json_response({"input_tokens": self.counted_tokens})

    def _events(self, model: str) -> list[tuple[str, dict[str, Any]]]:
        events: list[tuple[str, dict[str, Any]]] = [
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": "msg_01FakeStream",
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {
                            "input_tokens": self.input_tokens,
                            "output_tokens": 1,
                            "cache_creation_input_tokens": self.cache_creation_input_tokens,
                            "cache_read_input_tokens": self.cache_read_input_tokens,
                        },
                    },
                },
            ),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            ("ping", {"type": "ping"}),
        ]
        for text in self.text_chunks:
            events.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": text},
                    },
                )
            )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
        if self.tool_use is not None:
            arguments = orjson.dumps(self.tool_use["input"]).decode()
            half = len(arguments) // 2
            start = {
                "type": "tool_use",
                "id": self.tool_use["id"],
                "name": self.tool_use["name"],
                "input": {},
            }
            events.append(
                ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": start})
            )
            for part in (arguments[:half], arguments[half:]):
                delta = {"type": "input_json_delta", "partial_json": part}
                events.append(
                    ("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": delta})
                )
            events.append(("content_block_stop", {"type": "content_block_stop", "index": 1}))
        stop_reason = "tool_use" if self.tool_use is not None else "end_turn"
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": self.output_tokens},
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))
        return events

    async def _stream(self, request: web.Request, model: str) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        try:
            for sent, (name, data) in enumerate(self._events(model)):
                if self.cut_stream_after is not None and sent >= self.cut_stream_after:
                    # Drop the connection without ending the chunked body, like a network failure.
                    assert request.transport is not None
                    request.transport.close()
                    return response
                if self.pause_after is not None and sent == self.pause_after:
                    await asyncio.wait_for(self.resume.wait(), timeout=10)
                await response.write(b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n")
            await response.write_eof()
        except ConnectionError:  # aiohttp's ClientConnectionResetError included
            self.abandoned_streams += 1
        return response

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        failed = await self._failure_response(request)
        if failed is not None:
            return failed
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": [0.25 * (i + 1), -0.5, 0.125]}
            for i in range(len(inputs))
        ]
        answer = {
            "id": "embd-fake",
            "object": "list",
            "model": body.get("model", ""),
            "data": data,
            "usage": {
                "prompt_tokens": 3 * len(inputs),
                "total_tokens": 3 * len(inputs),
                "completion_tokens": 0,
            },
        }
        return web.Response(body=orjson.dumps(answer), content_type="application/json")
