"""Replicas sharing new semantic vectors live, over Redis pub/sub.

Each replica's semantic index (``semantic_index.py``) persists the vectors it adds in Redis and
rebuilds from them at start, but while replicas run side by side each would only hold its own: a
paraphrase would hit only on the replica that stored the original. So an index that persists a
vector also ``PUBLISH``es its key on ``{namespace}:v:new`` (the config's namespace, percent-encoded
as in the keys), and every index of that namespace subscribes: on a message from another replica it
``GET``s the stored vector and hands it to the index, which decodes it (``semantic_vectors.py``),
skips it when expired, of another model or already held, and never publishes it again. Gateways of
other namespaces on the same Redis subscribe to their own channels and never see it.

The message is one small JSON object: ``k``, the vector's key, and ``o``, the publishing process's
random id (so a replica skips its own messages without a ``GET``).

The subscriber is a background task from ``start()`` to ``close()``. It never raises: when Redis
goes away it reconnects with a backoff (``RETRY_MIN_S`` doubling to ``RETRY_MAX_S``) and simply
goes on; what it missed meanwhile comes back at the next start's rebuild. Publishing happens in
the index's background addition, never on a request's path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import orjson
import redis.asyncio as aioredis

from llmgate.protocol.redact import redact_text

__all__ = ["RedisVectorSync", "sync_channel"]

log = logging.getLogger("llmgate.cache")

#: socket timeouts of the client (publish and GET), as the Redis backend's
SOCKET_TIMEOUT_S = 1.0
#: how long one wait for a message lasts before the loop looks again (and pings when idle)
LISTEN_S = 1.0
#: idle connections are pinged before use after this long, so a dead one is noticed
HEALTH_CHECK_S = 10
#: reconnection backoff: the first wait, doubling up to the last
RETRY_MIN_S = 0.5
RETRY_MAX_S = 30.0
#: how long fetching a received vector may take
FETCH_TIMEOUT_S = 2.0

Receive = Callable[[str, bytes], Awaitable[None]]


def sync_channel(namespace: str) -> str:
    """``{namespace}:v:new``: where the new vectors of a config's namespace are announced."""
    return f"{quote(namespace, safe='')}:v:new"


class RedisVectorSync:
    """Publishes this index's new vector keys and feeds it the other replicas' (``VectorFeed``)."""

    def __init__(self, url: str, namespace: str) -> None:
        self.channel = sync_channel(namespace)
        self._redis: Any = aioredis.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=SOCKET_TIMEOUT_S,
            health_check_interval=HEALTH_CHECK_S,
        )
        self._origin = os.urandom(8).hex()
        self._task: asyncio.Task[None] | None = None
        self.counts = {"received": 0, "reconnects": 0}

    async def publish(self, key: str) -> None:
        """Announce the vector stored under ``key`` to the other replicas."""
        await self._redis.publish(self.channel, orjson.dumps({"k": key, "o": self._origin}))

    def start(self, receive: Receive) -> None:
        """Subscribe in the background; ``receive(key, value)`` gets each other replica's vector."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._listen(receive), name=f"llmgate-semantic-sync {self.channel}"
            )

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _listen(self, receive: Receive) -> None:
        wait = RETRY_MIN_S
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                wait = RETRY_MIN_S
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=LISTEN_S)
                    if message is not None and message.get("type") == "message":
                        await self._take(message["data"], receive)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis went away: try again later, never into a request
                self.counts["reconnects"] += 1
                log.warning(
                    "semantic cache: the vector subscription failed (%s: %s); retrying in %.1fs",
                    type(exc).__name__,
                    redact_text(str(exc)),
                    wait,
                )
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(wait)
            wait = min(RETRY_MAX_S, wait * 2)

    async def _take(self, data: bytes, receive: Receive) -> None:
        try:
            message = orjson.loads(data)
            key, origin = str(message["k"]), str(message.get("o", ""))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return  # not ours to read
        if origin == self._origin:
            return  # this index stored it already
        try:
            value = await asyncio.wait_for(self._redis.get(key), FETCH_TIMEOUT_S)
        except TimeoutError:
            return  # a slow Redis: this one comes back at the next start's rebuild
        if value is None:
            return  # expired or cleared meanwhile
        self.counts["received"] += 1
        await receive(key, bytes(value))

    async def close(self) -> None:
        """Unsubscribe (cancel the listener) and close the client."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self._redis.aclose()
