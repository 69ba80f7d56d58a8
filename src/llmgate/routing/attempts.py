"""The retry/fallback loop: try deployments until one answers, by the table in ``policy.py``.

The loop knows nothing of HTTP, bodies or records. It is given the request's model group, an
*attempt function* (deployment, timeout → the answer, or a ``ProviderError``) and a *trail* (the
list each try is appended to, in order, as built by the ``record`` function it was made with: the
gateway's ``Attempt`` rows of the call), and it decides the rest:

- each model group (the requested one, then its ``fallbacks``) gets ``1 + num_retries`` tries, each
  one picked by the router (which skips deployments cooling down and, while others remain, those
  that already failed this request); a deployment tried again waits an exponential backoff first;
- every try is reported to the deployment's health (in flight, success and latency, failure);
- a context-window or content-policy 400 jumps to that kind of fallback, or is answered as it came;
  the caller's own errors are answered as they came, never retried;
- when every deployment of the last group is cooling down after a 429, its ``Retry-After`` is
  waited out in the request if it is short (``MAX_RETRY_AFTER_WAIT_S``) and the deadline allows;
- a ``via`` group (a canary's candidate arm, ``canaries.py``) is tried before the model's own:
  whatever it fails with, even the caller's kind of error, the request goes on to the model's group
  and its fallbacks as if it had come for them (the app never sees the candidate fail).

It raises the last ``ProviderError`` when nothing answered, ``RequestTimeout`` when the request's
``request_timeout`` passed, and ``NoDeploymentAvailable`` when every deployment was cooling down.
The clock, the sleep and the random source are injected, so tests run it without waiting.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from llmgate.config.deployment import Deployment
from llmgate.config.schema import RoutingPolicy
from llmgate.errors import NoDeploymentAvailable, ProviderError, RateLimited, RequestTimeout, UpstreamTimeout
from llmgate.routing.policy import Action, classify, counts_as_failure
from llmgate.routing.policy import retry_after as retry_after_of
from llmgate.routing.router import Router

__all__ = ["Attempts", "Record"]

T = TypeVar("T")
A = TypeVar("A")

DEFAULT_TIMEOUT_S = 600.0  # per attempt, unless the deployment or router_settings.timeout says
FIRST_BACKOFF_S = 0.1
MAX_BACKOFF_S = 5.0
#: a 429's Retry-After is waited out in the request (when no fallback is left) up to this long
MAX_RETRY_AFTER_WAIT_S = 10.0


#: one try as the trail keeps it: (deployment, its failure or None, started ms after the request, latency ms)
Record = Callable[[Deployment, ProviderError | None, float, float], A]


class Attempts(Generic[A]):
    """The loop, built once per gateway from its router, ``router_settings`` and ``record``."""

    def __init__(
        self,
        router: Router,
        policy: RoutingPolicy,
        record: Record[A],
        *,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._router = router
        self._record = record
        self._num_retries = policy.num_retries
        self._request_timeout = policy.request_timeout
        self._least_backoff = float(policy.retry_after)
        self._default_timeout = policy.attempt_timeout or DEFAULT_TIMEOUT_S
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()

    def timeout(self, deployment: Deployment, stream: bool) -> float:
        """One attempt's timeout: the deployment's own, else ``router_settings.timeout``, else 600 s."""
        if stream and deployment.stream_timeout:
            return deployment.stream_timeout
        return deployment.timeout or self._default_timeout

    def backoff(self, tries: int) -> float:
        """Exponential backoff with jitter before trying a deployment that failed this request."""
        base: float = min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2.0 ** max(0, tries - 1))
        return max(self._least_backoff, base * self._rng.uniform(0.5, 1.0))

    async def first_answer(
        self,
        model: str,
        attempt: Callable[[Deployment, float], Awaitable[T]],
        trail: list[A],
        *,
        started: float,
        stream: bool = False,
        via: str | None = None,
    ) -> T:
        """The first answer of ``model``'s deployments (then its fallbacks'); each try appended to
        ``trail``. ``started`` is the request's arrival on the loop's clock (its deadline counts from it).
        ``via``: a group tried first, whose failures all move on to ``model``'s."""
        router, health, clock, record = self._router, self._router.health, self._clock, self._record
        deadline = started + self._request_timeout
        if via is not None and via != model:
            groups = [via, model]
        else:
            groups, via = [model], None
        fallbacks = True  # the model's fallbacks still to be added once its group is done
        visited: list[str] = []
        last: ProviderError | None = None
        while groups or fallbacks:
            if not groups:  # asked for only now: most requests never need them
                groups, fallbacks = router.fallbacks_for(model), False
                continue
            group = groups.pop(0)
            if group in visited:
                continue
            visited.append(group)
            failed: set[str] = set()
            tries = 0
            while tries <= self._num_retries:
                deployment = router.pick(group, failed)
                if deployment is None and group == via and tries == 0:
                    # a canary's candidate cooling down: its turn is a failed attempt on the record,
                    # so the candidate's error gate sees what its circuit saw (canary/gates.py)
                    trail.append(
                        record(router.group(via)[0], _cooling(router, via), (clock() - started) * 1000, 0.0)
                    )
                if deployment is None:  # all cooling down: wait for a 429's Retry-After if it is short
                    wait = router.soonest_available_in([group])
                    if fallbacks and not groups:  # a group may follow: it is asked instead of waiting
                        groups, fallbacks = router.fallbacks_for(model), False
                    if groups or last is None or not isinstance(last, RateLimited):
                        break
                    if clock() + wait >= deadline or wait > MAX_RETRY_AFTER_WAIT_S:
                        break
                    await self._sleep(wait)
                    continue
                if deployment.id in failed:
                    wait = self.backoff(tries)
                    if clock() + wait >= deadline:
                        raise self._timed_out(len(trail))
                    await self._sleep(wait)
                t0 = clock()
                remaining = deadline - t0
                if remaining <= 0:
                    raise self._timed_out(len(trail))
                tries += 1
                health.begin(deployment.id)
                try:
                    result = await attempt(deployment, min(self.timeout(deployment, stream), remaining))
                except ProviderError as exc:
                    trail.append(record(deployment, exc, (t0 - started) * 1000, (clock() - t0) * 1000))
                    health.failure(
                        deployment.id,
                        exc.error_type,
                        counts=counts_as_failure(exc),
                        retry_after=retry_after_of(exc),
                    )
                    last = exc
                    action = classify(exc)
                    if group == via and action is not Action.RETRY:
                        break  # the candidate refused it: the model's own group is asked
                    if action is Action.CALLER:
                        raise
                    if action is not Action.RETRY:
                        special = (
                            router.context_window_fallbacks_for(model)
                            if action is Action.CONTEXT_WINDOW
                            else router.content_policy_fallbacks_for(model)
                        )
                        if not [g for g in special if g not in visited]:
                            raise
                        groups, fallbacks = special, False
                        break
                    if isinstance(exc, UpstreamTimeout) and clock() >= deadline - 0.001:
                        raise self._timed_out(len(trail)) from exc
                    failed.add(deployment.id)
                    continue
                except BaseException:
                    health.release(deployment.id)
                    raise
                latency_ms = (clock() - t0) * 1000
                health.success(deployment.id, latency_ms)
                trail.append(record(deployment, None, (t0 - started) * 1000, latency_ms))
                return result
        if last is not None:
            raise last
        wait = router.soonest_available_in(visited)
        raise NoDeploymentAvailable(
            f"Every deployment for model '{model}' is cooling down after failures; "
            f"try again in {max(1, round(wait))} s.",
            retry_after=wait,
        )

    def _timed_out(self, made: int) -> RequestTimeout:
        return RequestTimeout(
            f"The request did not complete within its {self._request_timeout:g} s deadline "
            f"({made} attempt(s) made)."
        )


def _cooling(router: Router, group: str) -> NoDeploymentAvailable:
    wait = router.soonest_available_in([group])
    return NoDeploymentAvailable(
        f"Every deployment of '{group}' is cooling down after failures.", retry_after=wait
    )
