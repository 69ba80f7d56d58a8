"""The Python floor: a featureless OpenAI passthrough in a few lines (uvicorn + one pooled
aiohttp client). Same stack as llmgate's hot path, none of its features.

    python benchmarks/bare_passthrough.py UPSTREAM_BASE PORT
"""

from __future__ import annotations

import sys
from typing import Any

import aiohttp
import uvicorn

UPSTREAM = sys.argv[1].rstrip("/")
PORT = int(sys.argv[2])
session: aiohttp.ClientSession | None = None


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global session
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512))
                await send({"type": "lifespan.startup.complete"})
            else:
                assert session is not None
                await session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["path"] == "/health":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    assert session is not None
    async with session.post(
        UPSTREAM + scope["path"], data=body, headers={"Content-Type": "application/json"}
    ) as response:
        headers = [(b"content-type", response.headers.get("Content-Type", "application/json").encode())]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        async for chunk in response.content.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=PORT,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        backlog=4096,
    )
