"""Load the YAML configuration: read, resolve ``os.environ/NAME``, validate once.

Every failure is a ``ConfigError`` with one message that names the file and the key, so
``llmgate serve`` can stop before anything half-starts. Relative SQLite paths and the spill
directory are resolved against the config file's folder, so the server and every CLI
command pointed at the same file find the same store; so are eval schedules' suites and canaries'
``eval:<suite>`` gates.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from llmgate.config.canary_settings import EVAL_GATE_PREFIX
from llmgate.config.problems import key_path, plain_problem
from llmgate.config.schema import GatewayConfig
from llmgate.errors import ConfigError

ENV_PREFIX = "os.environ/"
CONFIG_ENV_VAR = "LLMGATE_CONFIG"
DATABASE_ENV_VAR = "LLMGATE_DATABASE_URL"
SPILL_ENV_VAR = "LLMGATE_SPILL_DIR"
DEFAULT_SQLITE_NAME = "llmgate.db"


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: {problem}{where}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, not {type(data).__name__}")
    return data


def _merge_includes(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """LiteLLM's ``include:`` list: more files whose ``model_list`` and sections are merged in."""
    includes = data.pop("include", None) or []
    if not isinstance(includes, list):
        raise ConfigError(f"{path}: include: must be a list of file names")
    for name in includes:
        sub_path = (path.parent / str(name)).resolve()
        sub = _merge_includes(sub_path, _read_yaml(sub_path))
        for key, value in sub.items():
            if key == "model_list":
                data["model_list"] = [*(data.get("model_list") or []), *(value or [])]
            elif key not in data:
                data[key] = value
            elif isinstance(data[key], dict) and isinstance(value, dict):
                data[key] = {**value, **data[key]}
            else:
                raise ConfigError(f"{sub_path}: {key} is also set in {path}")
    return data


def _resolve_env(value: Any, where: str, lenient: bool) -> Any:
    """Replace ``os.environ/NAME`` strings. ``lenient`` (for commands that only read the store):
    unset variables become None, except where the store's address is given."""
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX) :]
        if name in os.environ:
            return os.environ[name]
        if lenient and not where.endswith("database_url"):
            return None
        raise ConfigError(f"{where}: environment variable {name} is not set")
    if isinstance(value, dict):
        return {k: _resolve_env(v, f"{where}.{k}" if where else str(k), lenient) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_env(v, f"{where}[{i}]", lenient) for i, v in enumerate(value)]
    return value


def _describe(error: ErrorDetails) -> str:
    loc = key_path(error["loc"])
    message = "unknown key" if error["type"] == "extra_forbidden" else plain_problem(error)
    return f"{loc}: {message}" if loc else message


#: the store URLs llmgate can use (checked here, before anything imports the database drivers)
_DATABASE_SCHEMES = ("sqlite://", "postgres://", "postgresql://", "postgresql+psycopg://")


def _normalise_database_url(url: str, base_dir: Path) -> str:
    if not url.startswith(_DATABASE_SCHEMES):
        scheme = url.split("://", 1)[0] if "://" in url else url[:20]
        raise ConfigError(
            f"unsupported database URL scheme {scheme!r}: "
            "use sqlite:///path/to/file.db or postgresql+psycopg://user@host/db"
        )
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rest = url[len("sqlite:///") :]
        if rest and not rest.startswith(":memory:") and not rest.startswith("file:"):
            return f"sqlite:///{(base_dir / rest).resolve()}"
    return url


def _eval_gate(gate: str, base_dir: Path) -> str:
    """A canary's ``eval:<suite>`` gate with the suite's path made absolute (others as they are)."""
    if not gate.startswith(EVAL_GATE_PREFIX):
        return gate
    return EVAL_GATE_PREFIX + str((base_dir / gate[len(EVAL_GATE_PREFIX) :].strip()).resolve())


