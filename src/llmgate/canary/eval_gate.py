"""The ``eval:PATH`` gates: an eval suite run against both arms before each promotion.

The suite is run through the gateway like any client (the ``evals`` package, which this package
must not import): the server injects an ``EvalGateRunner`` (``server/canary_eval.py``) that runs the
suite against the canary's model once per arm (the ``x-llmgate-canary-arm`` header, with the master
key) and compares the candidate's run with stable's by the paired regression test
(``evals/regression.py``): a regression fails the gate, anything else passes it.

``EvalGates`` runs a canary's eval gates once per step, in the background (a suite takes as long as
its calls): the controller asks for them when every live gate would promote, reads ``results``
every tick (``undecided`` while a run is going) and promotes once they pass. A run that raises is
``undecided`` and is tried again after ``retry_s``; without a runner the gates say ``no_data``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Sequence
from typing import Protocol

from llmgate.canary.gates import GateResult
from llmgate.config.canary_settings import EVAL_GATE_PREFIX

__all__ = ["EvalGateRunner", "EvalGates", "eval_gate_names"]

log = logging.getLogger("llmgate.canary")

RETRY_S = 60.0


class EvalGateRunner(Protocol):
    """Runs ``suite_path`` against ``model``'s ``arm`` (``candidate``) and stable, and compares them."""

    async def run(self, suite_path: str, model: str, arm: str) -> GateResult: ...


def eval_gate_names(gates: Sequence[str]) -> list[str]:
    return [gate for gate in gates if gate.startswith(EVAL_GATE_PREFIX)]


def _result(name: str, verdict: str, note: str) -> GateResult:
    return GateResult(name, verdict, None, None, None, None, 0, 0, None, note)  # type: ignore[arg-type]


@dataclasses.dataclass
class _Run:
    step: int
    task: asyncio.Task[GateResult] | None = None
    result: GateResult | None = None
    failure: GateResult | None = None  # the last run's failure (``undecided``), until one succeeds
    failed_at: float | None = None


class EvalGates:
    """Each canary's eval gate runs at its current step (see the module doc)."""

    def __init__(self, runner: EvalGateRunner | None, *, retry_s: float = RETRY_S) -> None:
        self.runner = runner
        self._retry_s = retry_s
        self._runs: dict[tuple[str, str], _Run] = {}

    def results(self, canary_id: str, step: int, gates: Sequence[str]) -> dict[str, GateResult]:
        """The eval gates' results at this step: a finished run's, ``undecided`` while one is going
        (or failed), none for a gate not run yet (``evaluate_gates`` says it runs before promotion)."""
        out: dict[str, GateResult] = {}
        for name in eval_gate_names(gates):
            if self.runner is None:
                out[name] = _result(name, "no_data", "no eval runner in this process")
                continue
            run = self._runs.get((canary_id, name))
            if run is None or run.step != step:
                continue
            if run.result is not None:
                out[name] = run.result
            elif run.task is not None and not run.task.done():
                out[name] = _result(name, "undecided", "eval suite running against both arms")
            elif run.failure is not None:
                out[name] = run.failure
        return out

    def start(self, canary_id: str, step: int, model: str, gates: Sequence[str]) -> None:
        """Start the runs this step still needs (one per gate; a failed one after ``retry_s``)."""
        if self.runner is None:
            return
        for name in eval_gate_names(gates):
            run = self._runs.get((canary_id, name))
            if run is not None and run.step == step:
                if run.result is not None or (run.task is not None and not run.task.done()):
                    continue
                if run.failed_at is not None and time.monotonic() - run.failed_at < self._retry_s:
                    continue
            if run is not None and run.task is not None and not run.task.done():
                run.task.cancel()  # a run of an earlier step
            failure = run.failure if run is not None and run.step == step else None
            run = _Run(step, failure=failure)
            self._runs[(canary_id, name)] = run
            run.task = asyncio.create_task(self._run(run, name, model), name=f"canary-eval:{canary_id}")

    async def _run(self, run: _Run, name: str, model: str) -> GateResult:
        assert self.runner is not None
        try:
            result = await self.runner.run(name[len(EVAL_GATE_PREFIX) :], model, "candidate")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the suite or the gateway failed: hold, try again later
            text = str(exc).splitlines()[0][:200] if str(exc) else ""
            note = f"eval run failed ({type(exc).__name__}: {text}); retried in {self._retry_s:g} s"
            log.warning("canary eval gate %s: %s", name, note)
            run.failed_at = time.monotonic()
            run.failure = _result(name, "undecided", note)
            return run.failure
        run.result = dataclasses.replace(result, name=name)
        return run.result

    def forget(self, canary_id: str) -> None:
        """Drop a canary's runs (it ended); a run still going is cancelled."""
        for key in [key for key in self._runs if key[0] == canary_id]:
            run = self._runs.pop(key)
            if run.task is not None and not run.task.done():
                run.task.cancel()

    async def close(self) -> None:
        tasks = [run.task for run in self._runs.values() if run.task is not None and not run.task.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        self._runs.clear()
