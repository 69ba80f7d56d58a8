"""Which deployment serves a request for a model alias.

Entries of ``model_list`` that share ``model_name`` form a model group. ``candidates`` gives
the deployments to try for one request, in order: the first is chosen by the group's routing
strategy (``simple-shuffle``, weighted by ``weight`` or ``rpm``), the rest are the group's
other deployments as fall-backs within the group. Pure logic: no I/O.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from llmgate.config.deployment import Deployment
from llmgate.errors import ModelNotFound


class Router:
    def __init__(self, deployments: Sequence[Deployment], *, rng: random.Random | None = None) -> None:
        self._groups: dict[str, list[Deployment]] = {}
        for deployment in deployments:
            self._groups.setdefault(deployment.model_name, []).append(deployment)
        self._rng = rng or random.Random()

    @property
    def model_names(self) -> list[str]:
        return list(self._groups)

    def group(self, model: str) -> list[Deployment]:
        try:
            return self._groups[model]
        except KeyError:
            raise ModelNotFound(
                f"The model '{model}' does not exist or you do not have access to it."
            ) from None

    def _weight(self, deployment: Deployment) -> float:
        return float(deployment.rpm) if deployment.rpm else deployment.weight

    def candidates(self, model: str) -> list[Deployment]:
        group = self.group(model)
        if len(group) == 1:
            return group
        weights = [self._weight(d) for d in group]
        if sum(weights) <= 0:
            weights = [1.0] * len(group)
        first = self._rng.choices(range(len(group)), weights=weights)[0]
        return [group[first], *group[:first], *group[first + 1 :]]
