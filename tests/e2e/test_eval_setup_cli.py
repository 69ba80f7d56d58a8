"""``llmgate eval``'s setup, through the CLI: the store it uses, what it checks before a run.

- A broken setup (a model the gateway does not serve, a gateway that cannot be reached or refuses
  the key, the quality extra missing) exits 2 with one line, before any case runs: no run stored.
- Read-only commands outside a project say there is no store, and create none.
- A run of one model can be the baseline of another (``baseline set RUN --model M``).
- The README's Evals commands, as written, from a copy of the project: the runs land in the store
  the Quickstart's gateway (``configs/default.yaml``) serves on its dashboard, and the second run
  is compared with the baseline the README sets.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from click.testing import Result
from typer.testing import CliRunner

from llmgate.cli.main import app
from llmgate.store import evals as store
from llmgate.store.db import create_engine_for
from support.configs import MASTER_KEY
from support.gateway import RunningGateway, free_port

ROOT = Path(__file__).resolve().parents[2]
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
GOOD = "Every answer: " + ", ".join(WORDS) + "."
WORSE = "Only alpha, sadly."


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("LLMGATE_CONFIG", "LLMGATE_DATABASE_URL", "LLMGATE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, ["eval", *args])


def one_line_error(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def write_config(path: Path, answers: dict[str, str], db: Path, **general: str) -> Path:
    config = {
        "model_list": [
            {"model_name": name, "litellm_params": {"model": f"mock/{name}", "mock_response": answer}}
            for name, answer in answers.items()
        ],
        "general_settings": general,
        "llmgate": {"database_url": f"sqlite:///{db}", "spill_dir": str(path.parent / "spill")},
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def write_suite(path: Path, model: str = "qa", extra: list[dict[str, object]] | None = None) -> Path:
    cases = [
        {
            "id": f"case-{w}",
            "vars": {"word": w},
            "assert": [{"type": "icontains", "value": w}, *(extra or [])],
        }
        for w in WORDS
    ]
    suite = {"name": "words", "models": [model], "prompt": {"user": "Say {{word}}"}, "cases": cases}
    path.write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "evals.db"
    engine = create_engine_for(f"sqlite:///{path}")
    store.ensure_schema(engine)
    engine.dispose()
    yield path


def stored_runs(path: Path) -> list[str]:
    engine = create_engine_for(f"sqlite:///{path}")
    try:
        return [r["id"] for r in store.list_runs(engine)]
    finally:
        engine.dispose()


# --- setup errors: exit 2, one line, nothing run -------------------------------------------------


def test_an_unknown_model_is_a_setup_error(tmp_path: Path, db: Path) -> None:
    config = write_config(tmp_path / "gw.yaml", {"qa": GOOD}, db)
    suite = write_suite(tmp_path / "words.yaml", model="qa-typo")
    line = one_line_error(cli("run", str(suite), "--config", str(config)))
    assert line == f"error: unknown model 'qa-typo': the gateway of {config} serves qa"
    assert stored_runs(db) == []


def test_an_unknown_judge_on_a_running_gateway_is_a_setup_error(
    tmp_path: Path, db: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    served = write_config(
        tmp_path / "served.yaml", {"qa": GOOD}, tmp_path / "served.db", master_key=MASTER_KEY
    )
    gateway = gateway_factory(yaml.safe_load(served.read_text()))
    config = write_config(tmp_path / "gw.yaml", {"unused": "x"}, db)
    judged: list[dict[str, object]] = [{"type": "llm_judge", "rubric": "names the word", "model": "judge-x"}]
    suite = write_suite(tmp_path / "words.yaml", extra=judged)
    url = gateway.url + "/v1"
    common = ["--base-url", url, "-c", str(config)]
    line = one_line_error(cli("run", str(suite), *common, "--api-key", MASTER_KEY))
    assert line == f"error: unknown model 'judge-x': the gateway at {url} serves qa"

    refused = one_line_error(cli("run", str(suite), *common, "--api-key", "sk-wrong"))
    assert refused.startswith(f"error: the gateway at {url} refused the API key (HTTP 401: ")
    assert refused.endswith("pass --api-key or set LLMGATE_API_KEY")
    assert stored_runs(db) == []


def test_an_unreachable_gateway_is_a_setup_error(tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "words.yaml")
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    line = one_line_error(cli("run", str(suite), "--base-url", url, "--output", "json"))
    assert line.startswith(f"error: cannot reach the gateway at {url}: ")
    assert not (tmp_path / "llmgate.db").exists()  # no store opened, so no run stored


def test_a_missing_quality_extra_is_a_setup_error(tmp_path: Path, db: Path) -> None:
    # A real fault, not a mock of the check: this process cannot import sentence-transformers.
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sentence_transformers.py").write_text(
        "raise ImportError(\"No module named 'sentence_transformers' (simulated)\")\n"
    )
    config = write_config(tmp_path / "gw.yaml", {"qa": GOOD}, db)
    context = {"context": ["The word to say is given in the question."]}
    suite = {
        "name": "grounded-words",
        "models": ["qa"],
        "prompt": {"user": "Say {{word}}"},
        "cases": [{"vars": {"word": "alpha"}, **context, "assert": [{"type": "grounded"}]}],
    }
    path = tmp_path / "grounded.yaml"
    path.write_text(yaml.safe_dump(suite), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMGATE_")}
    done = subprocess.run(
        [sys.executable, "-m", "llmgate.cli.main", "eval", "run", str(path), "--config", str(config)],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": os.pathsep.join([str(shim), *filter(None, [env.get("PYTHONPATH")])])},
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: suite 'grounded-words' uses grounded: the embedder needs torch and ")
    assert done.stdout == ""
    assert stored_runs(db) == []


# --- read-only commands outside a project ----------------------------------------------------------


def test_reading_commands_outside_a_project_create_no_store(tmp_path: Path) -> None:
    where = tmp_path / "llmgate.db"
    listed = cli("list")
    assert listed.exit_code == 0
    assert listed.stdout.strip() == f"no eval runs stored: no store at {where} " + (
        "(nothing has run here; --config FILE names a project's store)"
    )
    as_json = cli("list", "--format", "json")
    assert as_json.exit_code == 0 and json.loads(as_json.stdout) == []
    assert len(as_json.stderr.strip().splitlines()) == 1
    assert cli("baseline", "list").stdout.startswith(f"no baselines set: no store at {where} ")
    for command in (["show", "abc"], ["compare", "abc", "def"], ["baseline", "set", "abc"]):
        assert one_line_error(cli(*command)).startswith(f"error: no store at {where} ")
    assert not where.exists()


# --- another model's run as the baseline ---------------------------------------------------------


def test_another_models_run_as_the_baseline(tmp_path: Path, db: Path) -> None:
    config = write_config(tmp_path / "gw.yaml", {"qa": GOOD, "bad": WORSE}, db)
    suite = write_suite(tmp_path / "words.yaml")
    first = cli("run", str(suite), "-c", str(config), "--output", "json")
    assert first.exit_code == 0, first.output
    good_run = json.loads(first.stdout)["runs"][0]["run"]["id"]

    marked = cli("baseline", "set", good_run[:12], "--model", "bad", "-c", str(config))
    assert marked.exit_code == 0, marked.output
    assert marked.stdout.strip() == f"baseline of words on bad: run {good_run} (a run of qa)"
    assert f"words\tbad\t{good_run}\t" in cli("baseline", "list", "-c", str(config)).stdout

    worse = cli("run", str(suite), "-c", str(config), "--model", "bad")
    assert worse.exit_code == 1
    assert f"REGRESSION vs baseline run {good_run[:12]} of qa: pass rate 100% → 12%" in worse.stdout
    as_json = cli("run", str(suite), "-c", str(config), "--model", "bad", "--output", "json")
    verdict = json.loads(as_json.stdout)["runs"][0]["baseline"]
    assert verdict["baseline_run"] == good_run and verdict["regression"]
    assert verdict["flipped_to_fail"] == [f"case-{w}" for w in sorted(WORDS[1:])]


# --- the README, as written ----------------------------------------------------------------------


def readme_eval_commands() -> list[tuple[list[str], str]]:
    """The ``llmgate eval`` commands of the README's Evals section, each with its comment."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("\n## Evals\n", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    commands: list[tuple[list[str], str]] = []
    for line in block.replace("\\\n", " ").splitlines():
        text, _, comment = line.partition("#")
        for part in text.split(";"):
            words = shlex.split(part)
            if words:
                assert words[:2] == ["llmgate", "eval"], line
                commands.append((words[2:], comment.strip()))
    return commands


