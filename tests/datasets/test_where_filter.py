"""The ``--where`` language: precedence, SQL's three-valued logic, several values, rating words,
numbers against text, and one-line errors that say where and what was expected."""

from __future__ import annotations

from typing import Any

import pytest

from llmgate.datasets.filter import FilterError, parse_filter
from llmgate.errors import InvalidRequest


def selects(where: str, view: dict[str, Any]) -> bool:
    return parse_filter(where).matches(view)


def test_the_issue_example_and_its_fields() -> None:
    where = parse_filter("feedback.thumbs = down or groundedness < 0.5")
    assert where.fields == frozenset({"feedback.thumbs", "groundedness"})
    assert where.matches({"feedback.thumbs": False})
    assert where.matches({"feedback.thumbs": "thumbs_down"})
    assert where.matches({"feedback.thumbs": True, "groundedness": 0.2})
    assert not where.matches({"feedback.thumbs": True, "groundedness": 0.9})
    assert not where.matches({})  # both unknown


def test_precedence_not_then_and_then_or() -> None:
    # a or b and c == a or (b and c)
    view = {"model": "a", "status": "error", "user": "u"}
    assert selects("model = a or status = success and user = u", view)
    assert not selects("(model = a or status = success) and user = v", view)
    # not binds tighter than and
    assert selects("not status = success and model = a", view)
    assert not selects("not (status = error and model = a)", view)
    assert selects("NOT model = b AND (user = u OR user = v)", view)  # keywords in any case


def test_unknown_is_neither_true_nor_false() -> None:
    assert not selects("groundedness < 0.5", {})
    assert not selects("not groundedness < 0.5", {})  # not unknown is unknown
    assert not selects("not groundedness >= 0.5", {"groundedness": None})
    assert not selects("groundedness < 0.5 and model = a", {"model": "a"})
    assert selects("groundedness < 0.5 or model = a", {"model": "a"})
    assert not selects("groundedness < 0.5 and model = b", {"model": "a"})
    assert selects("not (groundedness < 0.5 and model = b)", {"model": "a"})  # unknown and false: false
    assert selects("groundedness missing", {}) and not selects("groundedness exists", {})
    assert selects("groundedness exists", {"groundedness": 0.0})


def test_several_values_any_of_them() -> None:
    two_users = {"feedback.thumbs": (True, False)}
    assert selects("feedback.thumbs = down", two_users)
    assert selects("feedback.thumbs = up", two_users)
    assert selects("feedback.thumbs != up", two_users)
    assert selects("key = team-bot", {"key": ("key_123", "team-bot")})  # id or alias


@pytest.mark.parametrize(
    ("value", "word", "expected"),
    [
        (False, "down", True),
        (False, "no", True),
        (False, "bad", True),
        (True, "up", True),
        (True, "good", True),
        (True, "yes", True),
        (True, "down", False),
        (True, "true", True),
        ("thumbs_down", "down", True),
        ("Down", "false", True),
        ("up", "down", False),
        (-1.0, "down", True),  # the +1 / -1 convention
        (0.2, "bad", True),  # a share below one half
        (0.8, "good", True),
        ("meh", "down", False),
    ],
)
def test_rating_words_against_scores(value: object, word: str, expected: bool) -> None:
    assert selects(f"feedback.thumbs = {word}", {"feedback.thumbs": value}) is expected
    assert selects(f"feedback.thumbs != {word}", {"feedback.thumbs": value}) is not expected


def test_bools_and_words_on_plain_fields() -> None:
    assert selects("stream = true", {"stream": True})
    assert selects("stream = yes", {"stream": True})
    assert not selects("stream = true", {"stream": False})
    assert selects("tag.reviewed = true", {"tag.reviewed": "yes"})
    # a plain number never rates: a tag "1" is not "up"
    assert not selects("tag.level = up", {"tag.level": 1})


