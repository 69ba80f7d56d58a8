"""Run eval suites on cron schedules (``llmgate.eval_schedules``) and alert on regressions.

``EvalScheduler`` lives on an asyncio loop (``llmgate serve``'s, or ``llmgate scheduler``'s own):
one timer task per schedule computes the next fire time from the cron expression (croniter, in
``llmgate.time_zone``; a sixth field is seconds), sleeps until then and starts the run. The runner
is synchronous and slow (it calls models through the gateway's HTTP API, like any client), so each
run goes to a thread of its own; the loop stays free for requests.

- A schedule never runs twice at once: a fire time that comes while its previous run is still
  going is logged and skipped (``skipped`` counts them), not queued.
- Missed fire times (the process was suspended, or a run outlasted several) are not caught up:
  the next fire time is always computed from now.
- The runner stores the run; the scheduler then compares it with its suite's baseline (unless the
  runner's summary carries the comparison already), in the same thread. A regression (when
  ``alert_on_regression``) raises an ``eval.regression`` alert with the flipped cases' old and new
  answers; a run that raised, or had cases end in errors, raises ``eval.error``. Alerts go to the
  ``alerts`` table and every sink (``telemetry/alerts.py``). What a run's summary says and the
  alerts it raises are built in ``evals/run_outcome.py``.
- ``lock_path``: schedules run only in the process holding an exclusive lock on that file (the
  gateway uses ``<spill_dir>/eval-scheduler.lock``), so with ``llmgate serve --workers N``, or a
  ``llmgate scheduler`` beside the gateway on the same host, exactly one process runs them. The
  others retry the lock every ``lock_retry_s`` and take over when its holder exits.
- ``stop()`` cancels the timers and waits up to ``grace_s`` for runs in progress; a run still
  going after that is abandoned (its daemon thread ends with the process) and raises no alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from croniter import croniter

from llmgate.evals.run_outcome import (
    RunOutcome,
    errors_alert,
    failure_alert,
    one_line,
    outcome_of,
    regression_alert,
)
from llmgate.telemetry.alerts import Alert, Sink, raise_alert, sinks_from_config
from llmgate.telemetry.leader import FileLock

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from llmgate.config.schema import EvalSchedule, GatewayConfig

log = logging.getLogger("llmgate.evals.scheduler")
T = TypeVar("T")


#: ``llmgate.evals.runner.run_suite_file`` or a stand-in with its signature.
RunFunction = Callable[..., Sequence[Any]]


def default_run(*args: Any, **kwargs: Any) -> Sequence[Any]:
    """``llmgate.evals.runner.run_suite_file``, imported when first needed."""
    # the runner (suites, assertions, the HTTP client) loads when the first scheduled run starts,
    # not when the gateway that hosts the scheduler starts
    from llmgate.evals.runner import run_suite_file

    result: Sequence[Any] = run_suite_file(*args, **kwargs)
    return result


def local_base_url(host: str, port: int) -> str:
    """The gateway's own ``/v1`` URL as seen from its host (``0.0.0.0`` and ``::`` mean loopback)."""
    if host in ("", "0.0.0.0", "::", "localhost"):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}/v1"


@dataclass
class _Job:
    schedule: EvalSchedule
    skipped: int = 0
    fired: int = 0
    run: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self.run is not None and not self.run.done()


