"""``llmgate keys``, ``llmgate teams`` and ``llmgate audit`` through the CLI runner, on an SQLite file."""

from __future__ import annotations

import getpass
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from click.testing import Result
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from llmgate.auth import key_admin
from llmgate.cache.directives import read_directives
from llmgate.cli.main import app
from llmgate.store.db import create_engine_for
from llmgate.store.keys import get_key, load_teams
from llmgate.store.models import table

KEY = re.compile(r"sk-lg-[A-Za-z0-9_-]{43}")


class Cli:
    def __init__(self, config: Path) -> None:
        self.config = config
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(app, [*args, "--config", str(self.config)])

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, result.output
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--format", "json").stdout)

    def error(self, code: int, *args: str) -> str:
        """The command fails with ``code`` and one line on stderr, which is returned."""
        result = self(*args)
        assert result.exit_code == code, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert result.stdout == ""
        return lines[0]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "store.db"


MODELS = ("mock-echo", "gpt-4o-mini", "claude-sonnet", "a", "b")


def write_config(path: Path, db_path: Path, master_key: str | None = "sk-test-master-0123456789") -> Path:
    config: dict[str, Any] = {
        "model_list": [{"model_name": name, "litellm_params": {"model": "mock/echo"}} for name in MODELS],
        "llmgate": {"database_url": f"sqlite:///{db_path}"},
    }
    if master_key is not None:
        config["general_settings"] = {"master_key": master_key}
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def cli(tmp_path: Path, db_path: Path) -> Cli:
    return Cli(write_config(tmp_path / "llmgate.yaml", db_path))


@pytest.fixture
def engine(db_path: Path) -> Iterator[Engine]:
    engine = create_engine_for(f"sqlite:///{db_path}")
    yield engine
    engine.dispose()


def rows(engine: Engine, name: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table(name)))]


