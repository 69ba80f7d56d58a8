"""What a virtual key may do, checked before the upstream is called, and settled after.

``admit`` runs on the request path for requests made with a virtual key (the master key and an
open gateway have no limits): the model allow-lists of the key and its team (403), requests per
minute and tokens per minute of each (429 with ``Retry-After`` and OpenAI's ``x-ratelimit-*``
headers), then the budgets of the key, its team and its user for the current period (429
``budget_exceeded``). ``settle`` adds the answer's tokens and cost to the counters once the
answer is complete; the cost is computed exactly as the stored record's (``to_row``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from llmgate.auth.limits import Limits, RateState, ratelimit_headers
from llmgate.errors import BudgetExceeded, LimitExceeded, PermissionDenied

if TYPE_CHECKING:
    from llmgate.store.keys import KeyRow, TeamRow

log = logging.getLogger("llmgate.auth")

DEFAULT_PERIOD = "monthly"


@dataclass(slots=True)
class Admission:
    """The scopes one admitted request is counted against."""

    token_scopes: list[str] = field(default_factory=list)  # key:<id> / team:<id> with a tpm
    budget_scopes: list[tuple[str, float]] = field(default_factory=list)  # (scope, period start)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def counts(self) -> bool:
        return bool(self.token_scopes or self.budget_scopes)


@dataclass(frozen=True, slots=True)
class _Budget:
    scope: str
    column_scope: str  # key | team | user (the requests column summed)
    owner: str
    amount: Decimal
    period: str


class Enforcer:
    def __init__(
        self,
        limits: Limits,
        *,
        time_zone: str,
        stored_spend: Callable[[str, str, datetime], Awaitable[Decimal]],
        user_budget: tuple[Decimal, str] | None = None,
    ) -> None:
        self._limits = limits
        self._tz = time_zone
        self._stored_spend = stored_spend  # (scope kind, owner id, period start) -> Decimal
        self._user_budget = user_budget
        self._pending: set[asyncio.Task[None]] = set()

    async def admit(self, key: KeyRow, team: TeamRow | None, user: str | None, model: str) -> Admission:
        for owner, allowed in (("key", key.models), ("team", team.models if team else None)):
            if allowed is not None and model not in allowed:
                raise PermissionDenied(
                    f"This {owner} may not use model '{model}'. Allowed: {', '.join(allowed) or 'none'}.",
                    code="model_not_allowed",
                    param="model",
                )
        admission = Admission()
        requests_state: RateState | None = None
        tokens_state: RateState | None = None
        for scope, rpm, tpm in (
            (f"key:{key.id}", key.rpm, key.tpm),
            *((f"team:{team.id}", team.rpm, team.tpm) for team in ([team] if team else [])),
        ):
            if rpm:
                state = await self._limits.hit(scope, rpm)
                requests_state = _tighter(requests_state, state)
                if not state.allowed:
                    message = f"Rate limit reached: {rpm} requests per minute"
                    raise self._limited(message, state, requests_state, tokens_state)
            if tpm:
                state = await self._limits.tokens(scope, tpm)
                tokens_state = _tighter(tokens_state, state)
                if not state.allowed:
                    message = f"Rate limit reached: {tpm} tokens per minute"
                    raise self._limited(message, state, requests_state, tokens_state)
                admission.token_scopes.append(scope)
        admission.headers = ratelimit_headers(requests_state, tokens_state)
        for budget in self._budgets(key, team, user):
            start, end = _period(budget.period, self._tz)
            seed = functools.partial(self._stored_spend, budget.column_scope, budget.owner, start)
            spent = await self._limits.spent(budget.scope, start.timestamp(), seed)
            if spent >= budget.amount:
                retry = max(1.0, (end - datetime.now(UTC)).total_seconds())
                raise BudgetExceeded(
                    f"Budget exceeded for {budget.column_scope} '{budget.owner}': spent ${spent:.6f} of "
                    f"${budget.amount} this {budget.period.removesuffix('ly').replace('dai', 'day')} period.",
                    retry_after=retry,
                )
            admission.budget_scopes.append((budget.scope, start.timestamp()))
        return admission

    def settle(self, admission: Admission, cost: Decimal | None, tokens: int | None) -> None:
        """Count a finished answer (from the event loop; the counting runs as a task)."""
        if not admission.counts:
            return
        task = asyncio.get_running_loop().create_task(self._settle(admission, cost, tokens))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _settle(self, admission: Admission, cost: Decimal | None, tokens: int | None) -> None:
        try:
            for scope in admission.token_scopes:
                await self._limits.add_tokens(scope, tokens or 0)
            if cost:
                for scope, start in admission.budget_scopes:
                    await self._limits.add_spend(scope, start, cost)
        except Exception as exc:  # Redis down: the store still has the spend
            log.warning("could not count spend or tokens (%s)", type(exc).__name__)

    async def drain(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    def _budgets(self, key: KeyRow, team: TeamRow | None, user: str | None) -> list[_Budget]:
        budgets = []
        if key.budget_usd is not None:
            period = key.budget_period or DEFAULT_PERIOD
            budgets.append(_Budget(f"key:{key.id}", "key", key.id, key.budget_usd, period))
        if team is not None and team.budget_usd is not None:
            period = team.budget_period or DEFAULT_PERIOD
            budgets.append(_Budget(f"team:{team.id}", "team", team.id, team.budget_usd, period))
        if user and self._user_budget is not None:
            amount, period = self._user_budget
            budgets.append(_Budget(f"user:{user}", "user", user, amount, period))
        return budgets

    @staticmethod
    def _limited(
        message: str, state: RateState, requests: RateState | None, tokens: RateState | None
    ) -> LimitExceeded:
        return LimitExceeded(
            message + f"; try again in {max(1, round(state.reset_s))} s.",
            retry_after=max(1.0, state.reset_s),
            headers=ratelimit_headers(requests, tokens),
        )


def _tighter(current: RateState | None, new: RateState) -> RateState:
    return new if current is None or new.remaining < current.remaining else current


def _period(period: str, tz: str) -> tuple[datetime, datetime]:
    from llmgate.store.spend import period_bounds

    return period_bounds(period, datetime.now(UTC), tz)
