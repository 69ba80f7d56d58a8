"""What the canary controller needs from ``evals`` and ``monitors``, which ``canary`` may not import.

- ``HttpEvalGateRunner`` (``canary/eval_gate.py``'s ``EvalGateRunner``): an ``eval:PATH`` gate's
  suite run through this gateway over HTTP, as scheduled evals are (``evals/runner.py``), once with
  ``x-llmgate-canary-arm: stable`` and once with ``candidate`` (the master key may force an arm),
  then compared case by case with ``evals/regression.py`` ``compare`` (exact McNemar): a regression
  (a significant drop of at least ``min_effect`` in the pass rate) fails the gate, anything else
  passes it. The effect is stable's pass rate minus the candidate's (larger is worse). The runs are
  not stored as eval runs; their calls are recorded like any other, with their arm.
- ``drift_test``: the ``response_drift`` gate's test, the monitors' domain-classifier statistic
  (``monitors/drift_statistics.py``: the cross-validated AUC of telling the candidate's answer
  embeddings from stable's, with a permutation p-value, against ``llmgate.monitors.drift``'s
  ``domain_auc`` threshold). ``None`` when the monitors extra (scipy, scikit-learn) is not installed:
  the gate then says ``no_data``.

Both load their heavy parts (the openai SDK, numpy, scipy, scikit-learn) on first use, off the
gateway's start-up.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from typing import TYPE_CHECKING, Any

from llmgate.canary.gates import DriftTest, GateResult
from llmgate.routing.canaries import ARM_HEADER, CANDIDATE, STABLE

if TYPE_CHECKING:
    from llmgate.config import GatewayConfig

__all__ = ["DRIFT_PERMUTATIONS", "HttpEvalGateRunner", "drift_test"]

log = logging.getLogger("llmgate.server")

#: permutations of the drift test: its smallest p-value is 1 / (this + 1), below a gate's share of alpha
DRIFT_PERMUTATIONS = 999
#: answer embeddings per arm the drift test looks at, at most (the newest)
DRIFT_MAX_ROWS = 1000


class HttpEvalGateRunner:
    """Runs an eval gate's suite against both arms of a canary's model (see the module doc)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        config: GatewayConfig | None = None,
        *,
        concurrency: int = 4,
        alpha: float = 0.05,
        min_effect: float = 0.05,
        timeout_s: float = 120.0,
    ) -> None:
        self.base_url = base_url
        self._api_key = api_key
        self._config = config
        self._concurrency = concurrency
        self._alpha = alpha
        self._min_effect = min_effect
        self._timeout_s = timeout_s

    async def run(self, suite_path: str, model: str, arm: str) -> GateResult:
        return await asyncio.to_thread(self._run, suite_path, model, arm)

    def _run(self, suite_path: str, model: str, arm: str) -> GateResult:
        # the evals package and the openai SDK: loaded when the first eval gate runs
        import openai

        from llmgate.evals.calls import Pricer
        from llmgate.evals.history import outcomes
        from llmgate.evals.regression import compare
        from llmgate.evals.runner import run_suite
        from llmgate.evals.suite import load_suite

        suite = load_suite(suite_path)
        pricer = Pricer(self._config)

        async def one(which: str) -> Any:
            async with openai.AsyncOpenAI(
                base_url=self.base_url,
                api_key=self._api_key,
                max_retries=0,
                timeout=self._timeout_s,
                default_headers={ARM_HEADER: which},
            ) as client:
                return await run_suite(
                    suite,
                    model=model,
                    client=client,
                    engine=None,
                    concurrency=self._concurrency,
                    trigger="canary",
                    suite_path=suite_path,
                    pricer=pricer,
                )

        async def both() -> tuple[Any, Any]:
            return await one(STABLE), await one(arm if arm in (STABLE, CANDIDATE) else CANDIDATE)

        stable, candidate = asyncio.run(both())
        c = compare(outcomes(stable), outcomes(candidate), alpha=self._alpha, min_effect=self._min_effect)
        harm = c.baseline_pass_rate - c.current_pass_rate
        note = (
            f"pass rate {c.current_pass_rate:.0%} vs stable {c.baseline_pass_rate:.0%} over {c.compared} "
            f"cases, p = {c.p_value:.3g}"
            + (f"; turned to fail: {', '.join(c.flipped_to_fail[:5])}" if c.flipped_to_fail else "")
        )
        return GateResult(
            name=f"eval:{suite_path}",
            verdict="fail" if c.regression else "pass",
            effect=harm,
            low=None,
            high=None,
            tolerance=self._min_effect,
            n_candidate=len(candidate.results),
            n_stable=len(stable.results),
            confidence=1.0 - self._alpha,
            note=note,
        )


def drift_test(config: GatewayConfig) -> DriftTest | None:
    """The monitors' domain-classifier drift test, or None without the monitors extra."""
    if any(importlib.util.find_spec(name) is None for name in ("scipy", "sklearn")):
        log.info("canary response_drift gate: the monitors extra is not installed; the gate has no data")
        return None
    overrides = config.llmgate.monitors.drift.thresholds.model_dump(exclude_none=True)

    def test(candidate: Any, stable: Any) -> tuple[float, float, float]:
        # numpy, scipy and scikit-learn (the monitors extra): loaded when the drift gate first runs
        import numpy as np

        from llmgate.monitors.drift_results import DriftThresholds
        from llmgate.monitors.drift_statistics import domain_classifier, permutation_masks

        limits = DriftThresholds.from_mapping(overrides)
        ref = np.asarray(stable, dtype=np.float32)[-DRIFT_MAX_ROWS:]
        cur = np.asarray(candidate, dtype=np.float32)[-DRIFT_MAX_ROWS:]
        pooled = np.vstack([ref, cur])
        rng = np.random.default_rng(0)
        masks = permutation_masks(len(pooled), len(ref), DRIFT_PERMUTATIONS, rng)
        statistic = domain_classifier(pooled, masks, limits, 0)
        return statistic.value, float(statistic.p_value or 1.0), statistic.threshold

    return test
