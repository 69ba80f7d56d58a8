"""A real OpenAI-compatible upstream on loopback, for end-to-end tests.

aiohttp.web in its own thread and event loop. It answers chat completions (plain, streamed
with or without a usage chunk, tool calls), completions, embeddings and models
deterministically, records every request it received, and can be told to misbehave: answer
an error status (with ``Retry-After``), hang, send malformed JSON, omit usage, refuse
connections, or cut a stream after k chunks.

``serve_chat`` serves one chat handler of a test's own (an upstream that misbehaves in a way
``FakeUpstream`` does not) the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

MODEL = "upstream-model-1"


@contextlib.contextmanager
def serve_chat(chat: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Iterator[str]:
    """``chat`` as ``POST /v1/chat/completions`` of an upstream on loopback, in its own thread and
    event loop; yields the upstream's base URL (``.../v1``), stops it on exit."""
    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runner = web.AppRunner(app, access_log=None)

    async def start() -> None:
        await runner.setup()
        await web.SockSite(runner, sock).start()
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()))
    thread.start()
    assert ready.wait(10)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@dataclass
class Fault:
    """One misbehaviour, applied to the next request(s)."""

    status: int | None = None  # answer this HTTP status with an OpenAI-style error body
    body: bytes | None = None  # ... or exactly this body
    content_type: str = "application/json"  # ... of this type
    retry_after: str | None = None
    hang_s: float = 0.0  # sleep before answering
    malformed: bool = False  # 200 with a body that is not JSON
    cut_after: int | None = None  # streams: drop the connection after this many chunks
    error_after: int | None = None  # streams: end with an error event after this many chunks
    no_usage: bool = False


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def text_for(body: dict[str, Any]) -> str:
    messages = body.get("messages") or []
    last = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    content = last.get("content")
    if isinstance(content, list):
        content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return f"Upstream says: {content or body.get('prompt') or 'hello'}"


def usage_for(body: dict[str, Any], text: str) -> dict[str, int]:
    prompt = 7 + sum(len(str(m.get("content", "")).split()) for m in body.get("messages") or [])
    completion = len(text.split())
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