def test_numbers_compare_as_numbers() -> None:
    assert selects("status_code >= 500", {"status_code": 503})
    assert selects("tag.tier = 3", {"tag.tier": "3"})
    assert selects("tag.tier > 10", {"tag.tier": "11"})  # not "11" < "3" as text
    assert selects("latency_ms < 2e3", {"latency_ms": 1999.5})
    assert selects("cost_usd <= 0.01", {"cost_usd": 0.01})
    assert selects("score.stars in (4, 5)", {"score.stars": 5.0})
    # a word and a number: not equal, not ordered
    assert selects("tag.tier != 3", {"tag.tier": "gold"})
    assert not selects("tag.tier = 3", {"tag.tier": "gold"})
    assert not selects("tag.tier < 3", {"tag.tier": "gold"})
    assert not selects("not tag.tier < 3", {"tag.tier": "gold"})


def test_text_ignores_case() -> None:
    view = {"model": "GPT-4o", "prompt": "How do I get a REFUND?", "endpoint": "chat/completions"}
    assert selects("model = gpt-4o", view)
    assert selects("model in (claude, 'gpt-4o')", view)
    assert selects("model not in (claude, llama)", view)
    assert not selects("model not in (claude, gpt-4o)", view)
    assert selects('prompt contains "refund"', view)
    assert not selects("prompt contains 'invoice'", view)
    assert selects("endpoint = chat/completions", view)
    assert selects("step > analyse", {"step": "b-search"})
    assert selects('prompt contains "say \\"hi\\""', {"prompt": 'please say "HI"'})


def test_keywords_as_values_must_be_quoted() -> None:
    assert selects("tag.op = 'and'", {"tag.op": "and"})
    with pytest.raises(FilterError, match=r"character 10 \('and'\).*quote a keyword"):
        parse_filter("tag.op = and")


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("", r"empty"),
        ("model = ", r"character 9 \(the end of the expression\): expected a value after model ="),
        ("model ~ x", r"character 7 \('~'\): expected an operator \(=, !=, <.*\) after model"),
        ("(model = a", r"character 11 .*expected '\)' to close the '\(' at character 1"),
        ("model = a)", r"character 10 \('\)'\): expected and, or, or the end"),
        ("model = a b", r"character 11 \('b'\): expected and, or, or the end"),
        ('model = "abc', r"character 9: an unterminated string"),
        ("model is null", r"expected model exists or model missing"),
        ("model = null", r"write FIELD missing"),
        ("latency_ms > fast", r"latency_ms is a number; compare it with a number"),
        ("status_code contains 5", r"status_code is a number"),
        ("model in a, b", r"expected '\(' and a list of values after model in"),
        ("model in (a b)", r"expected ',' or '\)' in the list"),
        ("and model = a", r"character 1 \('and'\): expected a field name"),
        ("tag. = x", r"unknown field 'tag.'"),
    ],
)
def test_parse_errors_are_one_line_with_the_place(where: str, message: str) -> None:
    with pytest.raises(FilterError, match=message) as caught:
        parse_filter(where)
    error = caught.value
    assert isinstance(error, InvalidRequest) and error.param == "where" and error.status_code == 400
    assert "\n" not in error.message and error.message.startswith("where: ")


def test_an_unknown_field_lists_the_fields() -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter("thumbs = down")
    message = caught.value.message
    assert "unknown field 'thumbs'" in message
    for field in (
        "model",
        "groundedness",
        "rating",
        "feedback.NAME",
        "score.NAME",
        "tag.NAME",
        "metadata.NAME",
    ):
        assert field in message


def test_limits() -> None:
    with pytest.raises(FilterError, match="longer than"):
        parse_filter("model = a or " * 400 + "model = b")
    with pytest.raises(FilterError, match="nested deeper"):
        parse_filter("not " * 100 + "model = a")
    deep = "(" * 30 + "model = a" + ")" * 30
    assert parse_filter(deep).matches({"model": "a"})
