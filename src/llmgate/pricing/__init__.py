"""Prices and cost: ``cost(usage, price) -> Decimal`` from litellm's price map and overrides."""

from llmgate.pricing.prices import Price, PriceBook, Usage, cost

__all__ = ["Price", "PriceBook", "Usage", "cost"]
