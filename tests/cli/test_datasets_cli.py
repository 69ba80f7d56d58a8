"""``llmgate dataset`` end to end through the CLI runner, on a store with known records and scores
(the recorder's ``insert_records``, users' feedback through ``put_score``, the monitor's
groundedness in ``monitor_samples``), on SQLite and PostgreSQL.

``create --from-logs --where ...`` selects exactly the expected calls (``--since`` a date:
midnight in ``llmgate.time_zone``; ``--model``), scrubs PII from the selected prompts unless
``--keep-pii``, refuses a taken name unless ``--replace``, and says what it did; ``export`` writes
a suite that ``llmgate eval run`` accepts and runs against the mock provider; ``list``, ``show``,
``add`` (idempotent, by request or session), ``remove`` (by request or item) and ``delete``; bad
options are one line and exit 2, a missing dataset or request exit 1.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import yaml
from click.testing import Result
from typer.testing import CliRunner

from llmgate.cli.main import app
from llmgate.evals.suite import load_suite
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade
from llmgate.store.models import table
from llmgate.store.records import insert_records
from llmgate.store.scores import put_score
from support.postgres import postgres_schema

TZ = "America/New_York"
DAY = datetime(2026, 11, 3, tzinfo=ZoneInfo(TZ))  # midnight in New York
EMAIL, CARD, PHONE = "alice@example.com", "4111 1111 1111 1111", "+44 20 7946 0958"
ANSWER = "Paris is the capital of France."


def rid(n: int) -> str:
    return f"{n:032x}"


def call(
    n: int, model: str, at: datetime, messages: list[dict[str, str]], answer: str, **extra: Any
) -> dict[str, Any]:
    return {
        "id": rid(n),
        "created_at": at,
        "endpoint": "chat/completions",
        "model": model,
        "status": "success",
        "status_code": 200,
        "latency_ms": 10.0,
        "request_json": json.dumps({"model": model, "messages": messages}),
        "response_text": answer,
        **extra,
    }


ROWS = [
    # 1: thumbs down, PII in the prompt
    call(
        1,
        "chat-a",
        DAY + timedelta(hours=1),
        [{"role": "user", "content": f"I am {EMAIL}, card {CARD}: refund?"}],
        "No.",
    ),
    # 2: ungrounded (the monitor's 0.2), a RAG call with its context in the metadata
    call(
        2,
        "chat-b",
        DAY + timedelta(hours=2),
        [
            {"role": "system", "content": "Answer from the context."},
            {"role": "user", "content": f"What is the capital of France? Call me on {PHONE}."},
        ],
        "Lyon.",
        metadata_json=json.dumps({"context": [ANSWER, "France is in Europe."]}),
    ),
    # 3: thumbs up and grounded; 4: no score; both in one session
    call(
        3,
        "chat-a",
        DAY + timedelta(hours=3),
        [{"role": "user", "content": "How tall is the tower?"}],
        "330 m.",
        session_id="conv-1",
    ),
    call(
        4,
        "chat-b",
        DAY + timedelta(hours=4),
        [{"role": "user", "content": "hello"}],
        "Hi!",
        session_id="conv-1",
    ),
    # 5: thumbs down, but the day before (local time)
    call(5, "chat-a", DAY - timedelta(hours=1), [{"role": "user", "content": "old question"}], "old answer"),
]
WHERE = "feedback.thumbs = down or groundedness < 0.5"


def monitor_sample(n: int, groundedness: float) -> dict[str, Any]:
    row = next(r for r in ROWS if r["id"] == rid(n))
    return {
        "record_id": rid(n),
        "created_at": row["created_at"],
        "sampled_at": row["created_at"],
        "model": row["model"],
        "route": "chat/completions",
        "embedder": "test",
        "dim": 0,
        "groundedness": groundedness,
    }


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def config(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("datasets-cli")

    def write(url: str) -> Path:
        engine = create_engine_for(url)
        upgrade(engine)
        insert_records(engine, ROWS)
        for n, thumbs in ((1, False), (3, True), (5, False)):
            put_score(
                engine, target_kind="request", target_id=rid(n), name="thumbs", value=thumbs, source="key:k1"
            )
        with engine.begin() as conn:
            conn.execute(
                sa.insert(table("monitor_samples")), [monitor_sample(2, 0.2), monitor_sample(3, 0.9)]
            )
        engine.dispose()
        path = tmp / "config.yaml"
        models = [{"model_name": "mockq", "litellm_params": {"model": "mock/mockq", "mock_response": ANSWER}}]
        settings = {"database_url": url, "time_zone": TZ, "spill_dir": str(tmp / "spill")}
        path.write_text(yaml.safe_dump({"model_list": models, "llmgate": settings}))
        return path

    if request.param == "sqlite":
        yield write(f"sqlite:///{tmp / 'store.db'}")
        return
    base = os.environ.get("LLMGATE_TEST_DATABASE_URL")
    if not base:
        pytest.skip("LLMGATE_TEST_DATABASE_URL is not set")
    with postgres_schema(base) as url:
        yield write(url)


def cli(config: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["dataset", *args, "--config", str(config)])


def ok(config: Path, *args: str) -> str:
    result = cli(config, *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def one_line_error(result: Result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def shown(config: Path, name: str) -> dict[str, Any]:
    return json.loads(ok(config, "show", name, "--format", "json"))  # type: ignore[no-any-return]


def prompts(dataset: dict[str, Any]) -> str:
    return json.dumps([item["messages"] for item in dataset["items"]], ensure_ascii=False)


def test_create_selects_exactly_the_filtered_calls_and_scrubs_their_prompts(config: Path) -> None:
    out = ok(config, "create", "bad", "--from-logs", "--since", "2026-11-03", "--where", WHERE)
    assert out.startswith("created dataset 'bad': 2 items (2 matched of ") and "PII replacements" in out
    bad = shown(config, "bad")
    assert [i["request_id"] for i in bad["items"]] == [rid(1), rid(2)]
    assert bad["query"]["where"] == WHERE and bad["query"]["since"] == DAY.astimezone(UTC).isoformat()
    text = prompts(bad)
    assert EMAIL not in text and CARD not in text and PHONE not in text
    assert "[EMAIL]" in text and "[CARD]" in text and "[PHONE]" in text
    second = bad["items"][1]
    assert second["context"] == [ANSWER, "France is in Europe."] and second["model"] == "chat-b"
    assert second["scores"]["groundedness"] == pytest.approx(0.2)
    assert bad["items"][0]["rating"] == "bad"

    ok(config, "create", "all-days", "--from-logs", "--where", WHERE)
    assert [i["request_id"] for i in shown(config, "all-days")["items"]] == [rid(5), rid(1), rid(2)]
    ok(
        config,
        "create",
        "chat-a",
        "--from-logs",
        "--since",
        "2026-11-03",
        "--where",
        WHERE,
        "--model",
        "chat-a",
    )
    assert [i["request_id"] for i in shown(config, "chat-a")["items"]] == [rid(1)]

    ok(config, "create", "raw", "--from-logs", "--since", "2026-11-03", "--where", WHERE, "--keep-pii")
    raw = prompts(shown(config, "raw"))
    assert EMAIL in raw and CARD in raw and PHONE in raw


def test_a_taken_name_and_bad_options(config: Path) -> None:
    ok(config, "create", "taken", "--from-logs", "--where", "model = chat-b")
    line = one_line_error(cli(config, "create", "taken", "--from-logs", "--where", "model = chat-a"), 1)
    assert "exists already" in line and "--replace" in line
    out = ok(
        config,
        "create",
        "taken",
        "--from-logs",
        "--where",
        "model = chat-a",
        "--since",
        "2026-11-03",
        "--replace",
    )
    assert out.startswith("replaced dataset 'taken': 2 items")
    assert {i["request_id"] for i in shown(config, "taken")["items"]} == {rid(1), rid(3)}

    assert one_line_error(
        cli(config, "create", "x", "--from-logs", "--where", "feedback.thumbs ="), 2
    ).startswith("error: --where")
    assert one_line_error(cli(config, "create", "x", "--from-logs", "--since", "soon"), 2).startswith(
        "error: --since"
    )
    assert "--from-logs" in one_line_error(cli(config, "create", "x"), 2)
    assert "dataset name" in one_line_error(cli(config, "create", "a b", "--from-logs"), 2)
    assert "x" not in [d["name"] for d in json.loads(ok(config, "list", "--format", "json"))["datasets"]]


def test_export_writes_a_suite_eval_run_accepts_and_runs(config: Path, tmp_path: Path) -> None:
    ok(config, "create", "to-export", "--from-logs", "--since", "2026-11-03", "--where", WHERE)
    suite_path = tmp_path / "regressions.yaml"
    out = ok(config, "export", "to-export", "--suite", str(suite_path), "--model", "mockq")
    assert out.startswith(f"wrote 2 cases to {suite_path}")
    suite = load_suite(suite_path)
    assert suite.models == ["mockq"] and [c.id for c in suite.cases] == [rid(1), rid(2)]
    assert [a.type for a in suite.assertions_for(suite.cases[1])] == ["grounded"]
    assert [a.type for a in suite.assertions_for(suite.cases[0])] == ["answer_relevance"]

    ok(config, "create", "empty-one", "--from-logs", "--where", "model = nothing")
    assert "nothing to export" in one_line_error(
        cli(config, "export", "empty-one", "--suite", str(suite_path)), 1
    )
    assert "no dataset named" in one_line_error(cli(config, "export", "nope", "--suite", str(suite_path)), 1)

    if "postgresql" in config.read_text():
        return  # the suite is the same from either store; eval run (and its embedder) once is enough
    result = CliRunner().invoke(
        app, ["eval", "run", str(suite_path), "--config", str(config), "--output", "json", "--no-store"]
    )
    assert result.exit_code in (0, 1), result.output  # 1: a case failed its assertion; it ran
    (run,) = json.loads(result.stdout)["runs"]
    assert run["run"]["model"] == "mockq" and run["run"]["suite"] == "to-export"
    cases = {c["id"]: c for c in run["cases"]}
    assert set(cases) == {rid(1), rid(2)}
    assert cases[rid(1)]["output"] == ANSWER and cases[rid(1)]["assertions"][0]["type"] == "answer_relevance"
    grounded = cases[rid(2)]["assertions"][0]  # the mock's answer is the context: supported
    assert grounded["type"] == "grounded" and grounded["pass"] and "error" not in grounded


def test_list_show_add_remove_delete(config: Path) -> None:
    assert ok(config, "add", "hand", "--request", rid(3)).startswith(
        "created dataset 'hand': 1 added; 1 items"
    )
    assert "0 added, 1 already in it; 1 items" in ok(config, "add", "hand", "--request", rid(3))
    assert "1 added, 1 already in it; 2 items" in ok(config, "add", "hand", "--session", "conv-1")
    hand = shown(config, "hand")
    assert [i["request_id"] for i in hand["items"]] == [rid(3), rid(4)] and hand["query"] is None
    assert hand["items"][0]["rating"] == "good" and hand["items"][0]["added_by"].startswith("cli:")

    listed = {d["name"]: d for d in json.loads(ok(config, "list", "--format", "json"))["datasets"]}
    assert listed["hand"]["items"] == 2
    assert any(line.split()[:2] == ["hand", "2"] for line in ok(config, "list").splitlines())
    show_out = ok(config, "show", "hand")
    assert show_out.startswith("dataset hand: 2 items") and "How tall is the tower?" in show_out

    assert "no recorded request" in one_line_error(cli(config, "add", "hand", "--request", "f" * 32), 1)
    assert "no recorded calls in session" in one_line_error(
        cli(config, "add", "hand", "--session", "nope"), 1
    )
    assert "--request" in one_line_error(cli(config, "add", "hand"), 2)

    assert ok(config, "remove", "hand", "--request", rid(3)).startswith("removed 1 item from")
    item = shown(config, "hand")["items"][0]["id"]
    assert ok(config, "remove", "hand", "--item", str(item)).startswith("removed 1 item from")
    assert shown(config, "hand")["items"] == []
    assert "no dataset named 'gone'" in one_line_error(cli(config, "show", "gone"), 1)
    assert "no dataset named 'gone'" in one_line_error(cli(config, "remove", "gone", "--item", "1"), 1)
    assert ok(config, "delete", "hand").startswith("deleted dataset 'hand' (0 items)")
    assert "no dataset named 'hand'" in one_line_error(cli(config, "delete", "hand"), 1)
