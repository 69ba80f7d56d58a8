"""Script calls made in the same turn of the event loop go to Redis together, in one pipeline.

At a few thousand requests a second each request's admission and settling are one Lua script
call each (``redis_scripts.py``); made one by one, redis-py's work per call (a connection from
the pool, packing, a round trip, parsing) is most of what limits cost the gateway process. Calls
queued in one turn of the loop are sent as one pipeline of ``EVALSHA`` on one connection when the
turn ends, and each caller gets its own reply (or its own error). A script Redis does not have
(a restarted Redis) is loaded and its calls sent again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

log = logging.getLogger("llmgate.auth")


class ScriptBatcher:
    """``call`` queues a script call; the queue is sent when the loop turn ends."""

    def __init__(self, redis: Any) -> None:
        self._redis = redis
        self._queue: list[tuple[str, list[Any], list[Any], asyncio.Future[Any]]] = []
        self._shas: dict[str, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def call(self, script: str, keys: list[Any], args: list[Any]) -> asyncio.Future[Any]:
        """The reply of ``script`` run with ``keys`` and ``args`` (an error it raised, raised)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._queue:
            loop.call_soon(self._flush)
        self._queue.append((script, keys, args, future))
        return future

    def _flush(self) -> None:
        batch, self._queue = self._queue, []
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: list[tuple[str, list[Any], list[Any], asyncio.Future[Any]]]) -> None:
        try:
            replies = await self._pipeline(batch)
            missing = [i for i, reply in enumerate(replies) if _no_script(reply)]
            if missing:  # Redis lost its scripts (a restart): load them, then send those calls again
                for script in {batch[i][0] for i in missing}:
                    await self._redis.script_load(script)
                again = await self._pipeline([batch[i] for i in missing])
                for i, reply in zip(missing, again, strict=True):
                    replies[i] = reply
        except Exception as exc:  # the connection: every call of the batch fails alike
            for *_, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (*_, future), reply in zip(batch, replies, strict=True):
            if future.done():  # its caller was cancelled
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _pipeline(
        self, batch: list[tuple[str, list[Any], list[Any], asyncio.Future[Any]]]
    ) -> list[Any]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for script, keys, args, _ in batch:
                pipe.execute_command("EVALSHA", self._sha(script), len(keys), *keys, *args)
            return list(await pipe.execute(raise_on_error=False))

    def _sha(self, script: str) -> str:
        sha = self._shas.get(script)
        if sha is None:
            sha = self._shas[script] = hashlib.sha1(script.encode()).hexdigest()  # Redis' script id
        return sha

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _no_script(reply: Any) -> bool:
    """redis-py's ``NoScriptError`` (by name: redis is imported only where limits use it)."""
    return isinstance(reply, Exception) and type(reply).__name__ == "NoScriptError"
