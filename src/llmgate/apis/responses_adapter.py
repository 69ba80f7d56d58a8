"""The Responses API's two adapters: translated through chat completions, and passed through.

``TranslatedResponses`` serves ``/v1/responses`` on a deployment that speaks only chat completions
(the mock provider, litellm's providers, chat-only OpenAI-compatible servers): it prepends the
stored conversation when the request continues one (``previous_response_id``), translates the
request (``responses_request.py``), calls the provider's chat completions, and translates the answer
(``responses_reply.py``) or its stream (``responses_stream.py``) back. Unless ``store`` is false the
response is kept (``responses_memory.py``), under the caller, for the next call and for
``GET /v1/responses/{id}``.

``PassedResponses`` sends the body as it is to a deployment that speaks the Responses API itself,
and remembers which deployment made each response (and for whom), so reading it later goes there,
and only for its owner. It also carries a conversation over a change of deployment: a
``previous_response_id`` llmgate made itself is sent as the items it stands for.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import orjson

from llmgate.apis.base import CURRENT_RECORD, chat_answer
from llmgate.apis.responses_memory import ResponseMemory, StoredResponse, now
from llmgate.apis.responses_reply import from_chat, new_id
from llmgate.apis.responses_request import UnsupportedRequest, input_items, to_chat
from llmgate.apis.responses_stream import ChatToResponses, ResponsesEventStream
from llmgate.config.deployment import Deployment
from llmgate.errors import StreamInterrupted, UpstreamRejected
from llmgate.protocol.endpoints import Endpoint
from llmgate.protocol.errors import error_body
from llmgate.protocol.responses_wire import ResponsesStreamCut, not_found_body
from llmgate.providers.base import Provider, UpstreamResponse, UpstreamStream

__all__ = ["Owner", "PassedResponses", "TranslatedResponses"]

#: who is calling, from the request's headers: the key id, "master", or None (an open gateway)
Owner = Callable[[Mapping[str, str]], Awaitable[str | None]]


async def _caller(owner: Owner, headers: Mapping[str, str]) -> str | None:
    """Who owns what this request keeps: the gateway authenticated it already (its record says who);
    only a call from outside a request authenticates again."""
    record = CURRENT_RECORD.get()
    if record is not None:
        return record.key_id or record.auth_identity
    return await owner(headers)


_RESPONSE_ID = re.compile(rb'"id"\s*:\s*"(resp_[^"]+)"')
#: chat names a deployment's request defaults may use, as the Responses API names them
_DEFAULT_NAMES = {"max_tokens": "max_output_tokens", "max_completion_tokens": "max_output_tokens"}
_RESPONSES_DEFAULTS = frozenset({"temperature", "top_p", "parallel_tool_calls", "user", "top_logprobs"})


def _previous_not_found(response_id: str, deployment: Deployment) -> UpstreamRejected:
    return UpstreamRejected(
        f"previous response {response_id} not found",
        status=404,
        body=not_found_body(response_id, previous=True),
        deployment=deployment.id,
    )


def _keeps(body: dict[str, Any]) -> bool:
    return body.get("store", True) is not False


class TranslatedResponses:
    """``/v1/responses`` to a chat-only deployment, through chat completions."""

    def __init__(self, memory: ResponseMemory, owner: Owner, *, max_tokens_name: str) -> None:
        self._memory = memory
        self._owner = owner
        self._max_tokens_name = max_tokens_name

    async def _chat_body(
        self, deployment: Deployment, body: dict[str, Any], owner: str | None
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        items = input_items(body)
        history: list[dict[str, Any]] = []
        previous = body.get("previous_response_id")
        if isinstance(previous, str):
            found = await self._memory.chain(previous, owner)
            if found is None:
                raise _previous_not_found(previous, deployment)
            history = found
        try:
            return to_chat(body, history + items, max_tokens_name=self._max_tokens_name), _with_ids(items)
        except UnsupportedRequest as exc:
            raise UpstreamRejected(
                f"deployment {deployment.id} cannot serve the request: {exc.message}",
                status=400,
                body=error_body(exc.message, "invalid_request_error", param=exc.param),
                deployment=deployment.id,
            ) from exc

    def _keep(
        self, deployment: Deployment, body: dict[str, Any], owner: str | None, items: list[dict[str, Any]]
    ) -> Callable[[dict[str, Any]], None] | None:
        if not _keeps(body):
            return None
        previous = body.get("previous_response_id")

        def keep(response: dict[str, Any]) -> None:
            entry = StoredResponse(
                id=response["id"],
                owner=owner,
                deployment=deployment.id,
                created_at=now(),
                previous_id=previous if isinstance(previous, str) else None,
                input_items=items,
                response=response,
            )
            self._memory.remember(entry)

        return keep

    async def send(
        self,
        provider: Provider,
        deployment: Deployment,
        body: dict[str, Any],
        headers: Mapping[str, str],
        *,
        timeout: float,
    ) -> UpstreamResponse:
        owner = await _caller(self._owner, headers)
        chat, items = await self._chat_body(deployment, body, owner)
        answer, data = await chat_answer(provider, deployment, chat, timeout=timeout)
        response = from_chat(body, data, new_id("resp"))
        keep = self._keep(deployment, body, owner, items)
        if keep is not None:
            keep(response)
        return UpstreamResponse(answer.status, orjson.dumps(response), headers=answer.headers)

    async def open_stream(
        self,
        provider: Provider,
        deployment: Deployment,
        body: dict[str, Any],
        headers: Mapping[str, str],
        *,
        timeout: float,
    ) -> UpstreamStream:
        owner = await _caller(self._owner, headers)
        chat, items = await self._chat_body(deployment, body, owner)
        stream = await provider.open_stream(deployment, Endpoint.CHAT, chat, timeout=timeout)
        translation = ChatToResponses(body, new_id("resp"), str(body.get("model") or ""))
        keep = self._keep(deployment, body, owner, items)
        return ResponsesEventStream(stream, translation, keep, deployment.id)


def _with_ids(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Input items as a response keeps them: each with an id (``msg_...`` for a message)."""
    kept = []
    for item in items:
        if "id" not in item:
            kind = item.get("type", "message")
            prefix = {"message": "msg", "function_call": "fc", "function_call_output": "fco"}.get(
                kind, "item"
            )
            item = {"id": new_id(prefix), **item}
            if kind == "message" and "type" not in item:
                item["type"] = "message"
        kept.append(item)
    return kept


