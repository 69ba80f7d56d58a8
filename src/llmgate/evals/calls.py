"""Calling models for an eval run: through the gateway's HTTP API, as any client does.

``Caller`` wraps one ``openai.AsyncOpenAI`` client: it times each chat completion, prices it, and
turns the SDK's errors into ``ModelCallError`` with one readable line (an HTTP error from the
gateway makes a case an *error*, not a crash). Prices (``Pricer``): an ``x-llmgate-cost`` header
when the gateway sends one, else the answer's usage priced with the gateway config's prices (the
deployment named by ``x-llmgate-model``, else the first of the model group) when the run was given
the config; otherwise the cost is unknown (``None``). A reply keeps the id the gateway recorded
the call under (``x-llmgate-request-id``; ``None`` from a server that sends none), so an eval's
scores can be written on that request.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, cast

import orjson

from llmgate.config import GatewayConfig, build_deployments
from llmgate.pricing import PriceBook, Usage, cost
from llmgate.pricing.prices import load_pricing_file

if TYPE_CHECKING:
    import openai

    from llmgate.config import Deployment


#: the gateway's id of the request it recorded (``gateway.py``), on every answer
REQUEST_ID_HEADER = "x-llmgate-request-id"


class ModelCallError(Exception):
    """A model call failed (HTTP error, timeout, unreachable gateway); the message is one line."""


@dataclass(frozen=True)
class Reply:
    """One answer: its text, how long the call took, what it cost (``None``: unknown), and the
    gateway's id of the recorded request (``None``: none given)."""

    text: str
    latency_ms: float
    cost_usd: Decimal | None
    request_id: str | None = None


class Pricer:
    """Prices calls from usage with a gateway config's prices (see the module docstring)."""

    def __init__(self, config: GatewayConfig | None = None) -> None:
        self._by_id: dict[str, Deployment] = {}
        self._by_model: dict[str, Deployment] = {}
        self._book: PriceBook | None = None
        if config is not None:
            pricing_file = config.llmgate.pricing_file
            self._book = PriceBook(overrides=load_pricing_file(pricing_file) if pricing_file else None)
            for deployment in build_deployments(config):
                self._by_id[deployment.id] = deployment
                self._by_model.setdefault(deployment.model_name, deployment)

    def price(self, model: str, headers: Mapping[str, str], usage: Usage | None) -> Decimal | None:
        header = headers.get("x-llmgate-cost")
        if header:
            try:
                return Decimal(header)
            except InvalidOperation:
                pass
        if self._book is None or usage is None:
            return None
        deployment = self._by_id.get(headers.get("x-llmgate-model", "")) or self._by_model.get(model)
        if deployment is None:
            return None
        price = self._book.lookup(deployment)
        return cost(usage, price) if price is not None else None


def describe_error(exc: Exception) -> str:
    """One line for an ``openai`` SDK error."""
    # openai SDK: only once an eval calls the gateway, off loading a suite and the CLI's start-up
    import openai

    if isinstance(exc, openai.APIStatusError):
        body = exc.body
        message = None
        if isinstance(body, dict):
            inner = body.get("error") if isinstance(body.get("error"), dict) else body
            message = inner.get("message") if isinstance(inner, dict) else None
        return f"HTTP {exc.status_code}: {message or exc.message}"
    if isinstance(exc, openai.APITimeoutError):
        return "the request timed out"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        return f"cannot reach the gateway: {cause or exc}"
    return f"{type(exc).__name__}: {exc}"


def _text_of(message: Any) -> str:
    content = getattr(message, "content", None)
    if content:
        return str(content)
    calls = getattr(message, "tool_calls", None) or []
    if calls:
        return orjson.dumps(
            [{"name": c.function.name, "arguments": c.function.arguments} for c in calls]
        ).decode()
    return ""


class Caller:
    """Chat completions through one client, timed and priced; totals the cost of every call."""

    def __init__(self, client: openai.AsyncOpenAI, pricer: Pricer | None = None) -> None:
        self._client = client
        self._pricer = pricer or Pricer()
        self.cost_usd = Decimal(0)
        self.cost_complete = True  # every call so far had a known cost
        self.calls = 0

    async def chat(self, model: str, messages: list[dict[str, str]], params: Mapping[str, Any]) -> Reply:
        # openai SDK: only once an eval calls the gateway, off loading a suite and the CLI's start-up
        import openai

        started = time.perf_counter()
        try:
            raw = await self._client.chat.completions.with_raw_response.create(
                model=model, messages=cast(Any, messages), **params
            )
            completion = raw.parse()
        except openai.APIError as exc:
            raise ModelCallError(describe_error(exc)) from exc
        latency_ms = (time.perf_counter() - started) * 1000
        if not completion.choices:
            raise ModelCallError("the answer has no choices")
        usage = None
        if completion.usage is not None:
            usage = Usage(completion.usage.prompt_tokens or 0, completion.usage.completion_tokens or 0)
        price = self._pricer.price(model, raw.headers, usage)
        self.calls += 1
        if price is None:
            self.cost_complete = False
        else:
            self.cost_usd += price
        request_id = raw.headers.get(REQUEST_ID_HEADER) or None
        return Reply(_text_of(completion.choices[0].message), latency_ms, price, request_id)
