"""``GET``/``DELETE /v1/responses/{id}``, ``POST .../cancel`` and ``GET .../input_items``: reading back a
response, for its owner only.

A response llmgate made (a translated call) is answered from what it kept
(``responses_memory.py``); one a Responses-speaking deployment made is forwarded to that deployment,
with its credentials, through the provider's ``forward`` (``providers/openai_compat.py``). Either
way only the key that created it may see it: to any other caller, as to an id llmgate never gave
out, it does not exist (404 in OpenAI's words). The route (``server/routes/responses.py``) stays
thin: it hands over the method, the id, the action and the query, and sends what comes back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import parse_qs

import orjson

from llmgate.apis.responses_adapter import Owner
from llmgate.apis.responses_memory import ResponseMemory, StoredResponse
from llmgate.config.deployment import Deployment
from llmgate.errors import ProviderError, UpstreamRejected
from llmgate.protocol.errors import error_body, error_from_exception
from llmgate.protocol.responses_wire import not_found_body
from llmgate.providers.base import Provider, UpstreamResponse

__all__ = ["ACTIONS", "ResponsesService"]

#: the action after the id, and the methods each takes ("" is the response itself)
ACTIONS = {"": ("GET", "DELETE"), "cancel": ("POST",), "input_items": ("GET",)}
FORWARD_TIMEOUT_S = 60.0


class Forwarding(Protocol):
    async def forward(
        self, deployment: Deployment, method: str, path: str, *, query: str, timeout: float
    ) -> UpstreamResponse: ...


class ResponsesService:
    """The Responses API's stored responses as their owners may read them (see the module doc)."""

    def __init__(
        self,
        memory: ResponseMemory,
        owner: Owner,
        deployments: Callable[[], list[Deployment]],
        providers: Mapping[str, Provider],
    ) -> None:
        self.memory = memory
        self.owner = owner
        self._deployments = deployments  # the router's (a wildcard group adds some as it goes)
        self._providers = providers

    async def handle(
        self, method: str, response_id: str, action: str, headers: Mapping[str, str], query: str
    ) -> tuple[int, bytes]:
        """(status, JSON body) for one call; raises ``AuthenticationError`` for a bad key."""
        owner = await self.owner(headers)
        entry = await self.memory.owned(response_id, owner)
        if entry is None:
            return 404, not_found_body(response_id)
        if entry.response is None:  # the deployment that made it keeps it
            return await self._forward(entry, method, action, query)
        if action == "cancel":
            message = "Only responses created with background=true can be cancelled; this one has completed."
            return 400, error_body(message, "invalid_request_error", param="response_id")
        if action == "input_items":
            return 200, _item_page(entry.input_items or [], query)
        if method == "DELETE":
            await self.memory.forget(response_id)
            return 200, orjson.dumps({"id": response_id, "object": "response", "deleted": True})
        return 200, orjson.dumps(entry.response)

    async def _forward(
        self, entry: StoredResponse, method: str, action: str, query: str
    ) -> tuple[int, bytes]:
        deployment = next((d for d in self._deployments() if d.id == entry.deployment), None)
        provider = self._providers.get(entry.deployment)
        forward = getattr(provider, "forward", None)
        if deployment is None or forward is None:  # a deployment no longer configured
            return 404, not_found_body(entry.id)
        path = f"responses/{entry.id}" + (f"/{action}" if action else "")
        try:
            answer: UpstreamResponse = await forward(
                deployment, method, path, query=query, timeout=FORWARD_TIMEOUT_S
            )
        except UpstreamRejected as exc:
            if exc.status_code == 404 and method == "DELETE":
                await self.memory.forget(entry.id)
            return exc.status_code, exc.body
        except ProviderError as exc:
            return exc.status_code, error_from_exception(exc)
        if method == "DELETE":
            await self.memory.forget(entry.id)
        return answer.status, answer.body


def _item_page(items: list[dict[str, Any]], query: str) -> bytes:
    """A page of input items as OpenAI lists them (``order``, ``limit``, ``after``)."""
    params = {k: v[-1] for k, v in parse_qs(query).items()}
    ordered = list(reversed(items)) if params.get("order", "desc") == "desc" else list(items)
    after = params.get("after")
    if after:
        ids = [item.get("id") for item in ordered]
        ordered = ordered[ids.index(after) + 1 :] if after in ids else []
    try:
        limit = min(max(int(params.get("limit", "20")), 1), 100)
    except ValueError:
        limit = 20
    page = ordered[:limit]
    return orjson.dumps(
        {
            "object": "list",
            "data": page,
            "first_id": page[0].get("id") if page else None,
            "last_id": page[-1].get("id") if page else None,
            "has_more": len(ordered) > limit,
        }
    )
