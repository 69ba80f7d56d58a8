"""Running a suite against a model through the gateway, and storing what happened.

``run_suite`` sends every selected case (``repeat`` times) to the model through an
``openai.AsyncOpenAI`` client pointed at a gateway, at most ``concurrency`` at once, checks each
answer with the case's assertions, and returns a ``RunSummary``. Assertions that can score many
answers at once (``grounded``) go to a ``BatchScorer`` (``scoring.py``) as soon as the answer
arrives, and are scored in batches in a worker thread while the next model calls go on (the
outcomes are those of scoring each answer alone); the others are checked per answer, within the
case's ``concurrency`` slot (an ``llm_judge``'s calls count as the case's). With an engine it stores the run
as it starts (``running``) and its results when it ends: the suite's name, path, content hash
(sha256 of the file) and git commit (``git rev-parse HEAD`` in the file's folder, when it is in a
repository), the model, and per case and repetition the vars, output, every assertion's score,
the latency and the cost. A model call that fails makes that case an *error*; it never stops the
run. ``run_suite_file`` is the synchronous wrapper the CLI and the scheduler use: one run per model.

A case's status over its repetitions: ``failed`` if any repetition failed, else ``error`` if any
errored, else ``passed``; it is *flaky* when its repetitions disagree. A repetition passes when
every assertion passes; its score is the weighted mean of the assertion scores.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmgate.evals.assertions import Check, CheckError, Outcome, batchable, evaluate
from llmgate.evals.calls import Caller, ModelCallError, Pricer, Reply
from llmgate.evals.events import export_runs
from llmgate.evals.results import CaseResult, RunSummary
from llmgate.evals.scoring import BatchScorer
from llmgate.evals.suite import Case, Suite, SuiteError, load_suite

if TYPE_CHECKING:
    import openai
    from sqlalchemy.engine import Engine

    from llmgate.config import GatewayConfig
    from llmgate.evals.scorer_process import ScorerProcess

__all__ = ["CaseResult", "RunSummary", "git_commit", "run_suite", "run_suite_file"]

Progress = Callable[[int, int], None]


def git_commit(path: str | Path | None) -> str | None:
    """``HEAD`` of the git repository holding ``path`` (a file or folder), or ``None``."""
    if path is None:
        return None
    folder = Path(path)
    if not folder.is_dir():
        folder = folder.parent
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def _case_score(outcomes: list[Outcome]) -> float:
    total = sum(o.weight for o in outcomes)
    if not outcomes:
        return 1.0
    if total <= 0:
        return sum(o.score for o in outcomes) / len(outcomes)
    return sum(o.score * o.weight for o in outcomes) / total


class _CaseRunner:
    """Runs one case once: the model call, then its assertions."""

    def __init__(self, suite: Suite, model: str, caller: Caller, scorer: BatchScorer) -> None:
        self.suite = suite
        self.model = model
        self.caller = caller
        self.scorer = scorer
        self.params = suite.defaults.request_params()

    async def run(self, case: Case, repetition: int, slot: asyncio.Semaphore) -> CaseResult:
        """The case's model call and per-answer assertions within ``slot``; its batchable
        assertions are queued on the scorer and awaited outside it."""
        assert case.id is not None
        values = {**self.suite.defaults.vars, **case.vars}
        async with slot:
            try:
                reply, check = await self._answer(case, values)
            except ModelCallError as exc:
                return CaseResult(
                    case.id, repetition, values, None, "error", 0.0, error=str(exc), tags=list(case.tags)
                )
            specs = self.suite.assertions_for(case)
            queued = {k: self.scorer.submit(spec, check) for k, spec in enumerate(specs) if batchable(spec)}
            done = {k: await evaluate(spec, check) for k, spec in enumerate(specs) if k not in queued}
        done.update({k: await future for k, future in queued.items()})
        outcomes = [done[k] for k in range(len(specs))]
        errored = [o for o in outcomes if o.error is not None]
        status = "error" if errored else ("passed" if all(o.passed for o in outcomes) else "failed")
        return CaseResult(
            case_id=case.id,
            repetition=repetition,
            vars=values,
            tags=list(case.tags),
            output=reply.text,
            status=status,
            score=_case_score(outcomes),
            assertions=outcomes,
            latency_ms=reply.latency_ms,
            cost_usd=reply.cost_usd,
            error="; ".join(f"{o.type}: {o.error}" for o in errored) or None,
            request_id=reply.request_id,
        )

    async def _answer(self, case: Case, values: dict[str, Any]) -> tuple[Reply, Check]:
        """The answer to ``case`` and what its assertions see; ``ModelCallError`` when the call fails."""
        messages = self.suite.messages_for(case)
        reply = await self.caller.chat(self.model, messages, self.params)

        async def complete(msgs: list[dict[str, str]], model: str, params: dict[str, Any]) -> str:
            try:
                return (await self.caller.chat(model, msgs, params)).text
            except ModelCallError as exc:
                raise CheckError(f"{model}: {exc}") from exc

        async def sample(n: int, temperature: float) -> list[str]:
            params = {**self.params, "temperature": temperature}
            return await asyncio.gather(*(complete(messages, self.model, params) for _ in range(n)))

        check = Check(
            output=reply.text,
            question=self.suite.question_for(case),
            context=case.context_text,
            passages=case.passages,
            reference=case.reference,
            vars=values,
            latency_ms=reply.latency_ms,
            cost_usd=reply.cost_usd,
            model=self.model,
            judge_model=self.suite.defaults.judge_model,
            complete=complete,
            sample=sample,
        )
        return reply, check


async def run_suite(
    suite: Suite,
    *,
    model: str,
    client: openai.AsyncOpenAI,
    engine: Engine | None,
    concurrency: int = 4,
    repeat: int = 1,
    tags: list[str] | None = None,
    trigger: str = "cli",
    progress: Progress | None = None,
    suite_path: str | None = None,
    pricer: Pricer | None = None,
    scoring: ScorerProcess | None = None,
) -> RunSummary:
    """Run ``suite`` against ``model`` (see the module docstring); stores the run when ``engine`` is given.

    ``scoring``: a scorer process for the batchable assertions (else they are scored in a thread
    here); the run is stored once it is ready, and not at all if it cannot load (``ConfigError``).

    Raises ``SuiteError`` when no case has any of ``tags``, ``ValueError`` for a bad
    ``concurrency`` or ``repeat``, ``StoreError`` when the store cannot be written.
    """
    if concurrency < 1 or repeat < 1:
        raise ValueError("concurrency and repeat must be at least 1")
    cases = suite.select(tags)
    if not cases:
        raise SuiteError(f"suite {suite.name!r}: no case has any of the tags {', '.join(tags or [])}")
    path = suite_path or (str(suite.source_path) if suite.source_path else None)
    summary = RunSummary(
        run_id=uuid.uuid4().hex,
        suite=suite.name,
        suite_path=path,
        suite_hash=suite.content_hash,
        git_commit=await asyncio.to_thread(git_commit, path),
        model=model,
        trigger=trigger,
        status="running",
        started_at=datetime.now(UTC),
        repeat=repeat,
        description=suite.description,
        tags=list(tags or []),
    )
    caller = Caller(client, pricer)
    scorer = BatchScorer() if scoring is None else BatchScorer(score=scoring.score)
    runner = _CaseRunner(suite, model, caller, scorer)
    semaphore = asyncio.Semaphore(concurrency)
    total = len(cases) * repeat
    done = 0

    async def one(case: Case, repetition: int) -> CaseResult:
        nonlocal done
        result = await runner.run(case, repetition, semaphore)
        done += 1
        if progress is not None:
            progress(done, total)
        return result

    if progress is not None:
        progress(0, total)
    stored = False
    work = asyncio.ensure_future(asyncio.gather(*(one(case, rep) for case in cases for rep in range(repeat))))
    try:
        if scoring is not None:  # the model calls go on while the scorer process loads
            await asyncio.to_thread(scoring.wait_ready)
        if engine is not None:
            await asyncio.to_thread(_start, engine, summary)
            stored = True
        results = await work
    except BaseException:
        work.cancel()
        await asyncio.gather(work, return_exceptions=True)
        if stored:
            assert engine is not None
            _finish(engine, summary.ended("error", [], None, False))
        raise
    finally:
        await scorer.close()
    spent = caller.cost_usd if caller.calls else None
    finished = summary.ended(None, list(results), spent, caller.cost_complete)
    if engine is not None:
        await asyncio.to_thread(_finish, engine, finished)
    return finished


def _start(engine: Engine, summary: RunSummary) -> None:
    from llmgate.store import evals as store  # SQLAlchemy: only once a run is stored

    store.ensure_schema(engine)
    store.insert_run(engine, summary.run_row())


def _finish(engine: Engine, summary: RunSummary) -> None:
    """Store the run's results, and each assertion's score on the request it scored
    (``request_scores.py``)."""
    # SQLAlchemy: only once a run is stored
    from llmgate.evals.request_scores import request_score_rows, source_of
    from llmgate.store import evals as store
    from llmgate.store.scores import put_request_scores

    store.finish_run(engine, summary.run_id, summary.final_values(), summary.result_rows())
    put_request_scores(engine, source_of(summary.run_id), request_score_rows(summary))


def run_suite_file(
    path: str | Path,
    *,
    models: list[str] | None,
    base_url: str,
    api_key: str,
    engine: Engine | None,
    concurrency: int = 4,
    repeat: int = 1,
    tags: list[str] | None = None,
    trigger: str = "cli",
    config: GatewayConfig | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    timeout_s: float = 120.0,
    loaded: Suite | None = None,
    scoring: ScorerProcess | None = None,
) -> list[RunSummary]:
    """Load the suite at ``path`` and run it against each model (``models``, else the suite's).

    Synchronous: call it from a thread without a running event loop. ``config`` (optional) prices
    the calls; ``progress(model, done, total)`` is told as cases finish; ``loaded`` is the suite of
    ``path`` when the caller has loaded it already; ``scoring`` scores the batchable assertions in
    its process (``run_suite``). Raises ``SuiteError`` for an invalid suite or no
    model to run.
    """
    suite = loaded if loaded is not None else load_suite(path)
    chosen = list(models or suite.models)
    if not chosen:
        raise SuiteError(f"{path}: no model to run: list models: in the suite or pass --model")
    pricer = Pricer(config)
    resolved = str(Path(path).resolve())

    async def run_all() -> list[RunSummary]:
        # openai SDK: only once an eval calls the gateway, off loading a suite and the CLI's start-up
        import openai

        summaries: list[RunSummary] = []
        async with openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key, max_retries=0, timeout=timeout_s
        ) as client:
            for model in chosen:
                report: Progress | None = None
                if progress is not None:
                    report = _bind(progress, model)
                summaries.append(
                    await run_suite(
                        suite,
                        model=model,
                        client=client,
                        engine=engine,
                        concurrency=concurrency,
                        repeat=repeat,
                        tags=tags,
                        trigger=trigger,
                        progress=report,
                        suite_path=resolved,
                        pricer=pricer,
                        scoring=scoring,
                    )
                )
        return summaries

    summaries = asyncio.run(run_all())
    export_runs(summaries, config)
    return summaries


def _bind(progress: Callable[[str, int, int], None], model: str) -> Progress:
    return lambda done, total: progress(model, done, total)
