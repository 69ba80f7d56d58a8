"""Sending a streamed answer to an ASGI client, and stopping it when the client goes away.

What a raw-ASGI route does with the gateway's ``StreamReply``: send the headers, then each chunk
as the gateway yields it, then the end of the body. uvicorn's ``send()`` drops bytes silently once
the client is gone, so a watcher waits for the disconnect (as Starlette's ``StreamingResponse``
does) and expires a timeout around the relay, which cancels it at its next await: the gateway then
closes the upstream and records the call as 499 ``client_closed``. The watcher is a task, so it
is started only for a stream still running after ``WATCH_AFTER_S``: most short streams end before
that and never pay for one.
"""

from __future__ import annotations

import asyncio

from llmgate.gateway import StreamReply
from llmgate.server.http import Receive, Send, close_stream, start_stream

__all__ = ["WATCH_AFTER_S", "send_stream"]

#: a stream still running this long gets a task watching for its client's disconnect
WATCH_AFTER_S = 0.05


async def send_stream(result: StreamReply, receive: Receive, send: Send) -> None:
    chunks = result.chunks
    relay = asyncio.timeout(None)
    watchers: list[asyncio.Task[None]] = []

    def watch() -> None:
        watchers.append(asyncio.create_task(_cancel_on_disconnect(receive, relay)))

    started = False
    try:
        await start_stream(send, result.status, result.content_type, result.headers)
        async with relay:
            timer = asyncio.get_running_loop().call_later(WATCH_AFTER_S, watch)
            try:
                started = True
                async for chunk in chunks:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            finally:
                timer.cancel()
                for watcher in watchers:
                    watcher.cancel()
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except OSError:
        pass  # the client went away; the gateway records the call when the generator closes
    except TimeoutError:
        if not relay.expired():
            raise  # not the watcher's doing
    finally:
        await close_stream(chunks, started=started)  # started or not, the call is recorded


async def _cancel_on_disconnect(receive: Receive, relay: asyncio.Timeout) -> None:
    """Expire ``relay`` (cancelling the stream at its next await) once the client disconnects."""
    while (await receive())["type"] != "http.disconnect":
        pass  # the body was read already: nothing else is expected
    relay.reschedule(asyncio.get_running_loop().time())
