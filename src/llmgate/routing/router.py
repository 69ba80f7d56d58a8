"""Which deployment serves a request for a model alias, and where to go when it fails.

Entries of ``model_list`` that share ``model_name`` form a model group. ``pick`` chooses one
deployment of a group by the group's ``routing_strategy``, skipping deployments that are cooling
down (see ``health.py``) and, while others remain, those that already failed this request:

- ``simple-shuffle``: random, weighted by ``weight`` (or ``rpm`` when set);
- ``least-busy``: fewest requests in flight (across processes when Redis is shared);
- ``latency-based-routing``: lowest recent latency, chosen at random among those within 10% of the
  best; deployments with no latency yet are tried first.

``fallbacks_for`` gives the ordered fallback groups of a model (``fallbacks``, else
``default_fallbacks``), and likewise for context-window and content-policy failures.
A name no group has exactly may be served by a wildcard group (``model_name: "anthropic/*"``,
``wildcards.py``): looked up only after the exact lookup missed, kept per name.
Groups may also be made at run time (``add_group`` / ``remove_group``: a canary's candidate,
``canaries.py``); they are routed like the others but not listed in ``model_names``.
The strategies are named once, by ``RoutingStrategy`` in the config schema, which refuses others.
Pure logic: no I/O.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Sequence
from typing import get_args

from llmgate.config.deployment import Deployment
from llmgate.config.schema import RoutingStrategy
from llmgate.errors import ModelNotFound
from llmgate.routing.health import Health
from llmgate.routing.wildcards import Wildcards

STRATEGIES: tuple[str, ...] = get_args(RoutingStrategy)
#: latency-based routing picks at random among deployments this close to the fastest
LATENCY_BUFFER = 0.10


class Router:
    def __init__(
        self,
        deployments: Sequence[Deployment],
        *,
        health: Health | None = None,
        strategy: str = "simple-shuffle",
        fallbacks: dict[str, list[str]] | None = None,
        default_fallbacks: Sequence[str] = (),
        context_window_fallbacks: dict[str, list[str]] | None = None,
        content_policy_fallbacks: dict[str, list[str]] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._groups: dict[str, list[Deployment]] = {}
        for deployment in deployments:
            self._groups.setdefault(deployment.model_name, []).append(deployment)
        self.health = health or Health([d.id for d in deployments])
        #: called with each deployment a wildcard group makes for a requested name (the app's
        #: providers learn its id); the health learns it here
        self.on_new_deployment: Callable[[Deployment], None] | None = None
        templates = [d for d in deployments if Wildcards.is_template(d)]
        self._wildcards = Wildcards(templates, on_new=self._new_deployment) if templates else None
        if strategy not in STRATEGIES:  # the config refuses it first; this is a caller's mistake
            raise ValueError(f"unknown routing strategy {strategy!r}: one of {', '.join(STRATEGIES)}")
        self.strategy = strategy
        self._fallbacks = dict(fallbacks or {})  # a copy: groups made at run time add theirs
        self._added: set[str] = set()  # the groups made at run time (add_group)
        self._default_fallbacks = list(default_fallbacks)
        self._context_window = context_window_fallbacks or {}
        self._content_policy = content_policy_fallbacks or {}
        self._rng = rng or random.Random()

    @property
    def model_names(self) -> list[str]:
        """The configured groups (not those made at run time)."""
        return [name for name in self._groups if name not in self._added]

    @property
    def deployments(self) -> list[Deployment]:
        return [d for group in self._groups.values() for d in group]

    def group(self, model: str) -> list[Deployment]:
        try:
            return self._groups[model]
        except KeyError:
            found = self._wildcards.resolve(model) if self._wildcards is not None else None
            if found is None:
                raise ModelNotFound(
                    f"The model '{model}' does not exist or you do not have access to it."
                ) from None
            return found

    def add_group(self, name: str, deployments: Sequence[Deployment], fallbacks: Sequence[str] = ()) -> None:
        """Route ``name`` to ``deployments`` (then ``fallbacks``), replacing a group made here
        before under that name; a configured group is never replaced. The deployments' health is
        tracked and the app's providers learn them (``on_new_deployment``). Call it on the event loop."""
        if name in self._groups and name not in self._added:
            raise ValueError(f"{name!r} is a configured model group")
        if not deployments:
            raise ValueError(f"model group {name!r} needs at least one deployment")
        for deployment in deployments:
            self._new_deployment(deployment)
        self._groups[name] = list(deployments)
        self._added.add(name)
        if fallbacks:
            self._fallbacks[name] = list(fallbacks)
        else:
            self._fallbacks.pop(name, None)

    def remove_group(self, name: str) -> None:
        """Forget a group made by ``add_group`` (a configured group, or an unknown name: nothing)."""
        if name in self._added:
            self._added.discard(name)
            del self._groups[name]
            self._fallbacks.pop(name, None)

    def asked(self, model: str) -> list[Deployment]:
        """``group`` for a name a client asked for: a group made at run time (a canary's variant,
        ``canary:<id>``) is reached through its canary only, never by name."""
        if model in self._added:
            raise ModelNotFound(f"The model '{model}' does not exist or you do not have access to it.")
        return self.group(model)

    def _new_deployment(self, deployment: Deployment) -> None:
        self.health.track(deployment.id)
        if self.on_new_deployment is not None:
            self.on_new_deployment(deployment)

    def _serves(self, model: str) -> bool:
        """A name some group has, or a wildcard group serves."""
        return self._wildcards is not None and self._wildcards.resolve(model) is not None

    def _chain(self, table: dict[str, list[str]], model: str) -> list[str] | None:
        """``model``'s entry in a fallback table, else its wildcard group's."""
        chain = table.get(model)
        if chain is None and self._wildcards is not None and model not in self._groups:
            pattern = self._wildcards.pattern_of(model)
            chain = table.get(pattern) if pattern is not None else None
        return chain

    def fallbacks_for(self, model: str) -> list[str]:
        chain = self._fallbacks.get(model) if self._wildcards is None else self._chain(self._fallbacks, model)
        if chain is None:
            chain = [m for m in self._default_fallbacks if m != model]
        return [m for m in chain if m in self._groups or self._serves(m)]

    def context_window_fallbacks_for(self, model: str) -> list[str]:
        chain = self._chain(self._context_window, model) or []
        return [m for m in chain if m in self._groups or self._serves(m)]

    def content_policy_fallbacks_for(self, model: str) -> list[str]:
        chain = self._chain(self._content_policy, model) or []
        return [m for m in chain if m in self._groups or self._serves(m)]

    def reachable(self, model: str) -> list[Deployment]:
        """Every deployment a request for ``model`` may be sent to (its group and fallbacks)."""
        groups = dict.fromkeys(
            [
                model,
                *self.fallbacks_for(model),
                *self.context_window_fallbacks_for(model),
                *self.content_policy_fallbacks_for(model),
            ]
        )
        return [d for group in groups for d in self.group(group)]

    def pick(self, model: str, failed: Collection[str] = ()) -> Deployment | None:
        """A deployment of ``model``'s group to try next, or None when all are cooling down."""
        group = self.group(model)
        if len(group) == 1:  # the usual group: its one deployment, unless it is cooling down
            return group[0] if self.health.available(group[0].id) else None
        available = [d for d in group if self.health.available(d.id)]
        if not available:
            return None
        fresh = [d for d in available if d.id not in failed]
        choices = fresh or available
        if len(choices) == 1:
            return choices[0]
        if self.strategy == "least-busy":
            fewest = min(self.health.in_flight(d.id) for d in choices)
            return self._rng.choice([d for d in choices if self.health.in_flight(d.id) == fewest])
        if self.strategy == "latency-based-routing":
            unmeasured = [d for d in choices if self.health.latency_ms(d.id) is None]
            if unmeasured:
                return self._rng.choice(unmeasured)
            best = min(self.health.latency_ms(d.id) or 0.0 for d in choices)
            near = [
                d for d in choices if (self.health.latency_ms(d.id) or 0.0) <= best * (1 + LATENCY_BUFFER)
            ]
            return self._rng.choice(near)
        weights = [float(d.rpm) if d.rpm else d.weight for d in choices]
        if sum(weights) <= 0:
            weights = [1.0] * len(choices)
        return self._rng.choices(choices, weights=weights)[0]

    def soonest_available_in(self, models: Sequence[str]) -> float:
        """Seconds until the first deployment of ``models`` leaves its cooldown."""
        waits = [
            self.health.cooldown_left(d.id)
            for m in models
            if m in self._groups or self._serves(m)
            for d in self.group(m)
        ]
        return min(waits) if waits else 0.0
