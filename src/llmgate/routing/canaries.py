"""Canary releases on the request path: which arm a request takes, and the candidate's model group.

``CanaryTable`` is the live split the gateway asks, one dict lookup per request (``route``): a
model group with no canary costs nothing more. The state follower (``canary/state.py``) replaces
the table whole whenever the stored canaries change (``replace``); a rollback is a route at 0%.

A canaried request is assigned an arm by ``assign``: a bucket in ``[0, 10000)`` from the sha256 of
(canary id, sticky value) goes to the candidate when it is below ``percent * 100``. The same user
(or session, or key: ``sticky``) keeps its arm, and raising the percent only adds candidates. The
sticky value: ``user``: the call's user, else its key id, else the request id; ``session``: the
call's session (the one rule of ``protocol/session_headers.py``: ``x-llmgate-session-id``, or its
older name ``x-llmgate-session``, ``metadata.session_id``, LiteLLM's ``litellm_session_id``), else as
``user``; ``key``: the key id, else the request id. An admin (the master key or an admin key) may
force an arm with the ``x-llmgate-canary-arm`` header (evals run a suite against one arm); anyone
else's is ignored.

``steer`` does all of it for the gateway (``route``, then ``assign``): it notes the canary and
arm on the record and returns the group to try first (``Attempts.first_answer``'s ``via``): the
candidate's, whose failures fall back to the stable group, so the app never sees them while the
record keeps ``arm=candidate`` and ``attempts > 1``. A promoted route sends everything to the
candidate (then the old stable group if it fails), with no arm recorded and no canary header.
The response cache is skipped by a running canary's requests (``Gateway.handle``): a cached stable
answer must not reach a candidate request or the other way round, and hits (no latency, no cost)
in one arm's evidence would bias the gates; a promoted route's are cached under the candidate group.

The candidate's group (``register_candidate``) is another configured group, or ``canary:<id>``,
made on the router from one deployment or from variants of a group's deployments that carry the
candidate's ``system_prompt`` and ``params`` (``variant_body`` applies them to a request body).
Pure logic: no I/O.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from llmgate.config.canary_settings import CANARY_GROUP_PREFIX, CandidateSpec
from llmgate.config.deployment import Deployment
from llmgate.errors import InvalidRequest, ModelNotFound
from llmgate.routing.router import Router

__all__ = [
    "ARMS",
    "ARM_HEADER",
    "CANARY_HEADER",
    "CANARY_ID_HEADER",
    "CANDIDATE",
    "STABLE",
    "CanaryRoute",
    "CanaryTable",
    "bucket",
    "canary_headers",
    "candidate_group",
    "register_candidate",
    "release_candidate",
    "variant_body",
]

STABLE, CANDIDATE = "stable", "candidate"
ARMS = (STABLE, CANDIDATE)
#: the recorded arm of a call whose arm was forced (an eval gate's suite run): not live traffic,
#: so the gates, which read the arms "stable" and "candidate" only, never count it
PINNED = "-pinned"
#: on every reply routed through a running canary: the arm, and the canary's id
CANARY_HEADER = "x-llmgate-canary"
CANARY_ID_HEADER = "x-llmgate-canary-id"
#: an admin's forced arm (``stable`` | ``candidate``)
ARM_HEADER = "x-llmgate-canary-arm"
BUCKETS = 10_000
#: the endpoints whose bodies take a system message
_CHAT = "chat/completions"
_SYSTEM_ROLES = ("system", "developer")


@dataclass(frozen=True, slots=True)
class CanaryRoute:
    canary_id: str
    model: str  # the group clients ask for (stable)
    candidate_model: str  # the group the candidate arm is routed to (another group, or "canary:<id>")
    percent: float  # 0..100 to the candidate
    sticky: str  # user | session | key
    promoted: bool = False  # True: the candidate is now stable (all traffic, no canary header)


class Steered(Protocol):
    """What ``steer`` reads and writes of a call (the gateway's ``CallRecord``)."""

    @property
    def id(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def user(self) -> str | None: ...
    @property
    def key_id(self) -> str | None: ...
    @property
    def session_id(self) -> str | None: ...

    canary_id: str | None
    arm: str | None


def bucket(canary_id: str, value: str) -> int:
    """Where ``value`` falls in ``[0, BUCKETS)`` for one canary (independent across canaries)."""
    digest = hashlib.sha256(f"{canary_id}\x1f{value}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def canary_headers(call: Steered) -> dict[str, str]:
    """The reply's headers of a call routed through a running canary (none outside one)."""
    if call.arm is None or call.canary_id is None:
        return {}
    return {CANARY_HEADER: call.arm.removesuffix(PINNED), CANARY_ID_HEADER: call.canary_id}


class CanaryTable:
    """The canaries in force, by the model group they split; replaced whole, never edited."""

    __slots__ = ("_routes",)

    def __init__(self, routes: Iterable[CanaryRoute] = ()) -> None:
        self._routes: dict[str, CanaryRoute] = {}
        self.replace(routes)

    def replace(self, routes: Iterable[CanaryRoute]) -> None:
        """Put ``routes`` in force (one per model: a later one for the same model wins)."""
        self._routes = {route.model: route for route in routes}  # one assignment: readers see old or new

    def route(self, model: str) -> CanaryRoute | None:
        return self._routes.get(model)

    @property
    def routes(self) -> list[CanaryRoute]:
        return list(self._routes.values())

    def assign(
        self,
        route: CanaryRoute,
        *,
        user: str | None,
        session: str | None,
        key_id: str | None,
        request_id: str,
    ) -> str:
        """``candidate`` or ``stable`` for one request, by its sticky value's bucket."""
        if route.percent <= 0:
            return STABLE
        if route.percent >= 100:
            return CANDIDATE
        if route.sticky == "key":
            value = key_id or request_id
        elif route.sticky == "session":
            value = session or user or key_id or request_id
        else:
            value = user or key_id or request_id
        return CANDIDATE if bucket(route.canary_id, value) < route.percent * (BUCKETS / 100) else STABLE

    def steer(self, call: Steered, headers: Mapping[str, str], admin: bool) -> str | None:
        """The group to try before ``call.model``'s (None: no canary, or the stable arm); the call
        notes the canary and arm. ``admin``: the caller may force an arm (``x-llmgate-canary-arm``).
        Without a canary on the model, one dict lookup."""
        route = self._routes.get(call.model)
        if route is None:
            return None
        if route.promoted:
            return route.candidate_model
        forced = headers.get(ARM_HEADER) if admin else None
        if forced in ARMS:  # recorded as pinned: the gates never count it as live traffic
            call.canary_id, call.arm = route.canary_id, forced + PINNED
            return route.candidate_model if forced == CANDIDATE else None
        # the session as the gateway read it (protocol/session_headers.py)
        arm = self.assign(
            route, user=call.user, session=call.session_id, key_id=call.key_id, request_id=call.id
        )
        call.canary_id, call.arm = route.canary_id, arm
        return route.candidate_model if arm == CANDIDATE else None


def candidate_group(canary_id: str) -> str:
    """The model group a variant candidate is served as."""
    return CANARY_GROUP_PREFIX + canary_id


def _deployment(router: Router, deployment_id: str) -> Deployment | None:
    return next((d for d in router.deployments if d.id == deployment_id), None)


def _variant(deployment: Deployment, group: str, spec: CandidateSpec) -> Deployment:
    """``deployment`` as a member of ``group``; with the candidate's prompt and parameters, under
    an id of its own (its records, health and headers tell it from the original)."""
    if not spec.is_variant:
        return dataclasses.replace(deployment, model_name=group)
    return dataclasses.replace(
        deployment,
        id=f"{deployment.id}@{group}",
        model_name=group,
        request_overrides={**deployment.request_overrides, **spec.params},
        system_prompt=spec.system_prompt if spec.system_prompt is not None else deployment.system_prompt,
    )


def register_candidate(router: Router, canary_id: str, model: str, spec: CandidateSpec) -> str:
    """The model group the candidate arm of canary ``canary_id`` on ``model`` is routed to: another
    configured group as it is, else ``canary:<id>`` (made, or made again, on ``router``: one
    deployment, or variants with the candidate's system prompt and parameters). ``ModelNotFound``
    when a name is unknown; ``InvalidRequest`` for a deployment of ``model`` itself."""
    group = candidate_group(canary_id)
    target = spec.model
    deployment_id = spec.deployment
    if target is not None and target not in router.model_names and _deployment(router, target) is not None:
        target, deployment_id = None, target  # ``--candidate X``: no group X, but a deployment X
    if deployment_id is not None:
        found = _deployment(router, deployment_id)
        if found is None:
            raise ModelNotFound(f"The candidate deployment '{deployment_id}' does not exist.")
        if found.model_name == model:
            raise InvalidRequest(
                f"The candidate deployment '{deployment_id}' serves '{model}' itself (the stable arm): "
                "give it its own model_name."
            )
        base = [found]
    else:
        name = target if target is not None else model
        if name not in router.model_names:
            raise ModelNotFound(f"The candidate model '{name}' is not a model group.")
        if target is not None and not spec.is_variant:
            router.remove_group(group)  # an earlier variant of this canary, if any
            return target
        base = router.group(name)
    router.add_group(group, [_variant(d, group, spec) for d in base], fallbacks=(model,))
    return group


def release_candidate(router: Router, canary_id: str) -> None:
    """Forget the ``canary:<id>`` group of a canary that ended (nothing when it had none)."""
    router.remove_group(candidate_group(canary_id))


def variant_body(body: dict[str, Any], deployment: Deployment, endpoint: str) -> None:
    """Apply a variant deployment's forced parameters and, to a chat request, its system prompt
    (replacing the first system message, else put first), in place on the body sent upstream."""
    body.update(deployment.request_overrides)
    prompt = deployment.system_prompt
    messages = body.get("messages")
    if prompt is None or endpoint != _CHAT or not isinstance(messages, list):
        return
    messages = list(messages)  # the client's list stays as the record keeps it
    for i, message in enumerate(messages):
        if isinstance(message, dict) and message.get("role") in _SYSTEM_ROLES:
            messages[i] = {**message, "content": prompt}
            break
    else:
        messages.insert(0, {"role": "system", "content": prompt})
    body["messages"] = messages
