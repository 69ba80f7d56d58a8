"""The ``llmgate`` command's start-up, help and usage errors, through the installed entry point.

What a command imports decides how long it takes to start, so the tests check the imports (not the
time, which depends on the machine): ``--help`` and ``--version`` import no command module and none
of the heavy libraries, and a read-only command against a migrated store imports neither alembic,
SQLAlchemy's ORM, typer's pydantic coercion of option values, nor the server's stack. Each run is a fresh interpreter that prints its ``sys.modules`` at exit.
Help piped to a file is not cut at 80 columns, and a bad option value reads as plain words.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml

import llmgate
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade

#: what the CLI runs after printing its module list at exit (to stderr, as the last line)
_PROBE = """
import atexit, json, sys
atexit.register(lambda: sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n"))
sys.argv = ["llmgate", *sys.argv[1:]]
from llmgate.cli.main import main
main()
"""

#: never needed to print help or the version
HEAVY = (
    "sqlalchemy",
    "sqlmodel",
    "alembic",
    "pydantic",
    "fastapi",
    "starlette",
    "litellm",
    "aiohttp",
    "opentelemetry",
    "uvicorn",
    "rich",
    "httpx",
    "openai",
    "numpy",
    "yaml",
    "llmgate.config",
)
#: never needed to read the store (alembic: not for a store at the newest revision; the ORM:
#: the tables are Core tables; typer's pydantic coercion of option values: cli/option_values.py
#: reads plain values itself)
SERVER = (
    "alembic",
    "mako",
    "sqlmodel",
    "sqlalchemy.orm",
    "typer._adapters",
    "fastapi",
    "starlette",
    "litellm",
    "aiohttp",
    "opentelemetry",
    "uvicorn",
    "openai",
    "llmgate.server",
    "llmgate.gateway",
    "llmgate.providers",
    "llmgate.routing",
)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LLMGATE_CONFIG", "TERMINAL_WIDTH")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _probe(*args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=120, env=_env()
    )
    line = result.stderr.rstrip().splitlines()[-1]
    assert line.startswith("MODULES "), result.stderr
    return result, set(json.loads(line.removeprefix("MODULES ")))


def _imported(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return [name for name in names if any(m == name or m.startswith(name + ".") for m in modules)]


def _llmgate(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "llmgate"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "llmgate.cli.main"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=120, env=_env())


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["report", "--help"]])
def test_help_and_version_import_nothing_heavy(args: list[str]) -> None:
    result, modules = _probe(*args)
    assert result.returncode == 0, result.stderr
    # not even pydantic, which typer would load to coerce the value of ``--help`` (cli/option_values.py)
    assert _imported(modules, HEAVY) == []
    commands = {m for m in modules if m.startswith("llmgate.cli.")} - {
        "llmgate.cli.main",
        "llmgate.cli.common",
        "llmgate.cli.lazy",
        "llmgate.cli.option_values",
    }
    assert commands == ({"llmgate.cli.report"} if args[0] == "report" else set())


def test_read_only_commands_import_no_server_stack(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_list": [{"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}}],
                "llmgate": {"database_url": f"sqlite:///{tmp_path / 'store.db'}"},
            }
        )
    )
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    engine.dispose()
    for args in (
        ["keys", "list"],
        ["teams", "list"],
        ["audit"],
        ["logs"],
        ["report", "spend"],
        ["report", "budgets"],
        ["drift", "status"],
        ["eval", "list"],
        ["logs", "--limit", "5", "--tag", "a", "--format", "json"],
        ["report", "spend", "--format", "csv"],
    ):
        result, modules = _probe(*args, "--config", str(config))
        assert result.returncode == 0, (args, result.stderr)
        assert _imported(modules, SERVER) == [], args


def test_version_option_names_the_distribution() -> None:
    result = _llmgate("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"llmgate {metadata.version('llmgate-server')}\n"
    assert metadata.version("llmgate-server") == llmgate.__version__
    assert _llmgate("version").stdout == f"{llmgate.__version__}\n"
    assert "--version" in _llmgate("--help").stdout


def test_help_is_not_cut_when_piped() -> None:
    result = _llmgate("report", "spend", "--help")
    assert result.returncode == 0, result.stderr
    since = [line for line in result.stdout.splitlines() if line.lstrip().startswith("--since")]
    assert len(since) == 1, result.stdout
    assert since[0].rstrip().endswith("Default: start of this month."), since[0]
    assert len(since[0]) > 80
    # every command is listed with its whole one-line help, though none was imported to show it
    listing = _llmgate("--help").stdout
    assert re.search(
        r"^  keys +Virtual keys: create, list, info, update, revoke, rotate\.$", listing, re.M
    ), listing


def test_bad_option_value_is_one_plain_line() -> None:
    result = _llmgate("report", "spend", "--format", "xlsx")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: invalid value for '--format': 'xlsx' is not one of: table, csv, json "
        "(see 'llmgate report spend --help')"
    ]
    typo = _llmgate("repot", "spend")
    assert typo.returncode == 2
    assert typo.stderr.splitlines() == [
        "error: no such command 'repot'. Did you mean 'report'? (see 'llmgate --help')"
    ]