async def _in_thread(fn: Callable[[], T], name: str) -> T:
    """Run ``fn`` in a daemon thread of its own (not the loop's executor, whose threads a loop
    shutdown waits for) and await its result."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():  # cancelled: nobody is waiting
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def target() -> None:
        result: T | None = None
        error: BaseException | None = None
        try:
            result = fn()
        except BaseException as exc:
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is closed
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=target, name=name, daemon=True).start()
    return await future


class EvalScheduler:
    """Fire each schedule's suite at its cron times; see the module docstring."""

    def __init__(
        self,
        schedules: Sequence[EvalSchedule],
        *,
        run: RunFunction | None = None,
        base_url: str,
        api_key: str,
        engine_factory: Callable[[], Engine] | None = None,
        sinks: Sequence[Sink] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        time_zone: str = "UTC",
        lock_path: Path | None = None,
        lock_retry_s: float = 30.0,
        grace_s: float = 5.0,
        config: GatewayConfig | None = None,
    ) -> None:
        self.jobs = [_Job(schedule) for schedule in schedules]
        self._config = config  # prices the runs' calls; its OpenTelemetry export gets their scores
        self._run = run if run is not None else default_run
        self.base_url = base_url
        self._api_key = api_key
        self._engine_factory = engine_factory
        self.sinks = list(sinks)
        self._clock = clock
        self._zone = ZoneInfo(time_zone)
        self._lock = FileLock(lock_path) if lock_path is not None else None
        self._lock_retry_s = lock_retry_s
        self._grace_s = grace_s
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._active = False

    @property
    def active(self) -> bool:
        """True while this process runs the schedules (it holds the lock, when there is one)."""
        return self._active

    def start(self) -> None:
        """Start the timers on the running loop (after taking the lock, when there is one)."""
        if self._tasks:
            return
        self._stopping = False
        for job in self.jobs:
            if not Path(job.schedule.suite).is_file():
                log.warning(
                    "eval schedule %r: suite file %s not found", job.schedule.label, job.schedule.suite
                )
        if self._lock is None or self._lock.acquire():
            self._start_timers()
        else:
            log.info("eval schedules run in another process (%s is locked); waiting", self._lock.path)
            self._tasks.append(asyncio.create_task(self._wait_for_lock(), name="eval-scheduler-lock"))

    def _start_timers(self) -> None:
        self._active = True
        for job in self.jobs:
            name = f"eval-schedule:{job.schedule.label}"
            self._tasks.append(asyncio.create_task(self._timer(job), name=name))
        log.info("eval scheduler running %d schedule(s) against %s", len(self.jobs), self.base_url)

    async def _wait_for_lock(self) -> None:
        assert self._lock is not None
        while not self._lock.acquire():  # noqa: ASYNC110 (polling a file lock: nothing to wait on)
            await asyncio.sleep(self._lock_retry_s)
        log.info("eval scheduler took over the schedules (%s)", self._lock.path)
        self._start_timers()

    async def stop(self) -> None:
        """Cancel the timers; wait up to ``grace_s`` for runs in progress, then abandon them."""
        self._stopping = True
        self._active = False
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        runs = [job.run for job in self.jobs if job.run is not None and not job.run.done()]
        if runs:
            _done, pending = await asyncio.wait(runs, timeout=self._grace_s)
            for task in pending:
                log.warning("eval run %s still going at shutdown; abandoned", task.get_name())
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._lock is not None:
            self._lock.release()

    def next_fire(self, job: _Job, after: datetime) -> datetime:
        """The first fire time of ``job`` strictly after ``after`` (aware, in UTC)."""
        start = after.astimezone(self._zone)
        fire: datetime = croniter(job.schedule.cron, start).get_next(datetime)
        return fire.astimezone(UTC)

    async def _timer(self, job: _Job) -> None:
        last = self._clock()
        while True:
            fire_at = self.next_fire(job, last)
            delay = (fire_at - self._clock()).total_seconds()
            if delay > 0:
                await asyncio.sleep(delay)
            last = max(fire_at, self._clock())  # never fire one time twice, nor catch up missed ones
            self.fire(job, fire_at)

    def fire(self, job: _Job, fire_at: datetime | None = None) -> bool:
        """Start ``job``'s run now unless it is still running; returns whether it started."""
        if job.running:
            job.skipped += 1
            log.warning(
                "eval schedule %r: previous run still going at %s; skipped this one",
                job.schedule.label,
                (fire_at or self._clock()).isoformat(timespec="seconds"),
            )
            return False
        job.fired += 1
        job.run = asyncio.create_task(self._execute(job), name=f"eval-run:{job.schedule.label}:{job.fired}")
        return True

    async def _execute(self, job: _Job) -> None:
        schedule, name = job.schedule, job.schedule.label
        engine: Engine | None = None

        def run_and_compare() -> list[RunOutcome]:
            nonlocal engine  # made here: the first one imports SQLAlchemy, not on the loop
            engine = self._engine_factory() if self._engine_factory is not None else None
            summaries = self._run(
                schedule.suite,
                models=list(schedule.models) if schedule.models else None,
                base_url=self.base_url,
                api_key=self._api_key,
                engine=engine,
                concurrency=schedule.concurrency,
                repeat=schedule.repeat,
                tags=None,
                trigger="schedule",
                config=self._config,
            )
            return [outcome_of(summary, engine) for summary in summaries]

        try:
            log.info("eval schedule %r: running %s", name, schedule.suite)
            outcomes = await _in_thread(run_and_compare, f"llmgate-eval-{name}")
        except Exception as exc:
            if self._stopping:
                return
            problem = one_line(exc)
            log.warning("eval schedule %r: the run failed: %s", name, problem)
            await self._alert(engine, failure_alert(name, schedule.suite, problem))
            return
        if self._stopping:
            return
        for outcome in outcomes:
            await self._report(job, outcome, engine)

    async def _report(self, job: _Job, run: RunOutcome, engine: Engine | None) -> None:
        regressed = run.comparison is not None and run.comparison.regression
        log.info(
            "eval schedule %r: run %s of %s on %s: %d passed, %d failed, %d errors%s",
            job.schedule.label,
            run.run_id,
            run.suite,
            run.model,
            run.passed,
            run.failed,
            run.errors,
            "; REGRESSION against the baseline" if regressed else "",
        )
        if run.errors:
            await self._alert(engine, errors_alert(run, schedule=job.schedule.label))
        if regressed and job.schedule.alert_on_regression:
            await self._alert(engine, regression_alert(run, schedule=job.schedule.label))

    async def _alert(self, engine: Engine | None, alert: Alert) -> None:
        await raise_alert(alert, engine=engine, sinks=self.sinks)


def scheduler_from_config(
    config: GatewayConfig,
    *,
    base_url: str,
    api_key: str,
    engine_factory: Callable[[], Engine] | None,
    run: RunFunction | None = None,
    lock: bool = True,
) -> EvalScheduler:
    """The scheduler ``llmgate serve`` and ``llmgate scheduler`` run: the config's schedules, its
    alert sinks and time zone, and (``lock``) the lock file in its spill directory."""
    settings = config.llmgate
    spill_dir = Path(settings.spill_dir or ".llmgate-spill")
    return EvalScheduler(
        settings.eval_schedules,
        run=run,
        base_url=base_url,
        api_key=api_key,
        engine_factory=engine_factory,
        sinks=sinks_from_config(settings.alerts),
        time_zone=settings.time_zone,
        lock_path=spill_dir / "eval-scheduler.lock" if lock else None,
        config=config,
    )
