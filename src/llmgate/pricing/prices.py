"""Prices per token, and the cost of one call as an exact ``Decimal``.

Prices come from litellm's model price map — the JSON file litellm ships, read as data with
``parse_float=Decimal`` so no price passes through a float — overridden first by an optional
pricing file (``llmgate.pricing_file``: YAML or JSON in the same shape, for private models and
negotiated prices) and then by the deployment's own ``input_cost_per_token`` /
``output_cost_per_token`` (and cached-input and reasoning prices). ``mock/`` deployments are
free. A model with no price anywhere has cost ``None``, which the record flags as ``cost_unknown``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from threading import Lock
from typing import Any

import yaml

from llmgate.config.bare_models import litellm_map_path
from llmgate.config.deployment import Deployment
from llmgate.errors import ConfigError

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Price:
    input: Decimal
    output: Decimal
    cache_read: Decimal | None = None
    reasoning: Decimal | None = None
    cache_creation: Decimal | None = None  # writing the prompt cache (Anthropic's usage)


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cache_creation_tokens: int = 0  # part of prompt_tokens, as cached_tokens are


def cost(usage: Usage, price: Price) -> Decimal:
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    created = min(usage.cache_creation_tokens, usage.prompt_tokens - cached)
    total = (usage.prompt_tokens - cached - created) * price.input
    total += cached * (price.cache_read if price.cache_read is not None else price.input)
    if created:
        total += created * (price.cache_creation if price.cache_creation is not None else price.input)
    if price.reasoning is not None:
        reasoning = min(usage.reasoning_tokens, usage.completion_tokens)
        total += (usage.completion_tokens - reasoning) * price.output + reasoning * price.reasoning
    else:
        total += usage.completion_tokens * price.output
    return total


def _load_litellm_map() -> dict[str, dict[str, Any]]:
    path = litellm_map_path()  # the one rule for where it is (config/bare_models.py reads it too)
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)}


def _dec(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | str):
        try:
            return Decimal(value)
        except ArithmeticError:
            return None
    return None


PRICE_FIELDS = (
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "output_cost_per_reasoning_token",
    "cache_creation_input_token_cost",
)


def load_pricing_file(path: str | Path) -> dict[str, dict[str, Decimal]]:
    """``{model: {input_cost_per_token: ..., ...}}`` from YAML or JSON; ``ConfigError`` if unusable."""

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"pricing file {path}: cannot be read ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"pricing file {path}: expected a mapping of model names to prices")
    table: dict[str, dict[str, Decimal]] = {}
    for model, entry in data.items():
        if not isinstance(entry, dict) or "input_cost_per_token" not in entry:
            raise ConfigError(f"pricing file {path}: {model}: needs at least input_cost_per_token")
        prices: dict[str, Decimal] = {}
        for name, value in entry.items():
            if name not in PRICE_FIELDS:
                raise ConfigError(
                    f"pricing file {path}: {model}.{name}: unknown price ({', '.join(PRICE_FIELDS)})"
                )
            amount = Decimal(repr(value)) if isinstance(value, float) else _dec(value)
            if amount is None or not amount.is_finite() or amount < 0:
                raise ConfigError(f"pricing file {path}: {model}.{name}: not a price: {value!r}")
            prices[name] = amount
        table[str(model)] = prices
    return table


class PriceBook:
    """Looks up a deployment's price; the litellm map is read once, on first use."""

    def __init__(
        self,
        table: dict[str, dict[str, Any]] | None = None,
        *,
        overrides: dict[str, dict[str, Decimal]] | None = None,
    ) -> None:
        self._table = table
        self._overrides = overrides or {}
        self._lock = Lock()

    def _map(self) -> dict[str, dict[str, Any]]:
        if self._table is None:
            with self._lock:
                if self._table is None:
                    self._table = _load_litellm_map()
        return self._table

    def warm(self) -> None:
        """Read the price map now (at start-up, in a thread) instead of on first use."""
        self._map()

    def _from_map(self, deployment: Deployment) -> dict[str, Any] | None:
        for key in (
            deployment.model_name,
            f"{deployment.provider}/{deployment.price_key}",
            deployment.price_key,
            deployment.litellm_model,
        ):
            if key in self._overrides:
                return self._overrides[key]
        table = self._map()
        for key in (
            f"{deployment.provider}/{deployment.price_key}",
            deployment.price_key,
            deployment.litellm_model,
        ):
            if key in table:
                return table[key]
        return None

    def entry(self, deployment: Deployment, variants: tuple[str, ...] = ()) -> dict[str, Any]:
        """The deployment's raw entry in the price map (empty if none), for prices ``Price`` does not
        hold (per image, second, character, query: ``pricing/units.py``). A ``variant`` is a key
        prefix of the map's, ``standard/1024-x-1024`` in ``standard/1024-x-1024/dall-e-3``; tried first."""
        table, provider, name = self._map(), deployment.provider, deployment.price_key
        keys = [key for v in variants for key in (f"{provider}/{v}/{name}", f"{v}/{name}")]
        for key in (*keys, f"{provider}/{name}", name, deployment.litellm_model):
            entry = table.get(key)
            if entry is not None:
                return entry
        return {}

    def max_output_tokens(self, deployment: Deployment) -> int | None:
        """The model's output limit in litellm's map (``max_output_tokens``, else ``max_tokens``)."""
        table = self._map()
        for key in (
            f"{deployment.provider}/{deployment.price_key}",
            deployment.price_key,
            deployment.litellm_model,
        ):
            entry = table.get(key) or {}
            for name in ("max_output_tokens", "max_tokens"):
                value = entry.get(name)
                if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                    return value
        return None

    def lookup(self, deployment: Deployment) -> Price | None:
        if deployment.provider == "mock" and deployment.input_cost_per_token is None:
            return Price(ZERO, ZERO)
        if deployment.input_cost_per_token is not None:
            # The operator's own prices: litellm's cached-input and reasoning prices belong to
            # litellm's model, not to this one, so only the deployment's own are used.
            return Price(
                deployment.input_cost_per_token,
                deployment.output_cost_per_token or ZERO,
                deployment.cache_read_input_token_cost,
                deployment.output_cost_per_reasoning_token,
                deployment.cache_creation_input_token_cost,
            )
        entry = self._from_map(deployment) or {}
        input_price = _dec(entry.get("input_cost_per_token"))
        output_price = deployment.output_cost_per_token
        if output_price is None:
            output_price = _dec(entry.get("output_cost_per_token"))
        if input_price is None or (output_price is None and deployment.mode != "embedding"):
            return None
        cache_read = deployment.cache_read_input_token_cost
        if cache_read is None:
            cache_read = _dec(entry.get("cache_read_input_token_cost"))
        reasoning = deployment.output_cost_per_reasoning_token
        if reasoning is None:
            reasoning = _dec(entry.get("output_cost_per_reasoning_token"))
        cache_creation = deployment.cache_creation_input_token_cost
        if cache_creation is None:
            cache_creation = _dec(entry.get("cache_creation_input_token_cost"))
        return Price(input_price, output_price or ZERO, cache_read, reasoning, cache_creation)
