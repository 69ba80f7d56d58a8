"""Budget assertions: ``max_latency_ms`` and ``max_cost_usd`` of the answer's call.

The limit is ``value`` (or ``threshold``, as promptfoo's ``latency`` and ``cost`` write it).
The score is 1 within the limit and ``limit / actual`` past it. Latency is measured by the eval
client around the whole call through the gateway. Cost comes from the answer's usage priced with
the gateway config's prices (when the run knows the config) or from an ``x-llmgate-cost``
header; when neither is there the cost is unknown and the assertion is an error, not a pass.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import TYPE_CHECKING

from llmgate.evals.assertions.base import (
    AssertionType,
    Check,
    CheckError,
    SpecProblem,
    Verdict,
)

if TYPE_CHECKING:
    from llmgate.evals.assertions.spec import AssertionSpec


def _limit(spec: AssertionSpec) -> float:
    value = spec.value if spec.value is not None else spec.threshold
    return float(value)  # type: ignore[arg-type]  # validated: a positive number


def _validate(spec: AssertionSpec) -> None:
    value = spec.value if spec.value is not None else spec.threshold
    key = "value" if spec.value is not None else "threshold"
    if value is None:
        raise SpecProblem(("value",), f"{spec.type} needs a limit: value: <number>")
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise SpecProblem((key,), f"{spec.type}: the limit must be a positive number, got {value!r}")


def _verdict(actual: float, limit: float, unit: str) -> Verdict:
    if actual <= limit:
        return Verdict(1.0, True, f"{actual:g} {unit}")
    return Verdict(limit / actual, False, f"{actual:g} {unit} is over the limit of {limit:g} {unit}")


async def _latency(spec: AssertionSpec, check: Check) -> Verdict:
    if check.latency_ms is None:
        raise CheckError("the call's latency is unknown")
    return _verdict(round(check.latency_ms, 1), _limit(spec), "ms")


async def _cost(spec: AssertionSpec, check: Check) -> Verdict:
    if check.cost_usd is None:
        raise CheckError(
            "cost unknown: the model's price is not known here (run with --config so the "
            "config's prices apply, or have the gateway send x-llmgate-cost)"
        )
    limit = Decimal(repr(_limit(spec)))
    if check.cost_usd <= limit:
        return Verdict(1.0, True, f"${check.cost_usd:f}")
    score = float(limit / check.cost_usd)
    return Verdict(score, False, f"${check.cost_usd:f} is over the limit of ${limit:f}")


TYPES = (
    AssertionType("max_latency_ms", _latency, _validate, "the call took at most value milliseconds"),
    AssertionType("max_cost_usd", _cost, _validate, "the call cost at most value US dollars"),
)
