"""What people do to canaries, from the CLI (``llmgate canary``) and the admin API (``/admin/canaries``).

``CanaryActions`` starts, pauses, resumes, promotes (one step, or ``full``: to 100 % and promoted)
and rolls back canaries, and reads their status, history and export. Every change goes through
``store/canaries.py`` (its event and its ``canary.<action>`` audit entry, as ``actor``) and is then
published (``channel.py``), so every replica's table follows at once.

A bad value is an ``InvalidRequest`` with a one-line message naming it (``steps: ...``,
``candidate.model: ...``, ``gates: ...``): the CLI prints it and exits 2, the API answers 400. A
canary not found is ``NotFound`` (404); a change that does not fit the canary's status (pausing one
that was rolled back) or a second active canary on a model is a ``conflict``.

``Catalog`` is what a new canary's names are checked against: the config's model groups, its
deployments' ids, its ``model_list`` as written (for the export) and where relative ``eval:`` suite
paths start (the CLI: the working directory; the API: the config file's folder).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from llmgate.canary.channel import publish
from llmgate.canary.export import export_change
from llmgate.canary.rows import next_step, settings_row
from llmgate.config import GatewayConfig, build_deployments
from llmgate.config.canary_settings import (
    EVAL_GATE_PREFIX,
    CanarySettings,
    candidate_from_name,
    check_canaries,
)
from llmgate.config.loader import read_config_file
from llmgate.config.problems import key_path, plain_problem
from llmgate.errors import ConfigError, InvalidRequest
from llmgate.store import canaries as store
from llmgate.store.key_rows import NotFound

__all__ = ["CanaryActions", "Catalog", "NotFound", "canary_json"]

_SECRET_KEYS = ("api_key",)


@dataclass(frozen=True)
class Catalog:
    """What a new canary may name, and the config's ``model_list`` as written (see the module doc)."""

    groups: frozenset[str]
    deployments: Mapping[str, str]  # deployment id -> its model group
    ids: tuple[str, ...] = ()  # each model_list entry's deployment id, in order
    entries: tuple[Mapping[str, Any], ...] = ()
    base_dir: Path = field(default_factory=Path.cwd)

    @classmethod
    def of(cls, config: GatewayConfig, path: str | None = None, *, base_dir: Path | None = None) -> Catalog:
        """From a loaded config; ``path``: its file, whose ``model_list`` is read as written."""
        deployments = build_deployments(config)
        entries: list[Mapping[str, Any]] = []
        if path is not None:
            try:
                entries = list(read_config_file(path).get("model_list") or [])
            except ConfigError:
                entries = []
        if len(entries) != len(config.model_list):  # no file: the parsed entries, secrets left out
            entries = [
                _written(entry.model_dump(mode="json", exclude_defaults=True)) for entry in config.model_list
            ]
        return cls(
            groups=frozenset(entry.model_name for entry in config.model_list),
            deployments={d.id: d.model_name for d in deployments},
            ids=tuple(d.id for d in deployments),
            entries=tuple(entries),
            base_dir=base_dir or (Path(path).resolve().parent if path else Path.cwd()),
        )


def _written(entry: dict[str, Any]) -> dict[str, Any]:
    params = dict(entry.get("litellm_params") or {})
    for key in _SECRET_KEYS:
        if key in params:
            params[key] = "os.environ/SET_ME"  # the loaded config has the secret itself: never print it
    return {**entry, "litellm_params": params}


def canary_json(row: store.CanaryRow) -> dict[str, Any]:
    """A canary as the CLI's JSON and the admin API show it."""
    return {
        "id": row.id,
        "model": row.model,
        "candidate": row.candidate,
        "status": row.status,
        "percent": row.percent,
        "step_index": row.step_index,
        "steps": list(row.steps),
        "sticky": row.sticky,
        "gates": list(row.gates),
        "tolerances": row.tolerances,
        "alpha": row.alpha,
        "min_step_requests": row.min_step_requests,
        "source": row.source,
        "config_hash": row.config_hash,
        "started_at": row.started_at.isoformat(),
        "step_started_at": row.step_started_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "ended_at": row.ended_at.isoformat() if row.ended_at else None,
        "version": row.version,
        "last_evaluation": row.last_evaluation,
    }


