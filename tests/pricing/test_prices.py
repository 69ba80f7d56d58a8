"""Prices from litellm's shipped map and from config, and exact Decimal costs."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from llmgate.config import build_deployments, parse_config
from llmgate.config.deployment import Deployment
from llmgate.pricing import Price, PriceBook, Usage, cost


def deployment(**params: Any) -> Deployment:
    entry: dict[str, Any] = {"model_name": "m", "litellm_params": params}
    if "model_info" in params:
        entry["model_info"] = params.pop("model_info")
    return build_deployments(parse_config({"model_list": [entry]}))[0]


def litellm_map() -> dict[str, Any]:
    import importlib.util

    spec = importlib.util.find_spec("litellm")
    assert spec is not None and spec.origin is not None
    path = Path(spec.origin).parent / "model_prices_and_context_window_backup.json"
    return json.loads(path.read_text(), parse_float=Decimal)


def test_price_from_litellm_map_is_exact() -> None:
    entry = litellm_map()["gpt-4o-mini"]
    price = PriceBook().lookup(deployment(model="openai/gpt-4o-mini"))
    assert price is not None
    assert price.input == entry["input_cost_per_token"] and price.output == entry["output_cost_per_token"]
    assert isinstance(price.input, Decimal)


def test_base_model_is_used_for_lookup() -> None:
    price = PriceBook().lookup(deployment(model="azure/my-deploy", model_info={"base_model": "gpt-4o-mini"}))
    assert price is not None and price.input == litellm_map()["gpt-4o-mini"]["input_cost_per_token"]


def test_config_prices_override_the_map() -> None:
    price = PriceBook().lookup(
        deployment(
            model="openai/gpt-4o-mini", input_cost_per_token="0.000001", output_cost_per_token="0.000003"
        )
    )
    assert price == Price(Decimal("0.000001"), Decimal("0.000003"))


def test_unknown_model_has_no_price_and_mock_is_free() -> None:
    assert PriceBook().lookup(deployment(model="hosted_vllm/my-private-model")) is None
    assert PriceBook().lookup(deployment(model="mock/echo")) == Price(Decimal(0), Decimal(0))


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (Usage(1000, 500), Decimal("0.0025")),
        (Usage(1000, 500, cached_tokens=400), Decimal("0.0022")),
        (Usage(1000, 500, reasoning_tokens=100), Decimal("0.0026")),
        (Usage(0, 0), Decimal(0)),
    ],
)
def test_cost_arithmetic(usage: Usage, expected: Decimal) -> None:
    price = Price(
        Decimal("0.000001"),
        Decimal("0.000003"),
        cache_read=Decimal("0.00000025"),
        reasoning=Decimal("0.000004"),
    )
    assert cost(usage, price) == expected


def test_many_small_costs_sum_exactly() -> None:
    price = Price(Decimal("0.00000015"), Decimal("0.0000006"))
    total = sum((cost(Usage(17, 3), price) for _ in range(100_000)), Decimal(0))
    assert total == Decimal("0.4350000")


def test_pricing_file_prices_private_models_and_overrides_the_map(tmp_path: Path) -> None:
    from llmgate.pricing.prices import load_pricing_file

    path = tmp_path / "prices.yaml"
    path.write_text(
        "hosted_vllm/my-private-model:\n"
        "  input_cost_per_token: 0.0000002\n"
        "  output_cost_per_token: '0.0000004'\n"
        "gpt-4o-mini:\n"
        "  input_cost_per_token: 0.000001\n"
        "  output_cost_per_token: 0.000003\n"
        "  cache_read_input_token_cost: 0.0000005\n"
    )
    book = PriceBook(overrides=load_pricing_file(path))
    private = book.lookup(deployment(model="hosted_vllm/my-private-model"))
    assert private == Price(Decimal("0.0000002"), Decimal("0.0000004"))
    negotiated = book.lookup(deployment(model="openai/gpt-4o-mini"))
    assert negotiated == Price(Decimal("0.000001"), Decimal("0.000003"), Decimal("0.0000005"))
    # the deployment's own prices still win over the file
    own = book.lookup(
        deployment(model="openai/gpt-4o-mini", input_cost_per_token="0.5", output_cost_per_token="1")
    )
    assert own is not None and own.input == Decimal("0.5")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- not a mapping\n", "expected a mapping"),
        ("m:\n  output_cost_per_token: 1\n", "needs at least input_cost_per_token"),
        ("m:\n  input_cost_per_token: 1\n  input_cost_per_tokn: 2\n", "unknown price"),
        ("m:\n  input_cost_per_token: -1\n", "not a price"),
        ("m: [\n", "cannot be read"),
    ],
)
def test_a_broken_pricing_file_is_a_one_line_config_error(tmp_path: Path, text: str, message: str) -> None:
    from llmgate.errors import ConfigError
    from llmgate.pricing.prices import load_pricing_file

    path = tmp_path / "prices.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_pricing_file(path)
    assert "\n" not in caught.value.message
