"""Which requests the edge protocol serves directly (``server/direct.py``) and which it hands to
the ASGI application, fed byte for byte through ``EdgeProtocol`` with a transport that keeps
what is written."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from llmgate.config.hardening import HttpSettings
from llmgate.protocol.endpoints import Endpoint
from llmgate.server.direct import DirectProxy
from llmgate.server.edge import edge_protocol


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 4000)}.get(name, default)

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class App:
    """An ASGI app that answers 204, with a ``direct`` server that answers 200 (and notes both)."""

    def __init__(self) -> None:
        self.asgi: list[tuple[str, str]] = []
        self.direct = self.Direct()

    class Direct:
        def __init__(self) -> None:
            self.served: list[tuple[Endpoint, str]] = []

        def takes(self, cycle: Any) -> Endpoint | None:
            return DirectProxy.takes(cycle)

        async def serve(self, taken: Endpoint, cycle: Any, edge: Any) -> None:
            self.served.append((taken, cycle.scope["path"]))
            await cycle.send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]}
            )
            await cycle.send({"type": "http.response.body", "body": b""})

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.asgi.append((scope["method"], scope["path"]))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def request(method: str, path: str, *headers: str, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "host: x", f"content-length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def served(data: bytes, *, access_log: bool = False) -> tuple[App, Transport]:
    app = App()
    config = Config(app, access_log=access_log, log_level="warning")  # type: ignore[arg-type]
    protocol = edge_protocol(HttpSettings())(config, ServerState(), {})
    transport = Transport()
    protocol.connection_made(transport)
    protocol.data_received(data)
    for _ in range(50):
        await asyncio.sleep(0)
    protocol.connection_lost(None)
    return app, transport


async def test_the_proxy_routes_posts_go_direct_and_everything_else_to_the_app() -> None:
    body = b'{"model": "m"}'
    data = b"".join(
        [
            request("POST", "/v1/chat/completions", body=body),
            request("POST", "/embeddings", body=body),
            request("GET", "/v1/chat/completions"),  # 405 is the app's to say
            request("GET", "/v1/models"),
            request("POST", "/admin/keys", body=body),
            request("POST", "/v1/chat/completions", "expect: 100-continue", body=body),
            request("POST", "/v1/responses?x=1", body=body),
        ]
    )
    app, transport = await served(data)
    assert app.direct.served == [
        (Endpoint.CHAT, "/v1/chat/completions"),
        (Endpoint.EMBEDDINGS, "/embeddings"),
        (Endpoint.RESPONSES, "/v1/responses"),
    ]
    assert app.asgi == [
        ("GET", "/v1/chat/completions"),
        ("GET", "/v1/models"),
        ("POST", "/admin/keys"),
        ("POST", "/v1/chat/completions"),
    ]
    assert transport.written.count(b"HTTP/1.1 200 OK") == 3  # in the order they came
    assert transport.written.count(b"HTTP/1.1 204 No Content") == 4


async def test_with_the_access_log_on_every_request_goes_to_the_app() -> None:
    app, _ = await served(request("POST", "/v1/chat/completions", body=b"{}"), access_log=True)
    assert app.direct.served == [] and app.asgi == [("POST", "/v1/chat/completions")]
