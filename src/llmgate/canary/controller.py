"""The canary controller: inside ``llmgate serve``, one replica evaluates every canary and acts.

Every ``interval_s`` (``llmgate.canary_controller``) ``tick`` first asks ``leader.py`` for the lead
(Redis when configured, else a lock file per host); the others do nothing but follow the table
(``state.py``). A process that takes the lead creates the config's canaries that the store does not
have yet (``llmgate.canaries``, with the hash of their definition; one whose definition changed
since keeps running as stored, with a warning) and rebuilds its evidence from the store.

For each running or paused canary, each tick:

1. reads its new requests and monitor samples (``evidence_reader.py``, in a thread);
2. computes every gate (``gates.evaluate_gates``, in a thread: the drift test is numpy work) and
   decides (``decide.decide``). The eval gates run before a promotion only: when every live gate
   would promote, the suites start (``eval_gate.py``) and the canary holds until they pass. While
   the monitors sample the model (``monitored``, from the config) but have sampled no request of
   an arm yet, a promotion waits too: the quality gates' ``no_data`` then means "not scored yet"
   (the monitor runs every ``monitors.interval_s``), not "no signal";
3. keeps the evaluation on the canary (``last_evaluation``: the dashboard and ``status`` show it),
   and writes an ``evaluate`` event at most every ``event_every_s`` (the decision log);
4. acts: **rollback** (any gate fails; a paused canary too: pausing stops promotions, not the
   protection) puts the candidate at 0 %, status ``rolled_back``, raises ``canary.rolled_back``
   (critical, to the ``alerts`` table with the canary's first candidate request as
   ``first_affected_at`` and the rollback as ``resolved_at``, and to every sink) with the failing
   gates' numbers and the candidate's traffic; **promote** moves to the next step, or at the last
   (100 %) marks the canary ``promoted`` and raises ``canary.promoted`` (info). Every change is
   written with the version it was decided on (a change made meanwhile by hand wins) and
   published (``state.publish``), so every replica's table follows within a second.

It never raises into the server: a failure is logged and the next tick tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from llmgate.canary.decide import Decision, decide
from llmgate.canary.eval_gate import EvalGateRunner, EvalGates, eval_gate_names
from llmgate.canary.evidence_reader import LATE_EVERY_S, LOOKBACK_S, SETTLE_S, EvidenceReader
from llmgate.canary.gates import DriftTest, GateResult, evaluate_gates
from llmgate.canary.leader import Leadership
from llmgate.canary.notices import promoted_alert, rolled_back_alert, store_rollback_alert
from llmgate.canary.rows import config_hash, evaluation, next_step, settings_row
from llmgate.canary.state import apublish
from llmgate.config.canary_settings import EVAL_GATE_PREFIX
from llmgate.errors import InvalidRequest, StoreError
from llmgate.telemetry.alerts import Sink, raise_alert

if TYPE_CHECKING:
    import numpy as np
    from sqlalchemy import Engine

    from llmgate.config.canary_settings import CanarySettings
    from llmgate.store.canaries import CanaryRow

__all__ = ["ACTOR", "CanaryController"]

log = logging.getLogger("llmgate.canary")

ACTOR = "controller"
#: at most one ``evaluate`` event per canary this often (decisions are events of their own)
EVENT_EVERY_S = 5.0
#: how long the store may fail before a warning (at start-up its schema may still be being made)
STORE_WARN_AFTER_S = 10.0
#: the drift test runs again when an arm's answer embeddings grew by this share since the last run
DRIFT_GROWTH = 0.25
#: the gates fed by the monitors' samples
MONITOR_GATES = frozenset({"groundedness", "context_relevance", "answer_relevance", "response_drift"})


class _CachedDrift:
    """One canary's drift test, run again only when an arm's embeddings grew by ``DRIFT_GROWTH``."""

    def __init__(self, test: DriftTest) -> None:
        self._test = test
        self._sizes = (0, 0)
        self._last: tuple[float, float, float] | None = None

    def __call__(
        self, cand: np.ndarray[Any, Any], stable: np.ndarray[Any, Any]
    ) -> tuple[float, float, float]:
        sizes = (len(cand), len(stable))
        grown = any(
            now >= before * (1 + DRIFT_GROWTH) + 1 for now, before in zip(sizes, self._sizes, strict=True)
        )
        if self._last is None or grown:
            self._last = self._test(cand, stable)
            self._sizes = sizes
        return self._last


@dataclasses.dataclass
class _Canary:
    reader: EvidenceReader
    drift: _CachedDrift | None
    last_event: float = 0.0


class CanaryController:
    """See the module doc. ``tick`` is one pass (tests call it); ``start`` runs it every interval."""

    def __init__(
        self,
        engine_factory: Callable[[], Engine],
        leadership: Leadership,
        *,
        canaries: Sequence[CanarySettings] = (),
        interval_s: float = 1.0,
        sinks: Sequence[Sink] = (),
        eval_runner: EvalGateRunner | None = None,
        drift: DriftTest | None = None,
        redis_url: str | None = None,
        on_change: Callable[[], None] | None = None,
        monitored: Callable[[str], bool] | None = None,
        lookback_s: float = LOOKBACK_S,
        settle_s: float = SETTLE_S,
        late_every_s: float = LATE_EVERY_S,
        event_every_s: float = EVENT_EVERY_S,
    ) -> None:
        self._engine_factory = engine_factory
        self._leadership = leadership
        self._settings = list(canaries)
        self.interval_s = interval_s
        self._sinks = list(sinks)
        self._evals = EvalGates(eval_runner)
        self._drift = drift
        self._redis_url = redis_url
        self._on_change = on_change
        self._monitored = monitored  # model -> whether the monitors sample its requests
        self._lookback_s = lookback_s
        self._settle_s = settle_s
        self._late_every_s = late_every_s
        self._event_every_s = event_every_s
        self._canaries: dict[str, _Canary] = {}
        self._configured = False
        self.leading = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="llmgate-canary-controller")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._evals.close()
        await self._leadership.release()
        self.leading = False

    async def _loop(self) -> None:
        failing_since: float | None = None
        warned = False
        while True:
            started = time.monotonic()
            try:
                await self.tick()
                if warned:
                    log.info("canary controller: the store answers again")
                failing_since, warned = None, False
            except StoreError as exc:  # the store is away (or not made yet, at start-up): wait for it
                failing_since = started if failing_since is None else failing_since
                if not warned and started - failing_since >= STORE_WARN_AFTER_S:
                    log.warning("canary controller: no decisions while the store fails: %s", exc.message)
                    warned = True
            except Exception:  # never into the server: the next tick tries again
                log.exception("canary controller: the evaluation failed; trying again")
            await asyncio.sleep(max(0.0, self.interval_s - (time.monotonic() - started)))

    async def tick(self) -> None:
        """Take or keep the lead; when leading, evaluate every active canary once and act."""
        if not await self._leadership.acquire():
            if self.leading:
                log.info("canary controller: another process decides the canaries now")
                self._forget_all()
            self.leading = False
            return
        if not self.leading:
            log.info("canary controller: this process decides the canaries")
            self._forget_all()
            self.leading = True
        if not self._configured:
            started = await asyncio.to_thread(self._create_config_canaries)
            self._configured = True
            for canary_id in started:
                await self._published(canary_id)
        rows = await asyncio.to_thread(self._active)
        for gone in set(self._canaries) - {row.id for row in rows}:
            self._forget(gone)
        for row in rows:
            try:
                await self._evaluate(row)
            except InvalidRequest as exc:  # changed by hand meanwhile: that change stands
                if exc.code != "conflict":
                    raise
                log.info("canary %s changed while being evaluated; evaluated again next tick", row.id)
            except Exception:  # one canary's failure does not stop the others
                log.exception("canary %s: evaluation failed; trying again next tick", row.id)

    def _forget(self, canary_id: str) -> None:
        self._canaries.pop(canary_id, None)
        self._evals.forget(canary_id)

    def _forget_all(self) -> None:
        for canary_id in list(self._canaries):
            self._forget(canary_id)
        self._configured = False

    # --- the store (in threads) -------------------------------------------------------------------

    def _active(self) -> list[CanaryRow]:
        # SQLAlchemy (the store): off the gateway's start-up, loaded in this thread
        from llmgate.store.canaries import list_canaries

        return list_canaries(self._engine_factory(), active_only=True)

    def _create_config_canaries(self) -> list[str]:
        """Start the config's canaries the store does not have; returns their ids."""
        # SQLAlchemy (the store): off the gateway's start-up, loaded in this thread
        from llmgate.store.canaries import insert_canary, list_canaries

        started: list[str] = []
        if not self._settings:
            return started
        engine = self._engine_factory()
        stored = {row.id: row for row in list_canaries(engine)}
        for settings in self._settings:
            digest = config_hash(settings)
            old = stored.get(settings.id)
            if old is None:
                try:
                    insert_canary(
                        engine, settings_row(settings, source="config", config_hash=digest), "config"
                    )
                except InvalidRequest as exc:
                    log.warning("config canary %s not started: %s", settings.id, exc.message)
                    continue
                log.info(
                    "config canary %s started on %s at %g%%", settings.id, settings.model, settings.steps[0]
                )
                started.append(settings.id)
            elif old.config_hash != digest:
                log.warning(
                    "config canary %s differs from the stored one (%s, %s): the stored one stands; "
                    "give the new definition another id to start it",
                    settings.id,
                    old.source,
                    old.status,
                )
        return started

    # --- one canary ---------------------------------------------------------------------------------

    async def _evaluate(self, row: CanaryRow) -> None:
        canary = self._canaries.get(row.id)
        if canary is None:
            reader = EvidenceReader(
                row.id,
                self._engine_factory,
                lookback_s=self._lookback_s,
                settle_s=self._settle_s,
                late_every_s=self._late_every_s,
            )
            canary = _Canary(reader, _CachedDrift(self._drift) if self._drift is not None else None)
            self._canaries[row.id] = canary
        await asyncio.to_thread(canary.reader.update, row.step_started_at)
        evals = self._evals.results(row.id, row.step_index, row.gates)
        results = await asyncio.to_thread(self._gates, row, canary, evals)
        step_requests = canary.reader.step_requests(row.step_started_at)
        decision = decide(results, step_requests, row.min_step_requests)
        pending = [
            name
            for name in eval_gate_names(row.gates)
            if name not in evals or evals[name].verdict == "undecided"
        ]
        if decision.action == "hold" and pending:
            live = [r for r in results if not r.name.startswith(EVAL_GATE_PREFIX)]
            if decide(live, step_requests, row.min_step_requests).action == "promote":
                self._evals.start(row.id, row.step_index, row.model, row.gates)
                decision = Decision(
                    "hold", f"live gates pass; eval gate(s) {', '.join(pending)} before promoting"
                )
        if row.status == "paused" and decision.action == "promote":
            decision = Decision("hold", "paused: no promotion until resumed")
        if decision.action == "promote" and self._awaiting_monitors(row, canary.reader):
            decision = Decision("hold", "waiting for the monitors' first samples of each arm's requests")
        if decision.action != "rollback" and row.percent >= 100 and row.status == "running":
            decision = Decision("promote", "at 100%: the candidate serves all traffic")
        done = evaluation(
            row,
            step_requests=step_requests,
            candidate_requests=canary.reader.candidate_requests,
            stable_requests=canary.reader.stable_requests,
            results=results,
            decision=decision,
        )
        if decision.action == "rollback":
            await self._rollback(row, canary.reader, results, decision, done)
        elif decision.action == "promote":
            await self._promote(row, decision, done)
        else:
            await asyncio.to_thread(self._keep, row, canary, done)

    def _awaiting_monitors(self, row: CanaryRow, reader: EvidenceReader) -> bool:
        if self._monitored is None or not MONITOR_GATES.intersection(row.gates):
            return False
        arms = (reader.evidence.candidate, reader.evidence.stable)
        return self._monitored(row.model) and min(arm.quality_samples for arm in arms) == 0

    def _gates(self, row: CanaryRow, canary: _Canary, evals: dict[str, GateResult]) -> list[GateResult]:
        return evaluate_gates(
            canary.reader.evidence, row.gates, row.tolerances, row.alpha, canary.drift, evals
        )

    def _keep(self, row: CanaryRow, canary: _Canary, done: dict[str, Any]) -> None:
        # SQLAlchemy (the store): off the gateway's start-up, loaded in this thread
        from llmgate.store.canaries import save_evaluation

        now = time.monotonic()
        if now - canary.last_event >= self._event_every_s:
            canary.last_event = now
            self._change(row, "evaluate", done, done, {})
        else:
            save_evaluation(self._engine_factory(), row.id, done)

    async def _rollback(
        self,
        row: CanaryRow,
        reader: EvidenceReader,
        results: list[GateResult],
        decision: Decision,
        done: dict[str, Any],
    ) -> None:
        at = datetime.now(UTC)
        changes = {"status": "rolled_back", "percent": 0.0, "ended_at": at}
        await asyncio.to_thread(
            self._change, row, "rollback", done | {"reason": decision.reason}, done, changes
        )
        await self._published(row.id)
        first = reader.first_candidate_at
        alert = rolled_back_alert(
            row, reason=decision.reason, results=results, evaluation=done, first_affected_at=first, at=at
        )
        await asyncio.to_thread(store_rollback_alert, self._engine_factory(), alert, first)
        await raise_alert(alert, engine=None, sinks=self._sinks)
        log.warning("canary %s rolled back: %s", row.id, decision.reason)
        self._forget(row.id)

    async def _promote(self, row: CanaryRow, decision: Decision, done: dict[str, Any]) -> None:
        at = datetime.now(UTC)
        action, changes = next_step(row, at)
        new = await asyncio.to_thread(
            self._change, row, action, done | {"reason": decision.reason}, done, changes
        )
        await self._published(row.id)
        log.info("canary %s: %s to %g%% (%s)", row.id, action, new.percent, decision.reason)
        if action == "promote":
            self._forget(row.id)
            alert = promoted_alert(row, reason=decision.reason, evaluation=done, at=at)
            await raise_alert(alert, engine=self._engine_factory(), sinks=self._sinks)

    def _change(
        self,
        row: CanaryRow,
        action: str,
        details: dict[str, Any],
        done: dict[str, Any],
        changes: dict[str, Any],
    ) -> CanaryRow:
        # SQLAlchemy (the store): off the gateway's start-up, loaded in the thread this runs in
        from llmgate.store.canaries import update_canary

        return update_canary(
            self._engine_factory(),
            row.id,
            actor=ACTOR,
            action=action,
            expected_version=row.version,
            details=details,
            last_evaluation=done,
            **changes,
        )

    async def _published(self, canary_id: str) -> None:
        await apublish(self._redis_url, canary_id)
        if self._on_change is not None:
            self._on_change()