def test_the_readme_evals_walk_lands_on_the_quickstart_dashboard(tmp_path: Path) -> None:
    (tmp_path / "configs").mkdir()
    (tmp_path / "evals").mkdir()
    shutil.copy(ROOT / "configs" / "default.yaml", tmp_path / "configs")
    for name in ("mock-config.yaml", "factual_qa.yaml"):
        shutil.copy(ROOT / "evals" / name, tmp_path / "evals")
    served = yaml.safe_load((tmp_path / "configs" / "default.yaml").read_text())
    served.setdefault("general_settings", {})["master_key"] = MASTER_KEY  # the dashboard needs one
    served["llmgate"]["recorder"] = {"process": False}
    gateway = RunningGateway(served, tmp_path / "configs").start()  # the Quickstart's gateway
    try:
        runs: dict[str, str] = {}
        for words, comment in readme_eval_commands():
            filled = [
                runs.get({"<RUN>": "oracle", "<RUN_A>": "oracle", "<RUN_B>": "other"}.get(w, ""), w)
                for w in words
            ]
            result = cli(*filled)  # as written, the placeholders filled in with the runs' ids
            expected = re.search(r"exit (\d)", comment)
            assert result.exit_code == (int(expected.group(1)) if expected else 0), (words, result.output)
            if words[0] == "run":
                model = words[words.index("--model") + 1] if "--model" in words else "mock-qa-oracle"
                newest = json.loads(cli("list", "--model", model, "--format", "json").stdout)[0]["id"]
                runs["oracle" if model == "mock-qa-oracle" else "other"] = newest
            if "REGRESSION" in comment:
                assert "REGRESSION vs baseline run " + runs["oracle"][:12] in result.stdout
        assert set(runs) == {"oracle", "other"}
        assert (tmp_path / "results.xml").exists()

        dashboard = httpx.get(
            gateway.url + "/ui/api/evals/runs",
            params={"since": "1h"},
            headers={"Authorization": f"Bearer {MASTER_KEY}"},
            timeout=30,
        )
        assert dashboard.status_code == 200, dashboard.text
        shown = {r["model"]: r for r in dashboard.json()["runs"]}
        assert (shown["mock-qa-oracle"]["id"], shown["mock-qa-confabulator"]["id"]) == (
            runs["oracle"],
            runs["other"],
        )
        confabulator = shown["mock-qa-confabulator"]
        assert confabulator["compared_with"] == {"run_id": runs["oracle"], "kind": "baseline"}
        assert confabulator["regression"]
    finally:
        gateway.stop()
