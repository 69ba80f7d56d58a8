"""``answer_relevance`` on real rows: on-topic versus off-topic answers, refusals, odd inputs."""

from __future__ import annotations

import random
from typing import Any

import pytest

from llmgate.quality.embedder import Embedder
from llmgate.quality.relevance import RelevanceScore, answer_relevance


def _auroc(positives: list[float], negatives: list[float]) -> float:
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def test_own_answers_are_more_relevant_than_another_rows(
    embedder: Embedder, qa_rows: list[dict[str, Any]]
) -> None:
    rows = qa_rows[1::2][:40]
    rng = random.Random(3)
    own = [answer_relevance(r["question"], r["right_answer"], embedder=embedder).score for r in rows]
    other = [
        answer_relevance(
            r["question"],
            rows[(i + 1 + rng.randrange(len(rows) - 1)) % len(rows)]["right_answer"],
            embedder=embedder,
        ).score
        for i, r in enumerate(rows)
    ]
    assert _auroc(own, other) >= 0.75


def test_responses_are_more_relevant_to_their_own_query(
    embedder: Embedder, general_rows: list[dict[str, Any]]
) -> None:
    rows = general_rows[:40]
    own = [answer_relevance(r["user_query"], r["response"], embedder=embedder).score for r in rows]
    shuffled = [
        answer_relevance(r["user_query"], rows[(i + 7) % len(rows)]["response"], embedder=embedder).score
        for i, r in enumerate(rows)
    ]
    assert _auroc(own, shuffled) >= 0.9
    assert sum(own) / len(own) > sum(shuffled) / len(shuffled) + 0.3


@pytest.mark.parametrize(
    "answer",
    [
        "I'm sorry, but I can't help with that.",
        "I don't know.",
        "As an AI language model, I do not have enough information to answer this question.",
    ],
)
def test_refusals_are_not_relevant(embedder: Embedder, qa_rows: list[dict[str, Any]], answer: str) -> None:
    result = answer_relevance(qa_rows[1]["question"], answer, embedder=embedder)
    assert "refusal" in result.flags
    assert result.score < 0.2


def test_a_refusal_that_goes_on_to_answer_is_not_a_refusal(embedder: Embedder) -> None:
    result = answer_relevance(
        "Create a chart of the world's population from 2000 to 2015.",
        "As an AI language model, I cannot create charts. However, here is a table: 2000: 6.1 billion; "
        "2005: 6.5 billion; 2010: 6.9 billion; 2015: 7.3 billion.",
        embedder=embedder,
    )
    assert "refusal" not in result.flags
    assert result.score >= 0.5


def test_an_answer_of_the_wrong_type_is_marked_down(embedder: Embedder) -> None:
    question = "In what year was the Oberoi Group founded?"
    right_type = answer_relevance(question, "1934", embedder=embedder)
    wrong_type = answer_relevance(question, "Delhi", embedder=embedder)
    assert "wrong_type" in wrong_type.flags
    assert "wrong_type" not in right_type.flags
    assert wrong_type.score < right_type.score


def test_a_yes_no_question_accepts_yes(embedder: Embedder, qa_rows: list[dict[str, Any]]) -> None:
    question = next(r["question"] for r in qa_rows if r["right_answer"].lower() == "yes")
    assert answer_relevance(question, "Yes.", embedder=embedder).flags == ()
    assert "wrong_type" in answer_relevance(question, "Delhi", embedder=embedder).flags


def test_repeating_the_question_is_not_an_answer(embedder: Embedder, qa_rows: list[dict[str, Any]]) -> None:
    question = qa_rows[1]["question"]
    result = answer_relevance(question, question.rstrip("?"), embedder=embedder)
    assert "echo" in result.flags


@pytest.mark.parametrize("answer", ["", "   ", "?!?", "\n", "…"])
def test_empty_or_garbage_answers_score_zero(embedder: Embedder, answer: str) -> None:
    result = answer_relevance("Where is the Oberoi Group based?", answer, embedder=embedder)
    assert isinstance(result, RelevanceScore)
    assert result.score == 0.0
    assert result.flags == ("empty",)


def test_odd_text_does_not_raise(embedder: Embedder) -> None:
    for question, answer in [
        ("", "Delhi"),
        ("東京はどこ?", "日本"),
        ("What is 2+2?", "4"),
        ("Why?", "x" * 5000),
        ("Explain.", "a\u200bb <b>bold</b> 🚀"),
    ]:
        score = answer_relevance(question, answer, embedder=embedder).score
        assert 0.0 <= score <= 1.0