def parse_config(
    data: dict[str, Any], *, source: str = "config", base_dir: Path | None = None, lenient_env: bool = False
) -> GatewayConfig:
    """Validate an already-read mapping; used by ``load_config`` and by tests."""
    base_dir = base_dir or Path.cwd()
    env_vars = data.get("environment_variables") or {}
    if isinstance(env_vars, dict):
        for key, value in env_vars.items():
            os.environ.setdefault(str(key), str(value))
    try:
        resolved = _resolve_env(data, "", lenient_env)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc.message}") from None
    try:
        config = GatewayConfig.model_validate(resolved)
    except ValidationError as exc:
        problems = [_describe(e) for e in exc.errors()]
        more = f" (and {len(problems) - 1} more: {'; '.join(problems[1:4])})" if len(problems) > 1 else ""
        raise ConfigError(f"{source}: {problems[0]}{more}") from None

    url = (
        os.environ.get(DATABASE_ENV_VAR)
        or config.llmgate.database_url
        or config.general_settings.database_url
        or f"sqlite:///{DEFAULT_SQLITE_NAME}"
    )
    try:
        database_url = _normalise_database_url(url, base_dir)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc.message}") from None
    spill_setting = os.environ.get(SPILL_ENV_VAR) or config.llmgate.spill_dir  # containers: on the volume
    spill_dir = Path(spill_setting) if spill_setting else Path(".llmgate-spill")
    pricing_file = config.llmgate.pricing_file
    if pricing_file and not Path(pricing_file).is_absolute():
        pricing_file = str((base_dir / pricing_file).resolve())
    schedules = [  # suites relative to the config file; unnamed schedules named after theirs
        schedule.model_copy(
            update={"name": schedule.label, "suite": str((base_dir / schedule.suite).resolve())}
        )
        for schedule in config.llmgate.eval_schedules
    ]
    canaries = [  # eval gates' suites relative to the config file, as schedules' are
        canary.model_copy(update={"gates": tuple(_eval_gate(gate, base_dir) for gate in canary.gates)})
        for canary in config.llmgate.canaries
    ]
    llmgate = config.llmgate.model_copy(
        update={
            "eval_schedules": schedules,
            "canaries": canaries,
            "pricing_file": pricing_file,
            "database_url": database_url,
            "spill_dir": str(spill_dir if spill_dir.is_absolute() else (base_dir / spill_dir).resolve()),
        }
    )
    return config.model_copy(update={"llmgate": llmgate})


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The config file as written, its ``include:`` files merged in, ``os.environ/NAME`` left as it
    is (``llmgate canary export`` copies ``model_list`` entries from it without their secrets)."""
    file = Path(path).expanduser()
    return _merge_includes(file, _read_yaml(file))


def load_config(path: str | os.PathLike[str] | None = None, *, for_store_only: bool = False) -> GatewayConfig:
    """Read and validate a config file (``path``, else ``$LLMGATE_CONFIG``).

    ``for_store_only``: the caller only reads or writes the store (``llmgate logs``, reports),
    so provider secrets the environment lacks are not an error.
    """
    if path is None:
        path = os.environ.get(CONFIG_ENV_VAR)
        if not path:
            raise ConfigError(f"no config file: pass --config FILE or set {CONFIG_ENV_VAR}")
    file = Path(path).expanduser()
    data = _merge_includes(file, _read_yaml(file))
    return parse_config(data, source=str(file), base_dir=file.resolve().parent, lenient_env=for_store_only)


def declares_master_key(path: str | os.PathLike[str]) -> bool:
    """Whether the config file sets ``general_settings.master_key``: a key, or ``os.environ/NAME``
    whether or not NAME is set here (the key commands only write the store, and may run where the
    gateway's secrets are not set)."""
    file = Path(path).expanduser()
    settings = _merge_includes(file, _read_yaml(file)).get("general_settings")
    return isinstance(settings, dict) and bool(settings.get("master_key"))
