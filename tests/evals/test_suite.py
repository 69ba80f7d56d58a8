"""Suite files: the format, templates, and validation errors that name the file, the line and the key."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from llmgate.errors import ConfigError
from llmgate.evals.suite import Suite, SuiteError, load_suite, parse_suite, render, template_names

REPO = Path(__file__).resolve().parents[2]

GOOD = """\
name: demo
description: a small suite
models: [mock-echo]
prompt:
  system: "You help {{audience}}."
  user: "{{context}}\\n\\nQuestion: {{ question }}"
defaults:
  temperature: 0
  max_tokens: 50
  vars: {audience: engineers}
  assert:
    - type: max_latency_ms
      value: 5000
cases:
  - vars: {question: "How tall is it?"}
    context: [The tower is 330 m tall., It opened in 1889.]
    reference: 330 metres
    tags: [numbers]
    assert:
      - type: contains
        value: "330"
      - type: grounded
  - id: greeting
    messages:
      - {role: system, content: Be brief.}
      - {role: user, content: "Say hello to {{audience}}"}
    assert:
      - type: not-contains
        value: goodbye
      - type: llm-rubric
        value: is friendly
      - type: latency
        threshold: 2000
  - id: 7
    vars: {question: "Why?", audience: managers}
    context: Because.
"""


def errors_of(text: str, source: str = "evals/x.yaml") -> str:
    with pytest.raises(SuiteError) as caught:
        parse_suite(text, source=source)
    message = caught.value.message
    assert "\n" not in message
    return message


def test_a_valid_suite_and_its_cases() -> None:
    suite = parse_suite(GOOD)
    assert isinstance(suite, Suite)
    assert [c.id for c in suite.cases] == ["case-1", "greeting", "7"]
    first, second, third = suite.cases
    assert suite.messages_for(first) == [
        {"role": "system", "content": "You help engineers."},
        {
            "role": "user",
            "content": "The tower is 330 m tall.\n\nIt opened in 1889.\n\nQuestion: How tall is it?",
        },
    ]
    assert suite.messages_for(second) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello to engineers"},
    ]
    assert suite.messages_for(third)[0]["content"] == "You help managers."  # case vars win
    assert suite.question_for(first) == "How tall is it?"
    assert suite.question_for(second) == "Say hello to engineers"  # no question var: the user message
    assert first.passages == ("The tower is 330 m tall.", "It opened in 1889.")
    assert third.passages == ("Because.",)
    # promptfoo's spellings become llmgate's; default assertions come first
    assert [a.type for a in suite.assertions_for(second)] == [
        "max_latency_ms",
        "not_contains",
        "llm_judge",
        "max_latency_ms",
    ]
    assert suite.defaults.request_params() == {"temperature": 0, "max_tokens": 50}
    assert [c.id for c in suite.select(["numbers"])] == ["case-1"]
    assert suite.select(["nothing"]) == []
    assert len(suite.select(None)) == 3


def test_the_content_hash_is_the_sha256_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text(GOOD, encoding="utf-8")
    suite = load_suite(path)
    assert suite.content_hash == hashlib.sha256(GOOD.encode()).hexdigest()
    assert suite.source_path == path.resolve()
    # without a file: a stable hash of the content
    again = Suite.model_validate({"name": "x", "prompt": {"user": "hi"}, "cases": [{}]})
    assert again.content_hash == Suite.model_validate(again.model_dump(by_alias=True)).content_hash


def test_templates() -> None:
    assert template_names("{{a}} and {{ b }} and {{a}}") == ["a", "b", "a"]
    assert render("{{a}}-{{ b }}-{{c}}", {"a": 1, "b": [1, 2], "c": {"k": "v"}}) == '1-[1, 2]-{"k": "v"}'
    with pytest.raises(ValueError, match="not a variable"):
        template_names("{{ a.b }}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name: a\nprompt: {user: hi}\ncases:\n  - assert:\n      - type: contains\n        value: x\n"
            "  - assert:\n      - type: contain\n        value: y\n",
            "evals/x.yaml:8: cases[1].assert[0].type: unknown assertion type 'contain' (known: equals, contains,",
        ),
        (
            "name: a\nprompt: {user: hi}\ncases:\n  - vars: {q: 1}\n    bogus: 2\n",
            "evals/x.yaml:5: cases[0].bogus: unknown key 'bogus'",
        ),
        (
            "name: a\nprompt: {user: '{{question}}'}\ncases:\n  - tags: [x]\n  - vars: {q: 1}\n",
            "evals/x.yaml:4: cases[0].vars: missing variable 'question' used by prompt.user",
        ),
        (
            "name: a\nprompt: {user: '{{context}}'}\ncases:\n  - vars: {q: 1}\n",
            "evals/x.yaml:4: cases[0].vars: missing variable 'context' used by prompt.user (the case has no context:)",
        ),
        (
            "name: a\nprompt: {user: hi}\ncases:\n  - vars: {q: 1}\n    assert:\n      - type: grounded\n",
            "evals/x.yaml:6: cases[0].assert[0]: grounded needs a context: on the case",
        ),
        (
            "name: a\nprompt: {user: hi}\ncases:\n  - assert:\n      - type: similar\n",
            "evals/x.yaml:5: cases[0].assert[0]: similar needs a value: or a reference: on the case",
        ),
        (
            "name: a\nprompt: {user: hi}\ncases:\n  - assert:\n      - type: regex\n        value: '('\n",
            "evals/x.yaml:6: cases[0].assert[0].value: invalid regular expression:",
        ),
        (
            "name: a\nprompt: {user: hi}\ncases:\n  - assert:\n      - type: contains\n",
            "evals/x.yaml:5: cases[0].assert[0].value: contains needs a value: a string or a list of strings",
        ),
        (
            "name: a\nprompt: {user: hi}\ncases:\n  - assert:\n      - type: llm_judge\n        rubric: ok\n        threshold: 7\n",
            "evals/x.yaml:7: cases[0].assert[0].threshold: llm_judge: threshold must be between 0 and 1",
        ),
        (
            "name: a\nprompt: {user: hi}\ncases:\n  - assert:\n      - type: json_schema\n        value: {type: objekt}\n",
            "evals/x.yaml:6: cases[0].assert[0].value: invalid JSON schema at type:",
        ),
        (
            "name: a\nprompt: {user: hi}\ncases:\n  - assert:\n      - type: max_cost_usd\n        value: -1\n",
            "evals/x.yaml:6: cases[0].assert[0].value: max_cost_usd: the limit must be a positive number, got -1",
        ),
        (
            "name: a\nprompt: {user: hi}\ncases:\n  - assert:\n      - type: equals\n        value: x\n        weight: -1\n",
            "evals/x.yaml:7: cases[0].assert[0].weight: must be greater than or equal to 0",
        ),
        (
            "name: a\nprompt: {user: hi}\ncases:\n  - id: one\n  - id: one\n",
            "evals/x.yaml:5: cases[1].id: duplicate case id 'one' (also cases[0])",
        ),
        (
            "name: a\ncases:\n  - vars: {q: 1}\n",
            "evals/x.yaml:3: cases[0]: no prompt: give the suite a prompt: or the case messages:",
        ),
        (
            "name: a\nprompt: {user: hi}\ncases:\n  - messages: [{role: assistant, content: hi}]\n",
            "evals/x.yaml:4: cases[0].messages: needs at least one user message",
        ),
        (
            "name: a\nprompt: {user: hi}\ncases:\n  - context: {a: 1}\n",
            "evals/x.yaml:4: cases[0].context: must be a passage (a string) or a list of passages",
        ),
        (
            "name: a\nprompt: {user: hi}\ncases: []\n",
            "evals/x.yaml:3: cases: List should have at least 1 item",
        ),
        ("prompt: {user: hi}\ncases: [{}]\n", "evals/x.yaml:1: name: required key is missing"),
        ("name: a\nname: b\n", "evals/x.yaml:2: duplicate key 'name'"),
        ("name: a\ncases: [\n", "evals/x.yaml:3: invalid YAML:"),
        ("- a\n- b\n", "evals/x.yaml:1: a suite is a mapping with name:, models:, cases: ..."),
        ("", "evals/x.yaml: a suite is a mapping"),
    ],
)
def test_errors_name_the_file_line_and_key(text: str, expected: str) -> None:
    assert errors_of(text).startswith(expected)


def test_several_problems_are_counted_on_the_one_line() -> None:
    message = errors_of("name: a\nprompt: {user: hi}\ncases:\n  - bogus: 1\n    other: 2\n")
    assert message == "evals/x.yaml:4: cases[0].bogus: unknown key 'bogus' (and 1 more)"


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(
        SuiteError, match=r"nowhere\.yaml: cannot read the suite \(No such file or directory\)"
    ):
        load_suite(tmp_path / "nowhere.yaml")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SuiteError, match="not UTF-8"):
        load_suite(binary)
    assert issubclass(SuiteError, ConfigError)  # the CLI's exit code 2


@pytest.mark.parametrize("name", ["factual_qa.yaml", "rag_faithfulness.yaml"])
def test_the_shipped_suites_load(name: str) -> None:
    suite = load_suite(REPO / "evals" / name)
    assert suite.models and len(suite.cases) >= 8
    assert len({c.id for c in suite.cases}) == len(suite.cases)
