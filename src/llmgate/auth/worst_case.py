"""The most one request can cost: what admission reserves against its budgets while it runs.

``prompt tokens * input price + output tokens * output price``, the highest over every deployment
the request may reach (its model group and the groups it may fall back to), so a fallback to a
dearer model is covered too.

- Prompt tokens: at most the size of the request body in bytes. Byte-level tokenizers (OpenAI's,
  Llama's, and SentencePiece with byte fallback) never make more than one token of one byte, so
  no prompt a client writes can beat the bound; the JSON around the text more than covers the
  few tokens of chat framing. A tokenizer would be closer, but costs milliseconds per large
  prompt on the request path and is no bound for models that tokenize differently. Images and
  audio are priced by their pixels and seconds and are not bounded by this.
- Output tokens: ``n`` (or ``best_of``) times ``max_completion_tokens`` / ``max_tokens`` (the
  request's, else the deployment's default), capped by the model's output limit in the price
  map; without either, that limit, else ``DEFAULT_MAX_OUTPUT_TOKENS``. Embeddings have none.

A deployment with no price costs nothing here, as in its record (``cost_unknown``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from llmgate.config.deployment import Deployment
from llmgate.pricing import PriceBook

#: output tokens assumed when neither the request nor the price map bounds them
DEFAULT_MAX_OUTPUT_TOKENS = 32_768
#: model names whose figures are kept
MAX_KEPT = 4096
ZERO = Decimal(0)


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


class WorstCase:
    """Worst-case costs of requests; the per-deployment figures are worked out once."""

    def __init__(self, prices: PriceBook, reachable: Callable[[str], Sequence[Deployment]]) -> None:
        self._prices = prices
        self._reachable = reachable  # model name -> every deployment a request for it may use
        self._groups: dict[str, list[tuple[Deployment, Decimal, Decimal, int | None]]] = {}

    def _figures(self, model: str) -> list[tuple[Deployment, Decimal, Decimal, int | None]]:
        figures = self._groups.get(model)
        if figures is None:
            figures = []
            for deployment in self._reachable(model):
                price = self._prices.lookup(deployment)
                if price is None:
                    continue
                output = max(price.output, price.reasoning or ZERO)
                figures.append((deployment, price.input, output, self._prices.max_output_tokens(deployment)))
            if len(self._groups) < MAX_KEPT:  # names served by wildcard groups are the client's choice
                self._groups[model] = figures
        return figures

    def cost(self, endpoint: str, model: str, body: dict[str, Any], body_bytes: int) -> Decimal:
        """The most a request for ``model`` with this ``body`` (``body_bytes`` long) can cost."""
        worst = ZERO
        choices = max(_positive_int(body.get("n")) or 1, _positive_int(body.get("best_of")) or 1)
        requested = (
            _positive_int(body.get("max_completion_tokens"))
            or _positive_int(body.get("max_tokens"))
            or _positive_int(body.get("max_output_tokens"))  # the Responses API's name
        )
        for deployment, input_price, output_price, limit in self._figures(model):
            output_tokens = 0
            if endpoint not in ("embeddings", "messages/count_tokens"):  # no output tokens
                defaults = deployment.request_defaults
                asked = requested or _positive_int(
                    defaults.get("max_completion_tokens") or defaults.get("max_tokens")
                )
                per_choice = min(asked, limit) if asked and limit else asked or limit
                output_tokens = choices * (per_choice or DEFAULT_MAX_OUTPUT_TOKENS)
            worst = max(worst, body_bytes * input_price + output_tokens * output_price)
        return worst
