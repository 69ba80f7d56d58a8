"""Which adapter carries a request of one endpoint to one deployment (``None``: none is needed).

The choice depends only on the endpoint and the deployment, so it is made once per pair and
kept: the request path pays one dictionary lookup, and only for endpoints that have adapters at
all (chat completions, completions and embeddings to the deployments that serve them natively
never get here).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from llmgate.apis.base import ApiAdapter
from llmgate.config.deployment import Deployment
from llmgate.protocol.endpoints import Endpoint

__all__ = ["Adapters", "Chooser"]

#: for one endpoint: the adapter a deployment needs, or None when it speaks the endpoint itself
Chooser = Callable[[Deployment], ApiAdapter | None]


class Adapters:
    """The adapters of an app: a chooser per endpoint, asked once per (endpoint, deployment)."""

    def __init__(self, choosers: dict[Endpoint, Chooser] | None = None) -> None:
        self._choosers = dict(choosers or {})
        self._chosen: dict[tuple[Endpoint, str], ApiAdapter | None] = {}
        self._closers: list[Callable[[], Awaitable[None]]] = []  # what adapters hold open (sessions)

    def on_close(self, close: Callable[[], Awaitable[None]]) -> None:
        """Have ``aclose`` call ``close`` (an adapter's own connection pool, say)."""
        self._closers.append(close)

    async def aclose(self) -> None:
        for close in self._closers:
            await close()

    def register(self, endpoint: Endpoint, chooser: Chooser) -> None:
        self._choosers[endpoint] = chooser
        self._chosen = {k: v for k, v in self._chosen.items() if k[0] is not endpoint}

    def for_(self, endpoint: Endpoint, deployment: Deployment) -> ApiAdapter | None:
        """The adapter ``deployment`` needs for ``endpoint`` (None: send the body as it is)."""
        chooser = self._choosers.get(endpoint)
        if chooser is None:
            return None
        key = (endpoint, deployment.id)
        try:
            return self._chosen[key]
        except KeyError:
            chosen = self._chosen[key] = chooser(deployment)
            return chosen
