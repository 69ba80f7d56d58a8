"""``llmgate eval ...`` end to end through the CLI runner, against gateways on loopback.

Models are the built-in mock provider (one canned answer per model) or a fake upstream whose
answers the test controls. Covered: pass (exit 0), fail (exit 1) with JSON, JUnit (validated
against the junit-10 schema) and HTML reports, a regression against a baseline (exit 1, the
flipped cases named with old and new answers), flaky cases under ``--repeat``, and usage,
config and suite errors (exit 2, one line on stderr, no traceback).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import xmlschema
import yaml
from click.testing import Result
from typer.testing import CliRunner

from llmgate.cli.main import app
from llmgate.store.db import create_engine_for
from llmgate.store.evals import ensure_schema
from support.configs import MASTER_KEY, upstream_config
from support.gateway import RunningGateway
from support.upstream import FakeUpstream, Fault

XSD = Path(__file__).resolve().parents[1] / "evals" / "junit.xsd"
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
GOOD = "Every answer: " + ", ".join(WORDS) + "."
WORSE = "Only alpha, sadly."  # 7 of the 8 cases flip to fail


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("LLMGATE_CONFIG", "LLMGATE_DATABASE_URL", "LLMGATE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, ["eval", *args])


def write_config(path: Path, answers: dict[str, str], store: Path) -> Path:
    config = {
        "model_list": [
            {"model_name": name, "litellm_params": {"model": f"mock/{name}", "mock_response": answer}}
            for name, answer in answers.items()
        ],
        "llmgate": {"database_url": f"sqlite:///{store}", "spill_dir": str(path.parent / "spill")},
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def write_suite(path: Path, model: str = "qa") -> Path:
    cases = [
        {"id": f"case-{w}", "vars": {"word": w}, "assert": [{"type": "icontains", "value": w}]} for w in WORDS
    ]
    suite = {"name": "words", "models": [model], "prompt": {"user": "Say {{word}}"}, "cases": cases}
    path.write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
    return path


def run_id_of(result: Result) -> str:
    return str(json.loads(result.stdout)["runs"][0]["run"]["id"])


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """The eval store, migrated before any gateway in this process migrates its own."""
    path = tmp_path / "evals.db"
    engine = create_engine_for(f"sqlite:///{path}")
    ensure_schema(engine)
    engine.dispose()
    return path


def test_pass_and_fail_with_every_report(tmp_path: Path, store: Path) -> None:
    config = write_config(tmp_path / "gw.yaml", {"qa": GOOD, "bad": WORSE}, store)
    suite = write_suite(tmp_path / "words.yaml")

    passed = cli("run", str(suite), "--config", str(config))
    assert passed.exit_code == 0, passed.output
    assert "case-alpha" in passed.stdout and "8/8 passed" in passed.stdout

    failed = cli("run", str(suite), "--config", str(config), "--model", "bad", "--output", "json")
    assert failed.exit_code == 1
    report = json.loads(failed.stdout)["runs"][0]
    assert report["run"]["model"] == "bad" and report["run"]["status"] == "failed"
    assert (report["run"]["passed"], report["run"]["failed"]) == (1, 7)
    case = report["cases"][1]
    assert (case["id"], case["vars"], case["output"], case["pass"]) == (
        "case-bravo",
        {"word": "bravo"},
        WORSE,
        False,
    )
    assert case["assertions"] == [
        {"type": "icontains", "score": 0.0, "pass": False, "weight": 1.0, "reason": "missing 'bravo'"}
    ]
    assert "1/8 passed" in failed.stderr  # the summary beside a machine-readable stdout

    junit = tmp_path / "report.xml"
    both = cli(
        "run",
        str(suite),
        "-c",
        str(config),
        "-m",
        "qa",
        "-m",
        "bad",
        "--output",
        "junit",
        "--out",
        str(junit),
    )
    assert both.exit_code == 1
    schema = xmlschema.XMLSchema(str(XSD))
    schema.validate(str(junit))
    data = schema.to_dict(str(junit))
    assert [s["@name"] for s in data["testsuite"]] == ["words [qa]", "words [bad]"]
    assert [len(s["testcase"]) for s in data["testsuite"]] == [8, 8]
    assert (data["@tests"], data["@failures"], data["@errors"]) == ("16", "7", "0")
    assert "8/8 passed" in both.stdout and "1/8 passed" in both.stdout

    html = tmp_path / "report.html"
    assert cli("run", str(suite), "-c", str(config), "--output", "html", "--out", str(html)).exit_code == 0
    assert html.read_text().startswith("<!DOCTYPE html>") and "case-hotel" in html.read_text()

    listed = cli("list", "--config", str(config), "--format", "json")
    assert listed.exit_code == 0
    runs = json.loads(listed.stdout)
    assert [(r["model"], r["status"]) for r in runs] == [
        ("qa", "passed"),
        ("bad", "failed"),
        ("qa", "passed"),
        ("bad", "failed"),
        ("qa", "passed"),
    ]
    assert runs[0]["summary"]["pass_rate"] == 1.0
    table = cli("list", "--config", str(config))
    assert table.exit_code == 0 and "words" in table.stdout

    shown = cli("show", runs[1]["id"][:10], "--config", str(config), "--output", "json")
    assert shown.exit_code == 0
    assert json.loads(shown.stdout)["runs"][0]["cases"][0]["output"] == WORSE
    text = tmp_path / "report.txt"
    assert cli("show", runs[1]["id"], "--config", str(config), "--out", str(text)).exit_code == 0
    assert "case-alpha" in text.read_text() and "1/8 passed" in text.read_text()


def test_a_regression_against_the_baseline(
    tmp_path: Path, store: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    config = write_config(tmp_path / "gw.yaml", {"qa": GOOD}, store)
    suite = write_suite(tmp_path / "words.yaml")
    first = cli("run", str(suite), "--config", str(config), "--output", "json")
    assert first.exit_code == 0, first.output
    baseline_id = run_id_of(first)
    assert json.loads(first.stdout)["runs"][0]["baseline"] is None

    marked = cli("baseline", "set", baseline_id[:12], "--config", str(config))
    assert marked.exit_code == 0 and f"baseline of words on qa: run {baseline_id}" in marked.stdout
    assert baseline_id in cli("baseline", "list", "--config", str(config)).stdout

    # The same model name, now answering worse, on a gateway of its own; results to the same store.
    worse = yaml.safe_load(write_config(tmp_path / "worse.yaml", {"qa": WORSE}, store).read_text())
    gateway = gateway_factory(worse)
    second = cli("run", str(suite), "--base-url", gateway.url + "/v1", "--config", str(config))
    assert second.exit_code == 1
    out = second.stdout
    assert "REGRESSION" in out and baseline_id[:12] in out
    for word in WORDS[1:]:
        assert f"case-{word}" in out
    assert GOOD[:40] in out and WORSE in out  # old and new answers side by side

    again = cli("run", str(suite), "--base-url", gateway.url, "--config", str(config), "--output", "json")
    assert again.exit_code == 1
    verdict = json.loads(again.stdout)["runs"][0]["baseline"]
    assert verdict["regression"] and verdict["baseline_run"] == baseline_id
    assert verdict["flipped_to_fail"] == [f"case-{w}" for w in sorted(WORDS[1:])]
    assert verdict["p_value"] < 0.05 and verdict["effect"] == pytest.approx(-7 / 8)
    assert verdict["flips"][0]["old_output"] == GOOD and verdict["flips"][0]["new_output"] == WORSE

    current_id = run_id_of(again)
    compared = cli("compare", baseline_id, current_id, "--config", str(config))
    assert compared.exit_code == 1 and "REGRESSION" in compared.stdout and "case-bravo" in compared.stdout
    as_json = cli("compare", baseline_id, current_id, "--config", str(config), "--format", "json")
    assert json.loads(as_json.stdout)["flipped_to_fail"][0] == "case-bravo"
    assert cli("compare", baseline_id, baseline_id, "--config", str(config)).exit_code == 0


FLAKY_SUITE = {
    "name": "flaky",
    "models": ["gpt-4o-mini"],
    "prompt": {"user": "{{question}}"},
    "cases": [
        {
            "id": "paris",
            "vars": {"question": "Where is Paris?"},
            "assert": [{"type": "contains", "value": "Paris"}],
        },
        {
            "id": "rome",
            "vars": {"question": "Where is Rome?"},
            "assert": [{"type": "contains", "value": "Rome"}],
        },
    ],
}


def wrong_answer() -> bytes:
    message = {"role": "assistant", "content": "No idea."}
    return orjson.dumps(
        {
            "id": "chatcmpl-wrong",
            "object": "chat.completion",
            "created": 0,
            "model": "upstream-model-1",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }
    )


@pytest.fixture
def upstream_gateway(
    store: Path, upstream: FakeUpstream, gateway_factory: Callable[..., RunningGateway]
) -> Iterator[RunningGateway]:
    yield gateway_factory(upstream_config(upstream, recorder={"process": False}))


def test_repetitions_that_disagree_are_reported_as_flaky(
    tmp_path: Path, store: Path, upstream: FakeUpstream, upstream_gateway: RunningGateway
) -> None:
    config = write_config(tmp_path / "store.yaml", {"unused": "x"}, store)
    suite = tmp_path / "flaky.yaml"
    suite.write_text(yaml.safe_dump(FLAKY_SUITE), encoding="utf-8")
    common = [
        "--base-url",
        upstream_gateway.url + "/v1",
        "--api-key",
        MASTER_KEY,
        "-c",
        str(config),
        "--concurrency",
        "1",
    ]

    steady = cli("run", str(suite), *common, "--repeat", "3", "--output", "json")
    assert steady.exit_code == 0, steady.output
    assert cli("baseline", "set", run_id_of(steady), "--config", str(config)).exit_code == 0

    upstream.fail_next(Fault(status=200, body=wrong_answer()))  # the first of six answers is wrong
    shaky = cli("run", str(suite), *common, "--repeat", "3")
    assert shaky.exit_code == 1  # a repetition failed
    assert "(flaky)" in shaky.stdout
    assert "no regression" in shaky.stdout  # flaky cases are kept apart from the paired test
    assert "flaky (repetitions disagree): paris" in shaky.stdout

    upstream.fail_next(Fault(status=200, body=wrong_answer()))
    as_json = cli("run", str(suite), *common, "--repeat", "3", "--output", "json")
    report = json.loads(as_json.stdout)["runs"][0]
    assert report["run"]["flaky"] == ["paris"] and report["baseline"]["flaky"] == ["paris"]
    assert [c["pass"] for c in report["cases"] if c["id"] == "paris"] == [False, True, True]


def one_line_error(result: Result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_usage_config_and_suite_errors(tmp_path: Path, store: Path) -> None:
    config = write_config(tmp_path / "gw.yaml", {"qa": GOOD}, store)
    suite = write_suite(tmp_path / "words.yaml")

    bad_suite = tmp_path / "bad.yaml"
    bad_suite.write_text(
        "name: x\nprompt: {user: hi}\ncases:\n  - assert:\n      - type: contain\n        value: y\n"
    )
    line = one_line_error(cli("run", str(bad_suite), "--config", str(config)))
    assert line.startswith(
        f"error: {bad_suite}:5: cases[0].assert[0].type: unknown assertion type 'contain' (known: "
    )

    assert "cannot read the suite" in one_line_error(
        cli("run", str(tmp_path / "none.yaml"), "--config", str(config))
    )
    assert "--base-url" in one_line_error(cli("run", str(suite)))

    broken = tmp_path / "broken.yaml"
    broken.write_text("model_list: []\nllmgate: {bogus: 1}\n")
    assert "llmgate.bogus" in one_line_error(cli("run", str(suite), "--config", str(broken)))

    no_models = tmp_path / "nomodels.yaml"
    no_models.write_text("name: x\nprompt: {user: hi}\ncases: [{}]\n")
    assert "no model to run" in one_line_error(cli("run", str(no_models), "--config", str(config)))
    assert "no case has any of the tags" in one_line_error(
        cli("run", str(suite), "-c", str(config), "--tag", "zzz")
    )

    usage = cli("run", str(suite), "--config", str(config), "--concurrency", "0")
    assert usage.exit_code == 2 and "Traceback" not in usage.output

    assert "no eval run 'nope'" in one_line_error(cli("show", "nope", "--config", str(config)))
    assert "no eval run 'nope'" in one_line_error(cli("baseline", "set", "nope", "--config", str(config)))
    assert "no eval run" in one_line_error(cli("compare", "a", "b", "--config", str(config)))


def test_a_failing_upstream_makes_errors_not_a_crash(
    tmp_path: Path, store: Path, upstream: FakeUpstream, upstream_gateway: RunningGateway
) -> None:
    # The setup is sound (the gateway answers, knows the model, takes the key): the model's calls
    # fail, which is the model's result (exit 1, an errored run stored), not a setup error (exit 2).
    config = write_config(tmp_path / "store.yaml", {"unused": "x"}, store)
    suite = tmp_path / "flaky.yaml"
    suite.write_text(yaml.safe_dump(FLAKY_SUITE), encoding="utf-8")
    upstream.down = True
    url = upstream_gateway.url + "/v1"
    result = cli(
        "run", str(suite), "--base-url", url, "--api-key", MASTER_KEY, "-c", str(config), "--output", "json"
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    report: dict[str, Any] = json.loads(result.stdout)["runs"][0]
    assert report["run"]["errors"] == 2 and report["run"]["status"] == "error"
    assert report["cases"][0]["error"].startswith("HTTP 5")
    listed = json.loads(cli("list", "-c", str(config), "--format", "json").stdout)
    assert [(r["id"], r["status"]) for r in listed] == [(report["run"]["id"], "error")]