def _invalid(exc: ValidationError) -> InvalidRequest:
    error = exc.errors()[0]
    where = key_path(error["loc"])
    message = f"{where}: {plain_problem(error)}" if where else plain_problem(error)
    return InvalidRequest(message, param=where.split(".")[0] if where else None)


class CanaryActions:
    """The canary actions on one store, as one actor (see the module doc)."""

    def __init__(
        self,
        engine: Any,
        catalog: Catalog,
        *,
        actor: str,
        source: str,
        redis_url: str | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.catalog = catalog
        self.actor = actor
        self.source = source
        self._redis_url = redis_url
        self._on_change = on_change

    def _changed(self, row: store.CanaryRow) -> store.CanaryRow:
        publish(self._redis_url, row.id)
        if self._on_change is not None:
            self._on_change()
        return row

    # --- start ----------------------------------------------------------------------------------

    def start(
        self,
        *,
        model: str,
        candidate: str | Mapping[str, Any] | None = None,
        system_prompt: str | None = None,
        params: Mapping[str, Any] | None = None,
        steps: Sequence[float] | str | None = None,
        gates: Sequence[str] | str | None = None,
        sticky: str | None = None,
        tolerances: Mapping[str, float] | None = None,
        alpha: float | None = None,
        min_step_requests: int | None = None,
        canary_id: str | None = None,
    ) -> store.CanaryRow:
        """Start a canary on ``model`` (see the module doc for the errors). Its id is
        ``canary_id``, else the model's name, else (taken by an earlier canary) ``<model>-2``, ..."""
        if canary_id is None:
            taken = {row.id for row in store.list_canaries(self.engine)}
            canary_id, n = model, 1
            while canary_id in taken:
                n += 1
                canary_id = f"{model}-{n}"
        settings = self.settings(
            model=model,
            candidate=candidate,
            system_prompt=system_prompt,
            params=params,
            steps=steps,
            gates=gates,
            sticky=sticky,
            tolerances=tolerances,
            alpha=alpha,
            min_step_requests=min_step_requests,
            canary_id=canary_id,
        )
        return self._changed(
            store.insert_canary(self.engine, settings_row(settings, source=self.source), self.actor)
        )

    def settings(
        self,
        *,
        model: str,
        candidate: str | Mapping[str, Any] | None,
        system_prompt: str | None = None,
        params: Mapping[str, Any] | None = None,
        steps: Sequence[float] | str | None = None,
        gates: Sequence[str] | str | None = None,
        sticky: str | None = None,
        tolerances: Mapping[str, float] | None = None,
        alpha: float | None = None,
        min_step_requests: int | None = None,
        canary_id: str | None = None,
    ) -> CanarySettings:
        """A new canary's settings, checked against the catalog."""
        catalog = self.catalog
        if model not in catalog.groups:
            raise InvalidRequest(f"model: {model!r} is not a model group of the config", param="model")
        spec: dict[str, Any]
        if isinstance(candidate, str):
            named = candidate_from_name(candidate, catalog.groups, catalog.deployments.keys())
            spec = named.model_dump(exclude_none=True, exclude_defaults=True)
        else:
            spec = dict(candidate or {})
        if system_prompt is not None:
            spec["system_prompt"] = system_prompt
        if params:
            spec["params"] = {**dict(spec.get("params") or {}), **dict(params)}
        given: dict[str, Any] = {"model": model, "id": canary_id, "candidate": spec}
        for name, value in (
            ("steps", steps),
            ("gates", gates),
            ("sticky", sticky),
            ("tolerances", tolerances),
            ("alpha", alpha),
            ("min_step_requests", min_step_requests),
        ):
            if value is not None:
                given[name] = value
        try:
            settings = CanarySettings.model_validate(given)
        except ValidationError as exc:
            raise _invalid(exc) from None
        except ValueError as exc:  # a steps or gates text read before validation
            raise InvalidRequest(str(exc).splitlines()[0]) from None
        try:
            check_canaries([settings], catalog.groups, catalog.deployments)
        except ValueError as exc:
            message = str(exc).removeprefix("llmgate.canaries[0].")
            raise InvalidRequest(message, param=message.split(":")[0].split(".")[0]) from None
        return settings.model_copy(update={"gates": tuple(self._suite(gate) for gate in settings.gates)})

    def _suite(self, gate: str) -> str:
        """An ``eval:`` gate with its suite's path made absolute, and the suite checked to exist."""
        if not gate.startswith(EVAL_GATE_PREFIX):
            return gate
        path = (self.catalog.base_dir / gate[len(EVAL_GATE_PREFIX) :].strip()).resolve()
        if not path.is_file():
            raise InvalidRequest(f"gates: {gate!r}: no suite file at {path}", param="gates")
        return EVAL_GATE_PREFIX + str(path)

    # --- changes ----------------------------------------------------------------------------------

    def get(self, ref: str) -> store.CanaryRow:
        row = store.get_canary(self.engine, ref)
        if row is None:
            raise NotFound(f"no canary with id or model {ref!r}", param="canary")
        return row

    def _active(self, ref: str, action: str) -> store.CanaryRow:
        row = self.get(ref)
        if not row.active:
            raise InvalidRequest(
                f"canary {row.id!r} is {row.status.replace('_', ' ')}: "
                f"only a running or paused canary can {action}",
                param="canary",
                code="conflict",
            )
        return row

    def pause(self, ref: str) -> store.CanaryRow:
        """Hold the split where it is: no promotion until resumed (a failing gate still rolls back)."""
        row = self._active(ref, "be paused")
        if row.status == "paused":
            raise InvalidRequest(f"canary {row.id!r} is paused already", param="canary", code="conflict")
        changed = store.update_canary(
            self.engine,
            row.id,
            actor=self.actor,
            action="pause",
            expected_version=row.version,
            status="paused",
        )
        return self._changed(changed)

    def resume(self, ref: str) -> store.CanaryRow:
        row = self._active(ref, "be resumed")
        if row.status == "running":
            raise InvalidRequest(f"canary {row.id!r} is running, not paused", param="canary", code="conflict")
        changed = store.update_canary(
            self.engine,
            row.id,
            actor=self.actor,
            action="resume",
            expected_version=row.version,
            status="running",
        )
        return self._changed(changed)

    def promote(self, ref: str, *, full: bool = False) -> store.CanaryRow:
        """The next step; at the last (or with ``full``), 100 % and promoted."""
        row = self._active(ref, "be promoted")
        action, changes = next_step(row, datetime.now(UTC), full=full)
        reason = "promoted to 100% by hand" if action == "promote" else "next step by hand"
        return self._set(row, action, details={"reason": reason}, **changes)

    def rollback(self, ref: str, *, reason: str | None = None) -> store.CanaryRow:
        """0 % to the candidate at once, on every replica; the canary ends ``rolled_back``."""
        row = self._active(ref, "be rolled back")
        details = {"reason": reason or "rolled back by hand"}
        changes = {"status": "rolled_back", "percent": 0.0, "ended_at": datetime.now(UTC)}
        return self._set(row, "rollback", details=details, **changes)

    def _set(
        self, row: store.CanaryRow, action: str, *, details: Mapping[str, Any] | None = None, **changes: Any
    ) -> store.CanaryRow:
        """One change, made on the version read (a change made meanwhile is a ``conflict``)."""
        changed = store.update_canary(
            self.engine,
            row.id,
            actor=self.actor,
            action=action,
            expected_version=row.version,
            details=details,
            **changes,
        )
        return self._changed(changed)

    # --- reads ------------------------------------------------------------------------------------

    def status(self, ref: str | None = None) -> list[store.CanaryRow]:
        """One canary (by id, or a model's active or latest one), or every canary, newest first."""
        if ref is not None:
            return [self.get(ref)]
        rows = store.list_canaries(self.engine)
        return sorted(rows, key=lambda r: (not r.active, -r.started_at.timestamp(), r.id))

    def history(self, ref: str | None = None) -> list[dict[str, Any]]:
        """The events of the canaries ``ref`` names (an id, or every canary of a model), or of
        every canary, oldest first."""
        rows = store.list_canaries(self.engine)
        if ref is not None:
            rows = [r for r in rows if ref in (r.id, r.model)]
            if not rows:
                raise NotFound(f"no canary with id or model {ref!r}", param="canary")
        events = [event for row in rows for event in store.canary_events(self.engine, row.id)]
        return sorted(events, key=lambda e: (e["at"], e["id"]))

    def export(self, ref: str) -> str:
        row = self.get(ref)
        return export_change(row, self.catalog.entries, self.catalog.ids)
