"""A real OpenAI Responses API upstream on loopback, for end-to-end tests.

aiohttp.web in its own thread and event loop. ``POST /v1/responses`` answers plain or streamed
(the typed events, numbered), with a function call when the request has function tools and its
last input item is not a tool's output, and keeps what it made for ``GET``/``DELETE
/v1/responses/{id}`` and ``GET /v1/responses/{id}/input_items``. It records every request it
received and can be told to fail the next call (an HTTP status) or to cut a stream after k events.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from support.upstream import Fault, Received

MODEL = "upstream-responses-1"


def _input_text(body: dict[str, Any]) -> str:
    value = body.get("input")
    if isinstance(value, str):
        return value
    for item in reversed(value or []):
        content = item.get("content")
        if item.get("role") == "user":
            if isinstance(content, str):
                return content
            return " ".join(p.get("text", "") for p in content or [] if isinstance(p, dict))
    return ""


def _usage(text: str, answer: str) -> dict[str, Any]:
    prompt, completion = 10 + len(text.split()), len(answer.split())
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 4},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 2},
        "total_tokens": prompt + completion,
    }


@dataclass
class FakeResponsesUpstream:
    host: str = "127.0.0.1"
    port: int = 0
    received: list[Received] = field(default_factory=list)
    faults: deque[Fault] = field(default_factory=deque)
    kept: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def fail_next(self, fault: Fault, times: int = 1) -> None:
        for _ in range(times):
            self.faults.append(fault)

    def _answer(self, body: dict[str, Any]) -> dict[str, Any]:
        items = body.get("input") if isinstance(body.get("input"), list) else []
        last = items[-1] if items else {}
        tools = [t for t in body.get("tools") or [] if t.get("type") == "function"]
        response_id = "resp_" + os.urandom(12).hex()
        if tools and last.get("type") != "function_call_output":
            output = [
                {
                    "id": "fc_" + os.urandom(6).hex(),
                    "type": "function_call",
                    "status": "completed",
                    "call_id": "call_up_1",
                    "name": tools[0]["name"],
                    "arguments": '{"city": "Paris"}',
                }
            ]
            answer = ""
        else:
            answer = f"Upstream responds: {_input_text(body) or last.get('output', '')}"
            output = [
                {
                    "id": "msg_" + os.urandom(6).hex(),
                    "type": "message",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": answer, "annotations": []}],
                }
            ]
        return {
            "id": response_id,
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed",
            "model": MODEL,
            "output": output,
            "parallel_tool_calls": True,
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "previous_response_id": body.get("previous_response_id"),
            "usage": _usage(_input_text(body), answer),
        }

    async def create(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = orjson.loads(raw)
        self.received.append(Received(request.path, dict(request.headers), body))
        fault = self.faults.popleft() if self.faults else None
        if fault is not None and fault.status is not None:
            error = {
                "error": {
                    "message": f"fake error {fault.status}",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            }
            return web.json_response(error, status=fault.status)
        response = self._answer(body)
        if body.get("store", True):
            self.kept[response["id"]] = {"response": response, "input": body.get("input")}
        if not body.get("stream"):
            return web.Response(body=orjson.dumps(response), content_type="application/json")
        return await self._stream(request, response, fault)

    async def _stream(
        self, request: web.Request, response: dict[str, Any], fault: Fault | None
    ) -> web.StreamResponse:
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await out.prepare(request)
        shell = {**response, "status": "in_progress", "output": [], "usage": None}
        events: list[dict[str, Any]] = [
            {"type": "response.created", "response": shell},
            {"type": "response.in_progress", "response": shell},
        ]
        for index, item in enumerate(response["output"]):
            events.append({"type": "response.output_item.added", "output_index": index, "item": item})
            if item["type"] == "message":
                text = item["content"][0]["text"]
                where = {"item_id": item["id"], "output_index": index, "content_index": 0}
                for i, word in enumerate(text.split(" ")):
                    piece = word if i == 0 else " " + word
                    events.append(
                        {"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []}
                    )
                events.append({"type": "response.output_text.done", **where, "text": text, "logprobs": []})
            events.append({"type": "response.output_item.done", "output_index": index, "item": item})
        events.append({"type": "response.completed", "response": response})
        for seq, event in enumerate(events):
            if fault is not None and fault.cut_after is not None and seq >= fault.cut_after:
                assert request.transport is not None
                request.transport.close()
                return out
            event["sequence_number"] = seq
            await out.write(f"event: {event['type']}\n".encode() + b"data: " + orjson.dumps(event) + b"\n\n")
        await out.write_eof()
        return out

    def _kept(self, request: web.Request) -> dict[str, Any] | None:
        self.received.append(Received(request.path, dict(request.headers), {"method": request.method}))
        return self.kept.get(request.match_info["id"])

    async def retrieve(self, request: web.Request) -> web.StreamResponse:
        kept = self._kept(request)
        if kept is None:
            return web.json_response(
                {"error": {"message": "not found", "type": "invalid_request_error"}}, status=404
            )
        return web.json_response(kept["response"])

    async def delete(self, request: web.Request) -> web.StreamResponse:
        kept = self._kept(request)
        if kept is None:
            return web.json_response(
                {"error": {"message": "not found", "type": "invalid_request_error"}}, status=404
            )
        del self.kept[request.match_info["id"]]
        return web.json_response({"id": request.match_info["id"], "object": "response", "deleted": True})

    async def input_items(self, request: web.Request) -> web.StreamResponse:
        kept = self._kept(request)
        if kept is None:
            return web.json_response(
                {"error": {"message": "not found", "type": "invalid_request_error"}}, status=404
            )
        value = kept["input"]
        items = [
            {
                "id": "msg_in",
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": value}],
            }
        ]
        return web.json_response(
            {"object": "list", "data": items, "first_id": "msg_in", "last_id": "msg_in", "has_more": False}
        )

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeResponsesUpstream:
        app = web.Application()
        app.router.add_post("/v1/responses", self.create)
        app.router.add_get("/v1/responses/{id}", self.retrieve)
        app.router.add_delete("/v1/responses/{id}", self.delete)
        app.router.add_get("/v1/responses/{id}/input_items", self.input_items)
        sock = socket.socket()
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def run() -> None:
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            await web.SockSite(self._runner, sock).start()
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
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
