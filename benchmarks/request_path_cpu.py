"""The gateway's own CPU per request, in one process: no sockets, no upstream, no writer.

    python benchmarks/request_path_cpu.py [--requests 20000] [--stream] [--asgi] [--no-gateway]

The app ``llmgate serve`` would run (``run.py``'s config), behind the edge protocol
(``server/edge.py``), is fed raw HTTP requests on 64 connections whose transports only count
what is written. The upstream's answer is canned at the provider's HTTP call
(``PooledClient._read`` / ``_open``), and the hand-off of each record to the writer process is
skipped. What is left is what llmgate adds to a passthrough: parsing and checking the request,
authentication, routing, the retry loop, the answer's head, and uvicorn's protocol around them.

``--asgi`` sends every request through the ASGI application instead of the edge's direct path
(``server/direct.py``). ``--no-gateway`` answers at once instead of calling ``Gateway.handle``, which
leaves only the server's share.

Why it exists: with no system calls and nothing else running, it moves by about ±1 µs between runs.
Throughput at c=64 drifts by ±10% from run to run here.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import uvloop
import yaml
from multidict import CIMultiDict
from run import CHAT, KEY, gateway_config, sse_body
from uvicorn.config import Config
from uvicorn.server import ServerState

from llmgate.config import load_config
from llmgate.config.hardening import HttpSettings
from llmgate.gateway import Reply
from llmgate.providers import pooled_http
from llmgate.server.app import Settings, create_app, tune_process
from llmgate.server.edge import edge_protocol

CONNECTIONS = 64
ANSWER = orjson.dumps(CHAT)
EVENTS = sse_body().encode()


async def canned_read(*args: Any, **kwargs: Any) -> tuple[int, bytes, CIMultiDict[str]]:
    return 200, ANSWER, CIMultiDict({"Content-Type": "application/json"})


class CannedContent:
    def __init__(self) -> None:
        self.left = [EVENTS]

    async def readany(self) -> bytes:
        return self.left.pop() if self.left else b""

    def at_eof(self) -> bool:  # the whole answer is one read, as nginx's static one comes
        return not self.left

    def iter_any(self) -> CannedContent:
        return self

    def __aiter__(self) -> CannedContent:
        return self

    async def __anext__(self) -> bytes:
        if not self.left:
            raise StopAsyncIteration
        return self.left.pop()


class CannedResponse:
    status = 200

    def __init__(self) -> None:
        self.headers = CIMultiDict({"Content-Type": "text/event-stream"})
        self.content = CannedContent()

    def release(self) -> None:
        pass

    def close(self) -> None:
        pass


async def canned_open(self: Any, deployment: Any, url: str, **kwargs: Any) -> pooled_http.OpenStream:
    response: Any = CannedResponse()
    return pooled_http.OpenStream(response, await response.content.readany(), deployment, kwargs["passed"])


class CountingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.answers = 0
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 4000)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.answers += bytes(data).count(b"HTTP/1.1 200")

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def request(stream: bool) -> bytes:
    body: dict[str, Any] = {
        "model": "bench-stream" if stream else "bench-model",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Write one sentence about the sea."},
        ],
    }
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    raw = orjson.dumps(body)
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:4000\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n\r\n"
    )
    return head.encode() + raw


async def measure(args: argparse.Namespace) -> None:
    pooled_http.PooledClient._read = canned_read  # type: ignore[method-assign,assignment]
    pooled_http.PooledClient._open = canned_open  # type: ignore[method-assign,assignment]
    work = Path(tempfile.mkdtemp())
    config_path = work / "config.yaml"
    config_path.write_text(yaml.safe_dump(gateway_config(1, f"sqlite:///{work / 'bench.db'}")))
    app = create_app(Settings(config_path=str(config_path)), load_config(str(config_path)))
    lifespan_in: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    lifespan_out: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    await lifespan_in.put({"type": "lifespan.startup"})
    lifespan = asyncio.create_task(app({"type": "lifespan"}, lifespan_in.get, lifespan_out.put))
    await lifespan_out.get()
    tune_process()
    gateway: Any = app.state.gateway
    gateway._submit = lambda call: None  # the writer's hand-off: see record_frames.py
    if args.no_gateway:

        async def answer_at_once(*_: Any) -> Reply:
            return Reply(200, ANSWER, {"x-llmgate-request-id": "0" * 32, "x-llmgate-attempts": "1"})

        gateway.handle = answer_at_once
    server = Config(app, access_log=False, log_level="warning")
    connections = []
    for _ in range(CONNECTIONS):
        protocol: Any = edge_protocol(HttpSettings())(server, ServerState(), {})
        transport = CountingTransport()
        protocol.connection_made(transport)
        if args.asgi:
            protocol._direct = None
        connections.append((protocol, transport))
    raw = request(args.stream)

    async def serve(count: int) -> None:
        for _ in range(count // CONNECTIONS):
            for protocol, _ in connections:
                protocol.data_received(raw)
            for _ in range(12):  # the tasks' turns of the loop: every answer written
                await asyncio.sleep(0)

    await serve(CONNECTIONS * 100)  # warm-up
    before = time.process_time()
    await serve(args.requests)
    used = time.process_time() - before
    answered = sum(transport.answers for _, transport in connections)
    expected = (args.requests // CONNECTIONS + 100) * CONNECTIONS
    assert answered == expected, f"{answered} answers for {expected} requests"
    path = "through ASGI" if args.asgi else "direct"
    what = "server only" if args.no_gateway else "server and gateway"
    kind = "streamed" if args.stream else "plain"
    print(f"{kind}, {path}, {what}: {used / args.requests * 1e6:.1f} µs of CPU a request")
    await lifespan_in.put({"type": "lifespan.shutdown"})
    await lifespan


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--asgi", action="store_true", help="through the ASGI app, not the direct path")
    parser.add_argument("--no-gateway", action="store_true", help="answer without Gateway.handle")
    uvloop.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
