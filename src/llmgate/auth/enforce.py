"""What a virtual key may do, checked before the upstream is called, and settled after.

``admit`` runs on the request path for requests made with a virtual key (the master key and an
open gateway have no limits): the model allow-lists of the key, its team and its internal user
(403), the key's requests in flight in this process (``max_parallel``, 429 past it; ``settle``
gives the slot back), requests per minute and tokens per minute of each (429 with ``Retry-After``
and OpenAI's ``x-ratelimit-*`` headers), then the budgets of the key, its team and its user for
the current period (429 ``budget_exceeded``; a user's budget is its internal user's own, else
``llmgate.user_budget_usd``, read from the ``KeyRegistry``'s copy: no store query): admission
reserves the request's worst-case cost in each budget, and refuses a request that does not fit
beside those in flight (``budgets.py``). The rate limits and the budgets are one call to the
limits backend: one script in Redis, sent with the other admissions of the same loop turn.
``settle`` releases the reservation and adds the answer's tokens and real cost to the counters
once the answer is complete, or the call failed; the cost is computed exactly as the stored
record's (``to_row``). It is called on every path, and counts once.
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

from llmgate.auth.budgets import BudgetCheck, Refusal, Reservation
from llmgate.auth.limits import Checked, Limits, LimitScope, RateState, ratelimit_headers
from llmgate.config.budget_periods import PERIOD_NAMES, period_bounds
from llmgate.config.model_patterns import allowed_by
from llmgate.errors import BudgetExceeded, LimitExceeded, PermissionDenied
from llmgate.store.money import usd

if TYPE_CHECKING:
    from llmgate.store.keys import KeyRow, TeamRow
    from llmgate.store.users import UserRow

log = logging.getLogger("llmgate.auth")

DEFAULT_PERIOD = "monthly"


@dataclass(slots=True)
class Admission:
    """The scopes one admitted request is counted against."""

    token_scopes: list[str] = field(default_factory=list)  # key:<id> / team:<id> with a tpm
    budget_scopes: list[tuple[str, float]] = field(default_factory=list)  # (scope, period start)
    headers: dict[str, str] = field(default_factory=dict)
    reservation: Reservation | None = None  # its worst-case cost, held in each budget
    parallel: str | None = None  # the key whose max_parallel slot it holds
    settled: bool = False

    @property
    def counts(self) -> bool:
        return bool(self.token_scopes or self.budget_scopes or self.parallel)


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
        users: Callable[[str | None], UserRow | None] | None = None,
    ) -> None:
        self._limits = limits
        self._tz = time_zone
        self._stored_spend = stored_spend  # (scope kind, owner id, period start) -> Decimal
        self._user_budget = user_budget
        self._users = users  # the internal user owning a key (KeyRegistry.user: a dict read)
        self._in_flight: dict[str, int] = {}  # key id -> requests running (keys with max_parallel)
        self._pending: set[asyncio.Task[None]] = set()

    def may_use(self, key: KeyRow, team: TeamRow | None, model: str) -> bool:
        """Whether the key, its team and its internal user all allow ``model`` (what ``/v1/models``
        lists for the key: the same rule as the 403, patterns included)."""
        owner = self._users(key.user_id) if self._users is not None and key.user_id else None
        return _not_allowed(key, team, model, owner) is None

    async def screen_model(self, key: KeyRow, team: TeamRow | None, model: str, *, known: bool) -> None:
        """Before ``admit``: a request that will be refused for its model (not configured, or off an
        allow-list) still counts against requests per minute (429 past it), like any request, so
        invented model names cannot flood the store. Raises the 403 for a model off an allow-list;
        for an unknown one, it is 403 too when there is an allow-list (a restricted key learns
        nothing about which other models exist), else the caller's 404 follows."""
        owner = self._users(key.user_id) if self._users is not None and key.user_id else None
        denied = _not_allowed(key, team, model, owner)
        if known and denied is None:
            return  # admit counts it
        requests_state: RateState | None = None
        for scope, rpm in (
            (f"key:{key.id}", key.rpm),
            *((f"team:{t.id}", t.rpm) for t in [team] if t),
            *((f"user:{u.id}", u.rpm) for u in [owner] if u),
        ):
            if rpm:
                state = await self._limits.hit(scope, rpm)
                requests_state = _tighter(requests_state, state)
                if not state.allowed:
                    message = f"Rate limit reached: {rpm} requests per minute"
                    raise self._limited(message, state, requests_state, None)
        if denied is not None:
            raise denied

    async def admit(
        self,
        key: KeyRow,
        team: TeamRow | None,
        user: str | None,
        model: str,
        *,
        worst_case: Callable[[], Decimal] | None = None,
    ) -> Admission:
        """``worst_case``: the most the request can cost (called only when a budget applies)."""
        owner = self._users(key.user_id) if self._users is not None and key.user_id else None
        denied = _not_allowed(key, team, model, owner)
        if denied is not None:
            raise denied
        admission = Admission()
        if key.max_parallel:  # in this process (LiteLLM's max_parallel_requests)
            running = self._in_flight.get(key.id, 0)
            if running >= key.max_parallel:
                message = f"Max parallel request limit reached: {key.max_parallel} requests at once."
                raise LimitExceeded(message, retry_after=1.0)
            self._in_flight[key.id], admission.parallel = running + 1, key.id
        scopes = [
            LimitScope(scope, rpm, tpm)
            for scope, rpm, tpm in (
                (f"key:{key.id}", key.rpm, key.tpm),
                *((f"team:{team.id}", team.rpm, team.tpm) for team in ([team] if team else [])),
                *((f"user:{u.id}", u.rpm, u.tpm) for u in [owner] if u),
            )
            if rpm or tpm
        ]
        budgets = self._budgets(key, team, user, owner)
        amount = (worst_case() if worst_case else Decimal(0)) if budgets else Decimal(0)
        checks, ends = self._checks(budgets)
        try:
            checked = await self._limits.admit(scopes, checks, amount)  # one round trip in Redis
            admission.headers = self._rate_states(checked, admission)
            outcome = checked.outcome
            if isinstance(outcome, Refusal):
                raise self._over_budget(budgets[outcome.index], outcome, ends[outcome.index], amount)
        except BaseException:
            self._release_slot(admission)
            raise
        if outcome is not None:
            admission.reservation = outcome
            admission.budget_scopes = outcome.scopes
        return admission

    def _rate_states(self, checked: Checked, admission: Admission) -> dict[str, str]:
        """The ``x-ratelimit-*`` headers of what ``admit`` found; raises the 429 of a refusal."""
        requests_state: RateState | None = None
        tokens_state: RateState | None = None
        for limit, requests, tokens in checked.states:
            if requests is not None:
                requests_state = _tighter(requests_state, requests)
                if not requests.allowed:
                    message = f"Rate limit reached: {limit.rpm} requests per minute"
                    raise self._limited(message, requests, requests_state, tokens_state)
            if tokens is not None:
                tokens_state = _tighter(tokens_state, tokens)
                if not tokens.allowed:
                    message = f"Rate limit reached: {limit.tpm} tokens per minute"
                    raise self._limited(message, tokens, requests_state, tokens_state)
                admission.token_scopes.append(limit.scope)
        return ratelimit_headers(requests_state, tokens_state)

    def _release_slot(self, admission: Admission) -> None:
        if admission.parallel is not None:
            left = self._in_flight.pop(admission.parallel, 1) - 1
            if left > 0:
                self._in_flight[admission.parallel] = left
            admission.parallel = None

    def _checks(self, budgets: list[_Budget]) -> tuple[list[BudgetCheck], list[datetime]]:
        """Each budget's check for its current period, and the period's end."""
        checks, ends = [], []
        for budget in budgets:
            start, end = _period(budget.period, self._tz)
            seed = functools.partial(self._stored_spend, budget.column_scope, budget.owner, start)
            checks.append(BudgetCheck(budget.scope, start.timestamp(), budget.amount, seed))
            ends.append(end)
        return checks, ends

    @staticmethod
    def _over_budget(budget: _Budget, outcome: Refusal, end: datetime, amount: Decimal) -> BudgetExceeded:
        message = budget_message(
            budget.column_scope, budget.owner, budget.amount, budget.period, outcome, amount
        )
        if outcome.spent >= budget.amount:
            return BudgetExceeded(message, retry_after=max(1.0, (end - datetime.now(UTC)).total_seconds()))
        return BudgetExceeded(message, retry_after=1.0)  # money is left, but not beside what is in flight

    def settle(self, admission: Admission, cost: Decimal | None, tokens: int | None) -> None:
        """Count a finished (or failed) call and release its reservation, once (from the event
        loop; the counting runs as a task)."""
        if not admission.counts or admission.settled:
            return
        admission.settled = True
        self._release_slot(admission)
        if not (admission.token_scopes or admission.reservation):
            return
        task = asyncio.get_running_loop().create_task(self._settle(admission, cost, tokens))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _settle(self, admission: Admission, cost: Decimal | None, tokens: int | None) -> None:
        try:  # tokens and spend: one round trip in Redis
            await self._limits.settle(admission.token_scopes, tokens or 0, admission.reservation, cost)
        except Exception as exc:  # Redis down: the store still has them; a reservation's lease lapses
            log.warning("could not count tokens and spend (%s)", type(exc).__name__)

    async def drain(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    def _budgets(
        self, key: KeyRow, team: TeamRow | None, user: str | None, owner: UserRow | None
    ) -> list[_Budget]:
        budgets = []
        if key.budget_usd is not None:
            period = key.budget_period or DEFAULT_PERIOD
            budgets.append(_Budget(f"key:{key.id}", "key", key.id, key.budget_usd, period))
        if team is not None and team.budget_usd is not None:
            period = team.budget_period or DEFAULT_PERIOD
            budgets.append(_Budget(f"team:{team.id}", "team", team.id, team.budget_usd, period))
        if owner is not None and owner.id == user and owner.budget_usd is not None:
            # the key's internal user, with a budget of its own (it replaces llmgate.user_budget_usd)
            period = owner.budget_period or DEFAULT_PERIOD
            budgets.append(_Budget(f"user:{user}", "user", user, owner.budget_usd, period))
        elif user and self._user_budget is not None:
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


def budget_message(
    scope: str, owner: str, budget: Decimal, period: str, refusal: Refusal, worst_case: Decimal
) -> str:
    """The text of a budget's 429, for people: "Budget exceeded for key 'key_1a2b': spent
    $0.001372 of $0.001 today." (amounts as ``store.money.usd`` writes them)."""
    spent = f"spent {usd(refusal.spent)} of {usd(budget)} {PERIOD_NAMES.get(period, period)}"
    if refusal.spent >= budget:
        return f"Budget exceeded for {scope} '{owner}': {spent}."
    requests = "1 request" if refusal.in_flight == 1 else f"{refusal.in_flight} requests"
    return (
        f"Budget exceeded for {scope} '{owner}': {spent}, and {requests} in flight may cost up to "
        f"{usd(refusal.reserved)}; this request may cost up to {usd(worst_case)}. Try again when they "
        "finish, or ask for fewer max_tokens."
    )


def _not_allowed(
    key: KeyRow, team: TeamRow | None, model: str, user: UserRow | None = None
) -> PermissionDenied | None:
    """The 403 for a model outside the allow-list of the key, its team or its internal user, or
    None when it may be used."""
    for owner, allowed in (
        ("key", key.models),
        ("team", team.models if team else None),
        ("user", user.models if user else None),
    ):
        if allowed is not None and not allowed_by(model, allowed):  # "anthropic/*" admits its models
            return PermissionDenied(
                f"This {owner} may not use model '{model}'. Allowed: {', '.join(allowed) or 'none'}.",
                code="model_not_allowed",
                param="model",
            )
    return None


def _tighter(current: RateState | None, new: RateState) -> RateState:
    return new if current is None or new.remaining < current.remaining else current


_PERIODS: dict[tuple[str, str], tuple[datetime, datetime]] = {}  # (period, zone) -> the current one


def _period(period: str, tz: str) -> tuple[datetime, datetime]:
    """The budget period containing now (kept until it ends: zone arithmetic is not free)."""
    now = datetime.now(UTC)
    bounds = _PERIODS.get((period, tz))
    if bounds is None or not bounds[0] <= now < bounds[1]:
        bounds = _PERIODS[(period, tz)] = period_bounds(period, now, tz)
    return bounds
