"""Announcing a canary change to every replica: ``publish`` on ``llmgate:canary:changed``.

After every change to a canary (the actions of the CLI and the admin API, the controller's
decisions) the writer publishes the canary's id there; every replica's follower (``state.py``)
listens and re-reads the canaries at once. Without Redis it does nothing: the followers' poll of
the store (every 0.5 s) picks the change up. Publishing never fails its caller.
"""

from __future__ import annotations

import asyncio
import logging

from llmgate.protocol.redact import redact_text

__all__ = ["CHANNEL", "SOCKET_TIMEOUT_S", "apublish", "publish"]

log = logging.getLogger("llmgate.canary")

#: where every change is announced (the message is the canary's id; any message means "re-read")
CHANNEL = "llmgate:canary:changed"
SOCKET_TIMEOUT_S = 1.0


def publish(redis_url: str | None, canary_id: str = "") -> None:
    """Tell every replica to re-read the canaries now (no-op without Redis; never raises)."""
    if not redis_url:
        return
    # redis: only when the config shares state through Redis
    import redis

    try:
        client = redis.Redis.from_url(
            redis_url, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=SOCKET_TIMEOUT_S
        )
        try:
            client.publish(CHANNEL, canary_id)
        finally:
            client.close()
    except Exception as exc:  # the replicas' poll of the store picks the change up anyway
        text = redact_text(str(exc).splitlines()[0][:200]) if str(exc) else type(exc).__name__
        log.warning("could not announce a canary change over Redis: %s", text)


async def apublish(redis_url: str | None, canary_id: str = "") -> None:
    """``publish`` from the event loop (in a thread)."""
    if redis_url:
        await asyncio.to_thread(publish, redis_url, canary_id)