class PassedResponses:
    """``/v1/responses`` to a deployment that speaks it: the body as it is (see the module doc)."""

    def __init__(self, memory: ResponseMemory, owner: Owner) -> None:
        self._memory = memory
        self._owner = owner

    async def _body(self, deployment: Deployment, body: dict[str, Any], owner: str | None) -> dict[str, Any]:
        previous = body.get("previous_response_id")
        if isinstance(previous, str):
            entry = await self._memory.get(previous)
            if entry is not None and entry.owner != owner:
                raise _previous_not_found(previous, deployment)  # another caller's
            if entry is not None and entry.response is not None:  # made here: sent as its items
                history = await self._memory.chain(previous, owner) or []
                body = {k: v for k, v in body.items() if k != "previous_response_id"}
                body["input"] = _as_input(history) + input_items(body)
        if deployment.request_defaults:  # chat parameters of the config, in the Responses API's names
            body = _responses_defaults(body, deployment.request_defaults)
        return body

    def _note(
        self, response_id: str, deployment: Deployment, owner: str | None, body: dict[str, Any]
    ) -> None:
        previous = body.get("previous_response_id")
        entry = StoredResponse(
            id=response_id,
            owner=owner,
            deployment=deployment.id,
            created_at=now(),
            previous_id=previous if isinstance(previous, str) else None,
            input_items=None,
            response=None,
        )
        self._memory.remember(entry)

    async def send(
        self,
        provider: Provider,
        deployment: Deployment,
        body: dict[str, Any],
        headers: Mapping[str, str],
        *,
        timeout: float,
    ) -> UpstreamResponse:
        owner = await _caller(self._owner, headers)
        sent = await self._body(deployment, body, owner)
        answer = await provider.send(deployment, Endpoint.RESPONSES, sent, timeout=timeout)
        if _keeps(body):
            found = _RESPONSE_ID.search(answer.body[:4096])
            if found is not None:
                self._note(found.group(1).decode(), deployment, owner, sent)
        return answer

    async def open_stream(
        self,
        provider: Provider,
        deployment: Deployment,
        body: dict[str, Any],
        headers: Mapping[str, str],
        *,
        timeout: float,
    ) -> UpstreamStream:
        owner = await _caller(self._owner, headers)
        sent = await self._body(deployment, body, owner)
        stream = await provider.open_stream(deployment, Endpoint.RESPONSES, sent, timeout=timeout)

        def note(response_id: str) -> None:
            self._note(response_id, deployment, owner, sent)

        return _NotingStream(stream, note if _keeps(body) else None, deployment.id)


class _NotingStream:
    """The upstream's events as they come; notes the response id (in ``response.created``) and
    counts the events, so a cut stream's error event follows them in sequence."""

    def __init__(self, stream: UpstreamStream, note: Callable[[str], None] | None, deployment: str) -> None:
        self._stream = stream
        self._note = note
        self._deployment = deployment
        self.status = stream.status
        self.content_type = stream.content_type
        self.headers = stream.headers

    async def __aiter__(self) -> AsyncIterator[bytes]:
        events = 0
        head = b""
        try:
            async for chunk in self._stream:
                if self._note is not None:
                    head += chunk
                    found = _RESPONSE_ID.search(head)
                    if found is not None:
                        self._note(found.group(1).decode())
                        self._note, head = None, b""
                    elif len(head) > 65536:
                        self._note, head = None, b""
                events += chunk.count(b"\ndata:") + chunk.startswith(b"data:")
                yield chunk
        except StreamInterrupted as exc:
            raise ResponsesStreamCut(
                exc.message, deployment=self._deployment, sequence_number=events
            ) from exc

    async def aclose(self) -> None:
        await self._stream.aclose()


def _as_input(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Kept items as input to a Responses-speaking upstream: without llmgate's ids (unknown there),
    and without reasoning items (which that upstream could not verify)."""
    sent = []
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            sent.append({"type": "message", "role": item.get("role"), "content": item.get("content")})
        elif kind != "reasoning":
            sent.append({k: v for k, v in item.items() if k not in ("id", "status")})
    return sent


def _responses_defaults(body: dict[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` with the deployment's chat request defaults under the Responses API's names (those
    it has no name for are dropped: the upstream would refuse them)."""
    sent = {k: v for k, v in body.items() if k not in defaults or k in _RESPONSES_DEFAULTS}
    for name, value in defaults.items():
        renamed = _DEFAULT_NAMES.get(name)
        if renamed is not None and renamed not in sent:
            sent[renamed] = value
        elif name == "reasoning_effort" and "reasoning" not in sent:
            sent["reasoning"] = {"effort": value}
    return sent