@dataclass
class FakeUpstream:
    host: str = "127.0.0.1"
    port: int = 0
    received: list[Received] = field(default_factory=list)
    faults: deque[Fault] = field(default_factory=deque)
    chunk_delay_s: float = 0.0
    latency_s: float = 0.0
    failure_rate: float = 0.0  # answer 500 at random this often (chaos runs)
    down: bool = False  # answer 503 to everything
    seed: int = 0
    reply: Callable[[dict[str, Any]], str] | None = None  # the answer to a chat body (default: an echo)
    _client: Any = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    # --- control --------------------------------------------------------------------------

    def client(self) -> Any:
        """An ``openai.OpenAI`` client talking to this upstream directly, closed on stop."""
        import openai

        if self._client is None:
            self._client = openai.OpenAI(
                base_url=self.base_url, api_key="sk-upstream-secret-key", max_retries=0
            )
        return self._client

    def fail_next(self, fault: Fault, times: int = 1) -> None:
        for _ in range(times):
            self.faults.append(fault)

    def _fault(self) -> Fault | None:
        if self.faults:
            return self.faults.popleft()
        if self.down:
            return Fault(status=503)
        if self.failure_rate and self._rng.random() < self.failure_rate:
            return Fault(status=500)
        return None

    # --- handlers -------------------------------------------------------------------------

    async def _record(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        body = orjson.loads(raw) if raw else {}
        self.received.append(Received(request.path, dict(request.headers), body))
        return body

    async def _apply(self, fault: Fault | None) -> web.StreamResponse | None:
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if fault is None:
            return None
        if fault.hang_s:
            await asyncio.sleep(fault.hang_s)
        if fault.status is not None:
            body = fault.body or orjson.dumps(
                {
                    "error": {
                        "message": f"fake upstream error {fault.status}",
                        "type": "server_error",
                        "param": None,
                        "code": None,
                    }
                }
            )
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return web.Response(
                status=fault.status, body=body, content_type=fault.content_type, headers=headers
            )
        if fault.malformed:
            return web.Response(status=200, body=b'{"id": "x", "choices": [', content_type="application/json")
        return None

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        fault = self._fault()
        early = await self._apply(fault)
        if early is not None:
            return early
        text = self.reply(body) if self.reply is not None else text_for(body)
        tools = body.get("tools")
        use_tool = bool(tools) and body.get("tool_choice") != "none"
        created = int(time.time())
        if body.get("stream"):
            return await self._stream_chat(request, body, text, use_tool, created, fault)
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None if use_tool else text,
            "refusal": None,
        }
        if use_tool:
            message["tool_calls"] = [
                {
                    "id": "call_fake_1",
                    "type": "function",
                    "function": {"name": tools[0]["function"]["name"], "arguments": '{"city": "Paris"}'},
                }
            ]
        n = int(body.get("n") or 1)
        payload: dict[str, Any] = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": created,
            "model": MODEL,
            "choices": [
                {
                    "index": i,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": "tool_calls" if use_tool else "stop",
                }
                for i in range(n)
            ],
            "system_fingerprint": "fp_fake",
        }
        if not (fault and fault.no_usage):
            payload["usage"] = usage_for(body, text)
        return web.Response(body=orjson.dumps(payload), content_type="application/json")

    async def _stream_chat(
        self,
        request: web.Request,
        body: dict[str, Any],
        text: str,
        use_tool: bool,
        created: int,
        fault: Fault | None,
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created, "model": MODEL}
        events: list[dict[str, Any]] = [
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
        ]
        words = text.split(" ")
        events += [
            {**base, "choices": [{"index": 0, "delta": {"content": w if i == 0 else " " + w}}]}
            for i, w in enumerate(words)
        ]
        if use_tool:
            call = {
                "index": 0,
                "id": "call_fake_1",
                "type": "function",
                "function": {"name": body["tools"][0]["function"]["name"], "arguments": '{"city": "Paris"}'},
            }
            events.append({**base, "choices": [{"index": 0, "delta": {"tool_calls": [call]}}]})
        events.append(
            {
                **base,
                "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls" if use_tool else "stop"}],
            }
        )
        if (body.get("stream_options") or {}).get("include_usage") and not (fault and fault.no_usage):
            events.append({**base, "choices": [], "usage": usage_for(body, text)})
        for i, event in enumerate(events):
            if fault and fault.cut_after is not None and i >= fault.cut_after:
                assert request.transport is not None
                request.transport.close()
                return response
            if fault and fault.error_after is not None and i >= fault.error_after:
                error = {
                    "message": "The server had an error while processing your request.",
                    "type": "server_error",
                }
                await response.write(b"data: " + orjson.dumps({"error": error}) + b"\n\n")
                await response.write_eof()
                return response
            await response.write(b"data: " + orjson.dumps(event) + b"\n\n")
            if self.chunk_delay_s:
                await asyncio.sleep(self.chunk_delay_s)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        early = await self._apply(self._fault())
        if early is not None:
            return early
        text = f"Upstream completes: {body.get('prompt')}"
        payload = {
            "id": "cmpl-fake",
            "object": "text_completion",
            "created": int(time.time()),
            "model": MODEL,
            "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}],
            "usage": usage_for({"messages": [{"content": body.get("prompt")}]}, text),
        }
        return web.Response(body=orjson.dumps(payload), content_type="application/json")

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        early = await self._apply(self._fault())
        if early is not None:
            return early
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": [float(len(str(x))), 0.5, -0.25, float(i)]}
            for i, x in enumerate(inputs)
        ]
        tokens = sum(len(str(x).split()) for x in inputs)
        payload = {
            "object": "list",
            "data": data,
            "model": MODEL,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return web.Response(body=orjson.dumps(payload), content_type="application/json")

    async def models(self, request: web.Request) -> web.StreamResponse:
        payload = {
            "object": "list",
            "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "fake"}],
        }
        return web.Response(body=orjson.dumps(payload), content_type="application/json")

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeUpstream:
        self._rng = random.Random(self.seed)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/completions", self.completions)
        app.router.add_post("/v1/embeddings", self.embeddings)
        app.router.add_get("/v1/models", self.models)
        sock = socket.socket()
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def run() -> None:
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            site = web.SockSite(self._runner, sock)
            await site.start()
            ready.set()

        def target() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(run())
            self._loop.run_forever()

        self._thread = threading.Thread(target=target, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()

        async def shutdown() -> None:
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