def test_key_lifecycle(cli: Cli, engine: Engine) -> None:
    team = cli.json("teams", "create", "--alias", "search", "--budget", "250", "--rpm", "100")
    assert team["id"] == "search" and team["budget_usd"] == "250" and team["budget_period"] == "monthly"

    created = cli.json(
        "keys", "create", "--alias", "ci-bot", "--team", "search", "--user", "alice",
        "--models", "gpt-4o-mini,claude-sonnet", "--budget", "12.50", "--budget-period", "weekly",
        "--rpm", "60", "--tpm", "5000", "--expires", "2027-01-01", "--tags", "cost_centre=cc-42,env=prod",
    )  # fmt: skip
    key, key_id = created["key"], created["id"]
    assert KEY.fullmatch(key) and created["alias"] == "ci-bot" and key_id.startswith("key_")
    assert created["models"] == ["gpt-4o-mini", "claude-sonnet"]
    assert (created["budget_usd"], created["budget_period"], created["rpm"], created["tpm"]) == (
        "12.5",
        "weekly",
        60,
        5000,
    )
    assert created["tags"] == {"cost_centre": "cc-42", "env": "prod"}
    assert created["expires_at"] == "2027-01-01T00:00:00+00:00" and created["status"] == "active"

    # Only the hash is stored: no column holds the key.
    (stored,) = rows(engine, "api_keys")
    assert stored["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert all(key not in str(value) for value in stored.values())

    # list and info never show the key or its hash; info finds a key by id, alias or the key itself.
    listed = cli.ok("keys", "list").stdout + cli.ok("keys", "list", "--format", "json").stdout
    assert key_id in listed and key not in listed and stored["key_hash"] not in listed
    for ref in (key_id, "ci-bot", key):
        info = cli.json("keys", "info", ref)
        assert info["id"] == key_id and "key" not in info and "key_hash" not in info
    assert key[:10] in cli.ok("keys", "info", "ci-bot").stdout

    updated = cli.json("keys", "update", "ci-bot", "--budget", "20", "--rpm", "30", "--clear", "tpm")
    assert (updated["budget_usd"], updated["rpm"], updated["tpm"]) == ("20", 30, None)
    assert cli.json("keys", "update", key_id, "--no-budget")["budget_usd"] is None

    rotated = cli.json("keys", "rotate", "ci-bot")
    new_key = rotated["key"]
    assert KEY.fullmatch(new_key) and new_key != key and rotated["id"] == key_id and rotated["rpm"] == 30
    (stored,) = rows(engine, "api_keys")
    assert stored["key_hash"] == hashlib.sha256(new_key.encode()).hexdigest()
    assert cli.error(1, "keys", "info", key) == "error: no key matches the key given"  # never echoes it

    revoked = cli.json("keys", "revoke", new_key)
    assert revoked["status"] == "revoked" and revoked["revoked_at"]
    assert rows(engine, "api_keys")[0]["revoked_at"] is not None
    assert "revoked" in cli.ok("keys", "list").stdout
    assert "revoked" in cli.error(1, "keys", "rotate", key_id)

    entries = cli.json("audit")
    assert [(e["action"], e["target"]) for e in entries] == [
        ("team.create", "search"),
        ("key.create", key_id),
        ("key.update", key_id),
        ("key.update", key_id),
        ("key.rotate", key_id),
        ("key.revoke", key_id),
    ]
    assert {e["actor"] for e in entries} == {f"cli:{getpass.getuser()}"}
    assert entries[2]["changes"] == {"budget_usd": ["12.5", "20"], "rpm": [60, 30], "tpm": [5000, None]}
    assert entries[3]["changes"] == {"budget_usd": ["20", None]}
    audit_text = json.dumps(entries) + cli.ok("audit").stdout + str(rows(engine, "audit_log"))
    assert key not in audit_text and new_key not in audit_text and "sk-lg-" not in audit_text
    assert stored["key_hash"] not in audit_text
    assert cli.json("audit", "--since", "1h") == entries
    assert cli.json("audit", "--since", "2999-01-01") == []


def test_create_prints_the_key_once_as_the_last_line(cli: Cli, engine: Engine) -> None:
    output = cli.ok("keys", "create", "--alias", "plain").stdout
    key = output.strip().splitlines()[-1]
    assert KEY.fullmatch(key) and "only this once" in output
    assert rows(engine, "api_keys")[0]["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert "plain" in cli.ok("keys", "list").stdout


def test_admin_keys(cli: Cli, engine: Engine) -> None:
    plain = cli.json("keys", "create", "--alias", "app")
    admin = cli.json("keys", "create", "--alias", "ops", "--admin", "--rpm", "5")
    assert plain["admin"] is False and admin["admin"] is True and admin["rpm"] == 5
    assert {r["alias"]: r["admin"] for r in rows(engine, "api_keys")} == {"app": False, "ops": True}
    assert {k["alias"]: k["admin"] for k in cli.json("keys", "list")} == {"app": False, "ops": True}
    listed = cli.ok("keys", "list").stdout.splitlines()
    assert "admin" in listed[0]
    assert [line.split()[1] for line in listed[1:] if line.rstrip().endswith("admin")] == ["ops"]
    assert cli.json("keys", "info", "ops")["admin"] is True
    assert re.search(r"admin\s+True", cli.ok("keys", "info", "ops").stdout)

    assert cli.json("keys", "update", "app", "--admin")["admin"] is True
    demoted = cli.json("keys", "update", "ops", "--no-admin")
    assert demoted["admin"] is False and demoted["rpm"] == 5  # every other field stays
    assert cli.json("keys", "update", "ops", "--admin", "--tpm", "100")["tpm"] == 100

    entries = cli.json("audit")
    assert [(e["action"], e["changes"].get("admin")) for e in entries] == [
        ("key.create", None),
        ("key.create", [None, True]),
        ("key.update", [False, True]),
        ("key.update", [True, False]),
        ("key.update", [False, True]),
    ]


def test_teams(cli: Cli) -> None:
    cli.ok("teams", "create", "--alias", "ml", "--models", "a,b", "--tags", "owner=data")
    assert cli.ok("teams", "list").stdout.count("ml") >= 1
    team = cli.json("teams", "update", "ml", "--tpm", "1000", "--budget", "5", "--budget-period", "daily")
    assert (team["tpm"], team["budget_usd"], team["budget_period"], team["models"]) == (
        1000,
        "5",
        "daily",
        ["a", "b"],
    )
    (listed,) = cli.json("teams", "list")
    assert listed == team
    assert cli.json("teams", "update", "ml", "--clear", "models")["models"] is None
    assert [e["action"] for e in cli.json("audit")] == ["team.create", "team.update", "team.update"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--budget", "-5"], "--budget"),
        (["--budget", "ten"], "--budget"),
        (["--budget", "NaN"], "--budget"),
        (["--budget-period", "yearly"], "--budget-period"),
        (["--rpm", "0"], "--rpm"),
        (["--tpm", "1.5"], "--tpm"),
        (["--tags", "novalue"], "--tags"),
        (["--expires", "next year"], "--expires"),
        (["--models", ","], "--models"),
        (["--cache", "sometimes"], "--cache: must be one of on, off, semantic, got 'sometimes'"),
    ],
)
def test_bad_options_are_one_line_usage_errors(
    cli: Cli, engine: Engine, args: list[str], message: str
) -> None:
    line = cli.error(2, "keys", "create", "--alias", "x", *args)
    assert message in line
    assert not sa.inspect(engine).has_table("api_keys")  # refused before the store was opened


def test_refusals_are_one_line_errors(cli: Cli) -> None:
    assert "no team named 'ghost'" in cli.error(1, "keys", "create", "--alias", "x", "--team", "ghost")
    cli.ok("keys", "create", "--alias", "x")
    assert "alias 'x' exists already" in cli.error(1, "keys", "create", "--alias", "x")
    assert "no key" in cli.error(1, "keys", "info", "missing")
    assert "no key" in cli.error(1, "keys", "revoke", "missing")
    assert "nothing to change" in cli.error(2, "keys", "update", "x")
    assert "--clear" in cli.error(2, "keys", "update", "x", "--clear", "colour")
    cli.ok("teams", "create", "--alias", "t")
    assert "exists already" in cli.error(1, "teams", "create", "--alias", "t")
    assert "no team named 'u'" in cli.error(1, "teams", "update", "u", "--rpm", "1")
    assert "--since" in cli.error(2, "audit", "--since", "yesterday")
    assert [e["action"] for e in cli.json("audit")] == ["key.create", "team.create"]


def test_no_config_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMGATE_CONFIG", raising=False)
    result = CliRunner().invoke(app, ["keys", "list"])
    assert result.exit_code == 2 and "no config file" in result.stderr


def test_keys_and_teams_need_a_master_key(tmp_path: Path, db_path: Path, engine: Engine) -> None:
    """Without a master key the gateway is open: making a key or a team is refused, one line, exit 2."""
    cli = Cli(write_config(tmp_path / "open.yaml", db_path, master_key=None))
    for command in (["keys", "create", "--alias", "x"], ["teams", "create", "--alias", "t"]):
        line = cli.error(2, *command)
        assert line.startswith("error: keys need a master_key in the config") and "README" in line
    assert not sa.inspect(engine).has_table("api_keys")  # refused before the store was opened
    assert cli.ok("keys", "list").stdout.strip() == "no keys"  # reading stays possible


def test_a_master_key_from_an_unset_variable_counts(
    tmp_path: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key commands may run where the gateway's secrets are not set: ``os.environ/NAME`` is enough."""
    monkeypatch.delenv("LLMGATE_TEST_UNSET_MASTER", raising=False)
    cli = Cli(write_config(tmp_path / "env.yaml", db_path, master_key="os.environ/LLMGATE_TEST_UNSET_MASTER"))
    assert cli.json("keys", "create", "--alias", "x")["alias"] == "x"


def test_models_must_be_in_the_config(cli: Cli, engine: Engine) -> None:
    line = cli.error(2, "keys", "create", "--alias", "x", "--models", "mock-echo,gpt-4o,nope")
    assert line.startswith("error: --models: 'gpt-4o', 'nope' not in the config's model_list")
    assert "mock-echo, gpt-4o-mini" in line
    assert not sa.inspect(engine).has_table("api_keys")  # refused before the store was opened
    assert "'nope'" in cli.error(2, "teams", "create", "--alias", "t", "--models", "nope")
    cli.ok("keys", "create", "--alias", "x", "--models", "mock-echo")
    assert "'Mock-Echo'" in cli.error(
        2, "keys", "update", "x", "--models", "Mock-Echo"
    )  # names match exactly
    cli.ok("teams", "create", "--alias", "t", "--models", "a,b")
    assert "'c'" in cli.error(2, "teams", "update", "t", "--models", "a,c")
    assert cli.json("keys", "info", "x")["models"] == ["mock-echo"]
    assert cli.json("keys", "update", "x", "--models", "gpt-4o-mini")["models"] == ["gpt-4o-mini"]


def test_cache_settings_of_keys_and_teams(cli: Cli, engine: Engine) -> None:
    """``--cache``: off denies the cache, semantic opts in, on (or ``--clear cache``) leaves it to the
    config; it is the row's ``metadata.cache``, as the gateway reads it, the rest of the metadata kept."""
    created = cli.json("keys", "create", "--alias", "sem", "--cache", "semantic")
    assert created["cache"] == "semantic"
    (stored,) = rows(engine, "api_keys")
    assert json.loads(stored["metadata_json"]) == {"cache": {"semantic": True}}
    row = get_key(engine, "sem")
    assert row is not None and read_directives({}, {}, row.metadata).semantic

    key_admin.update_key(engine, "sem", actor="test", metadata={"owner": "data", "cache": {"semantic": True}})
    assert cli.json("keys", "update", "sem", "--cache", "off", "--rpm", "5")["cache"] == "off"
    row = get_key(engine, "sem")
    assert row is not None and row.metadata == {"owner": "data", "cache": False} and row.rpm == 5
    assert read_directives({}, {}, row.metadata).denied
    listed = cli.ok("keys", "list").stdout.splitlines()
    assert "cache" in listed[0] and re.search(r"\boff\b", listed[1])
    assert cli.json("keys", "list")[0]["cache"] == "off"
    assert re.search(r"cache\s+off", cli.ok("keys", "info", "sem").stdout)
    assert cli.json("keys", "update", "sem", "--clear", "cache")["cache"] == "on"
    row = get_key(engine, "sem")
    assert row is not None and row.metadata == {"owner": "data"}
    assert "contradicts" in cli.error(2, "keys", "update", "sem", "--cache", "on", "--clear", "cache")
    assert "--cache: must be one of" in cli.error(2, "keys", "update", "sem", "--cache", "maybe")

    assert cli.json("teams", "create", "--alias", "ml", "--cache", "off")["cache"] == "off"
    assert load_teams(engine)[0].metadata == {"cache": False}
    assert re.search(r"\boff\b", cli.ok("teams", "list").stdout.splitlines()[1])
    assert cli.json("teams", "update", "ml", "--cache", "semantic")["cache"] == "semantic"
    assert cli.json("teams", "update", "ml", "--cache", "on")["cache"] == "on"
    assert load_teams(engine)[0].metadata == {}
    assert "--cache: must be one of" in cli.error(2, "teams", "create", "--alias", "t2", "--cache", "yes")
