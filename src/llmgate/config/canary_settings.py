"""Canary releases in the config: ``llmgate.canaries[]`` and ``llmgate.canary_controller``.

A canary splits the traffic of one model group (``model``, the stable arm) with a ``candidate``:
another group, one deployment (a ``model_list`` entry's ``model_info.id``), or the same model with
another system prompt and/or parameters. Its traffic moves through ``steps`` (percentages to the
candidate), each held until the ``gates`` have enough evidence; assignment is sticky by ``user``,
``session`` or ``key`` (``routing/canaries.py``).

The one place for the canary constants (``GATE_NAMES``, ``DEFAULT_GATES``, ``DEFAULT_STEPS``,
``STICKY``) and for reading steps and gates written as text (``parse_steps``, ``parse_gates``: the
CLI's ``--steps 10,50,100`` and ``--gates errors,latency``). The checks that need the model list
(the groups and deployments named exist, one canary per model, ids unique) are ``check_canaries``,
run by ``GatewayConfig`` (``schema.py``) with errors naming the key
(``llmgate.canaries[0].candidate.model``).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from llmgate.config.schema_base import Strict

__all__ = [
    "CANARY_GROUP_PREFIX",
    "DEFAULT_GATES",
    "DEFAULT_STEPS",
    "EVAL_GATE_PREFIX",
    "FORCED_PARAMS",
    "GATE_NAMES",
    "STICKY",
    "CanaryControllerSettings",
    "CanarySettings",
    "CandidateSpec",
    "Sticky",
    "candidate_from_name",
    "check_canaries",
    "parse_gates",
    "parse_steps",
    "resolve_bare_candidates",
]

#: the gates a canary can hold a step on, in the order reports list them
GATE_NAMES: tuple[str, ...] = (
    "errors",
    "latency",
    "ttft",
    "cost",
    "refusals",
    "output_length",
    "finish_reasons",
    "groundedness",
    "context_relevance",
    "answer_relevance",
    "response_drift",
)
DEFAULT_GATES: tuple[str, ...] = GATE_NAMES
#: an offline gate: ``eval:evals/factual_qa.yaml`` (the suite, relative to the config file)
EVAL_GATE_PREFIX = "eval:"
DEFAULT_STEPS: tuple[float, ...] = (1, 5, 25, 50, 100)
Sticky = Literal["user", "session", "key"]
STICKY: tuple[str, ...] = get_args(Sticky)
#: the model group a variant candidate (one deployment, another prompt or parameters) is served as
CANARY_GROUP_PREFIX = "canary:"
#: body fields a candidate's ``params`` may not force (they are the request, not its parameters)
FORCED_PARAMS = frozenset({"model", "messages", "prompt", "input", "stream", "stream_options"})
#: a canary id: printable ASCII without spaces (it is sent in a response header)
_ID = re.compile(r"[!-~]{1,128}")


def _check_steps(values: Sequence[float]) -> tuple[float, ...]:
    if not values:
        raise ValueError("give at least one step percentage (the last one 100)")
    steps = tuple(float(v) for v in values)
    for value in steps:
        if not math.isfinite(value) or not 0 < value <= 100:
            raise ValueError(f"step {value:g} is not a percentage in (0, 100]")
    for before, after in itertools.pairwise(steps):
        if after <= before:
            raise ValueError(f"steps must increase strictly: {after:g} comes after {before:g}")
    if steps[-1] != 100:
        raise ValueError(f"steps must end at 100 (the candidate takes all traffic), not {steps[-1]:g}")
    return steps


def parse_steps(text: str) -> tuple[float, ...]:
    """``"10,50,100"`` -> ``(10.0, 50.0, 100.0)``; a ValueError with a one-line message otherwise."""
    parts = [part.strip().removesuffix("%") for part in text.split(",") if part.strip()]
    values = []
    for part in parts:
        try:
            values.append(float(part))
        except ValueError:
            raise ValueError(f"step {part!r} is not a number (write steps as e.g. 10,50,100)") from None
    return _check_steps(values)


def _check_gate(name: str) -> str:
    if name.startswith(EVAL_GATE_PREFIX):
        if not name[len(EVAL_GATE_PREFIX) :].strip():
            raise ValueError(f"gate {name!r}: name the suite, e.g. eval:evals/factual_qa.yaml")
        return name
    if name not in GATE_NAMES:
        raise ValueError(f"unknown gate {name!r}: one of {', '.join(GATE_NAMES)}, or eval:<suite file>")
    return name


def _check_gates(names: Iterable[str]) -> tuple[str, ...]:
    gates = tuple(_check_gate(name) for name in names)
    if not gates:
        raise ValueError("give at least one gate")
    seen: set[str] = set()
    for name in gates:
        if name in seen:
            raise ValueError(f"gate {name!r} is named twice")
        seen.add(name)
    return gates


def parse_gates(text: str) -> tuple[str, ...]:
    """``"errors,latency,eval:evals/x.yaml"`` -> the gate names, checked; a ValueError (one line)
    names an unknown one."""
    return _check_gates(part.strip() for part in text.split(",") if part.strip())


class CandidateSpec(Strict):
    """``llmgate.canaries[].candidate``: what the candidate arm is served by.

    Exactly one of ``model`` (another model group) or ``deployment`` (one ``model_list`` entry, by
    its ``model_info.id``), or neither: then the canary's own model, which ``system_prompt`` and/or
    ``params`` make different. ``system_prompt`` replaces the request's first system message (or
    is put first); ``params`` are forced onto the request body. A bare string is a model group name
    (``check_canaries`` reads it as a deployment id when no group has that name).
    """

    model: str | None = Field(default=None, min_length=1)
    deployment: str | None = Field(default=None, min_length=1)
    system_prompt: str | None = Field(default=None, min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, data: Any) -> Any:
        return {"model": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _one_target(self) -> CandidateSpec:
        if self.model is not None and self.deployment is not None:
            raise ValueError("give either model or deployment, not both")
        if self.model is None and self.deployment is None and self.system_prompt is None and not self.params:
            raise ValueError("give model, deployment, system_prompt or params")
        return self

    @field_validator("params")
    @classmethod
    def _only_parameters(cls, value: dict[str, Any]) -> dict[str, Any]:
        forbidden = sorted(FORCED_PARAMS.intersection(value))
        if forbidden:
            raise ValueError(f"params may not set {', '.join(forbidden)} (only request parameters)")
        return value

    @property
    def is_variant(self) -> bool:
        """Whether the candidate changes the request (another system prompt or parameters)."""
        return self.system_prompt is not None or bool(self.params)


def candidate_from_name(name: str, groups: Collection[str], deployment_ids: Collection[str]) -> CandidateSpec:
    """A bare candidate name (``--candidate X``): the model group ``X``, else the deployment ``X``
    (else the group ``X``, which the caller's check then reports as unknown)."""
    if name not in groups and name in deployment_ids:
        return CandidateSpec(deployment=name)
    return CandidateSpec(model=name)


class CanarySettings(Strict):
    """``llmgate.canaries[]``: one canary on one model group."""

    model: str = Field(min_length=1)
    id: str  # default: the model's name
    candidate: CandidateSpec
    steps: tuple[float, ...] = DEFAULT_STEPS
    sticky: Sticky = "user"
    gates: tuple[str, ...] = DEFAULT_GATES
    tolerances: dict[str, float] = Field(default_factory=dict)  # per gate, over canary/gates.py's defaults
    alpha: float = Field(default=0.05, gt=0, lt=1)  # the false-rollback budget over all gates
    min_step_requests: int = Field(default=100, ge=1)  # candidate requests at a step before promotion

    @model_validator(mode="before")
    @classmethod
    def _default_id(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("id") is None and isinstance(data.get("model"), str):
            return {**data, "id": data["model"]}
        return data

    @field_validator("id")
    @classmethod
    def _header_safe(cls, value: str) -> str:
        if not _ID.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a usable canary id: up to 128 printable ASCII characters, no spaces"
            )
        return value

    @field_validator("steps", mode="before")
    @classmethod
    def _valid_steps(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_steps(value)
        if isinstance(value, (list, tuple)) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
        ):
            return _check_steps(value)
        return value  # not a list of numbers: pydantic names what was expected

    @field_validator("gates", mode="before")
    @classmethod
    def _valid_gates(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_gates(value)
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return _check_gates(value)
        return value

    @field_validator("tolerances")
    @classmethod
    def _known_tolerances(cls, value: dict[str, float]) -> dict[str, float]:
        for name, tolerance in value.items():
            _check_gate(name)
            if not math.isfinite(tolerance) or tolerance < 0:
                raise ValueError(f"tolerance of {name!r}: {tolerance!r} is not a number >= 0")
        return value


class CanaryControllerSettings(Strict):
    """``llmgate.canary_controller``: how the deciding replica runs the canaries' gates."""

    interval_s: float = Field(default=1.0, gt=0)  # how often the leader evaluates the gates


def check_canaries(
    canaries: Sequence[CanarySettings], groups: Collection[str], deployments: Mapping[str, str]
) -> None:
    """The checks that need the model list: ``groups`` (the ``model_name``s) and ``deployments``
    (``model_info.id`` -> its ``model_name``). A ValueError naming the key otherwise."""
    ids: dict[str, int] = {}
    models: dict[str, int] = {}
    for i, canary in enumerate(canaries):
        key = f"llmgate.canaries[{i}]"
        if canary.model not in groups:
            raise ValueError(f"{key}.model: {canary.model!r} is not a model_name in model_list")
        if canary.id in ids:
            raise ValueError(f"{key}.id: {canary.id!r} is also llmgate.canaries[{ids[canary.id]}]'s id")
        if canary.model in models:
            raise ValueError(
                f"{key}.model: {canary.model!r} already has a canary "
                f"(llmgate.canaries[{models[canary.model]}])"
            )
        ids[canary.id], models[canary.model] = i, i
        candidate = canary.candidate
        if candidate.model is not None and candidate.model not in groups:
            raise ValueError(f"{key}.candidate.model: {candidate.model!r} is not a model_name in model_list")
        if candidate.model == canary.model and not candidate.is_variant:
            raise ValueError(
                f"{key}.candidate.model: {candidate.model!r} is the stable model itself: name another "
                "group or deployment, or give a system_prompt or params"
            )
        if candidate.deployment is not None:
            owner = deployments.get(candidate.deployment)
            if owner is None:
                raise ValueError(
                    f"{key}.candidate.deployment: {candidate.deployment!r} "
                    "is no model_list entry's model_info.id"
                )
            if owner == canary.model:
                raise ValueError(
                    f"{key}.candidate.deployment: {candidate.deployment!r} serves {canary.model!r} itself "
                    "(the stable arm): give the candidate its own model_name"
                )


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)


def resolve_bare_candidates(data: Any) -> Any:
    """A raw config mapping whose canaries' bare-string candidates that name no model group but a
    deployment (``model_info.id``) are written ``{deployment: ...}`` (run before validation)."""
    section = data.get("llmgate") if isinstance(data, Mapping) else None
    if not isinstance(section, Mapping):
        return data
    canaries = section.get("canaries")
    if not isinstance(canaries, list) or not any(isinstance(_field(c, "candidate"), str) for c in canaries):
        return data
    entries = data.get("model_list") or []
    groups = {_field(entry, "model_name") for entry in entries}
    ids = {_field(_field(entry, "model_info"), "id") for entry in entries} - {None}
    resolved = [
        {**canary, "candidate": {"deployment": canary["candidate"]}}
        if isinstance(canary, Mapping)
        and isinstance(canary.get("candidate"), str)
        and canary["candidate"] not in groups
        and canary["candidate"] in ids
        else canary
        for canary in canaries
    ]
    return {**data, "llmgate": {**section, "canaries": resolved}}
