"""A dataset exported as an eval suite reads back with ``load_suite`` as the cases it was made from:
ids from the request ids, the messages as sent (a recorded ``{{`` too), context, the reference only
for an answer rated good, tags from model and rating, and the assertions each case can be scored by."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from llmgate.datasets.export import export_suite, suite_yaml
from llmgate.datasets.item import DatasetItem
from llmgate.errors import InvalidRequest
from llmgate.evals.suite import load_suite

NOW = datetime(2027, 1, 20, 9, 0, tzinfo=UTC)
RAG = DatasetItem(
    request_id="a" * 32,
    model="gpt-4o",
    created_at=NOW,
    messages=[
        {"role": "developer", "content": "Answer from the context."},
        {"role": "user", "content": [{"type": "text", "text": "How tall is it?"}, {"type": "image_url"}]},
    ],
    context=["The tower is 330 m tall.", "It opened in 1889."],
    answer="330 m.",
    rating="good",
)
TEMPLATE = DatasetItem(
    request_id="b" * 32,
    model="mini",
    created_at=NOW,
    messages=[
        {"role": "user", "content": "Fill {{name}} and {{ not a var }} in:\nline two"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "t1"}]},
        {"role": "tool", "content": "42", "tool_call_id": "t1"},
        {"role": "assistant", "content": "Done: {{name}}"},
        {"role": "user", "content": "thanks"},
    ],
    answer="You're welcome",
    rating="bad",
)
PLAIN = DatasetItem(
    request_id="c" * 32, model="mini", created_at=NOW, messages=[{"role": "user", "content": "hi"}]
)
NO_USER = DatasetItem(
    request_id="d" * 32, model="mini", created_at=NOW, messages=[{"role": "system", "content": "x"}]
)


def test_the_suite_reads_back_as_the_items(tmp_path: Path) -> None:
    path = tmp_path / "suite.yaml"
    exported = export_suite("bad-answers", [RAG, TEMPLATE, PLAIN, NO_USER])
    assert (exported.cases, exported.skipped) == (3, 1)
    path.write_text(exported.text, encoding="utf-8")
    suite = load_suite(path)
    assert suite.name == "bad-answers" and suite.models == ["gpt-4o", "mini"]
    rag, template, plain = suite.cases
    assert [c.id for c in suite.cases] == ["a" * 32, "b" * 32, "c" * 32]

    assert suite.messages_for(rag) == [
        {"role": "system", "content": "Answer from the context."},
        {"role": "user", "content": "How tall is it?"},
    ]
    assert rag.context == ["The tower is 330 m tall.", "It opened in 1889."]
    assert rag.reference == "330 m." and rag.tags == ["model:gpt-4o", "rating:good"]
    assert [a.type for a in suite.assertions_for(rag)] == ["grounded", "similar"]

    assert suite.messages_for(template) == [  # as sent; tool turns left out
        {"role": "user", "content": "Fill {{name}} and {{ not a var }} in:\nline two"},
        {"role": "assistant", "content": "Done: {{name}}"},
        {"role": "user", "content": "thanks"},
    ]
    assert template.reference is None and template.context is None  # rated bad: no reference
    assert template.tags == ["model:mini", "rating:bad"]
    assert [a.type for a in suite.assertions_for(template)] == ["answer_relevance"]
    assert suite.question_for(template) == "thanks"

    assert [a.type for a in suite.assertions_for(plain)] == ["answer_relevance"]
    assert plain.tags == ["model:mini", "rating:none"] and plain.vars == {}


def test_models_given_replace_the_recorded_ones(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(suite_yaml("d", [PLAIN], models=["new", "new", "old"]), encoding="utf-8")
    assert load_suite(path).models == ["new", "old"]


def test_nothing_to_export_is_an_error() -> None:
    with pytest.raises(InvalidRequest, match="it has no items"):
        suite_yaml("d", [])
    with pytest.raises(InvalidRequest, match="no item has a user message"):
        suite_yaml("d", [NO_USER])
