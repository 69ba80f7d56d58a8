"""A recorded call as a dataset item: the prompt of each API as chat messages, the context found as
the retrieval monitor finds it, the users' rating (a good answer is the reference), the scores,
and PII scrubbed unless kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from llmgate.datasets.from_records import item_from_record
from llmgate.monitors.rag_extract import ContextSources

AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def row(endpoint: str, request: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": "r1",
        "created_at": AT,
        "model": "gpt",
        "endpoint": endpoint,
        "request_json": json.dumps(request),
        "response_text": "Paris.",
        **extra,
    }


def score(name: str, value: Any, source: str, target_kind: str = "request") -> dict[str, Any]:
    return {"target_kind": target_kind, "name": name, "value": value, "source": source}


def test_chat_with_rating_scores_and_context() -> None:
    request = {
        "model": "gpt",
        "messages": [
            {"role": "system", "content": "Answer from the documents."},
            {
                "role": "user",
                "content": "<context>Paris is the capital of France.</context>\nCapital of France?",
            },
        ],
    }
    scores = [
        score("thumbs", True, "key:k1"),
        score("thumbs", False, "master", target_kind="session"),  # a session's feedback does not rate
        score("groundedness", 0.9, "monitor"),
        score("exact", 1.0, "eval:run1"),
    ]
    item, replaced = item_from_record(
        row("chat/completions", request, session_id="s1"), scores, keep_pii=False
    )
    assert item is not None and replaced == 0
    assert item.messages == request["messages"]
    assert item.context == ["Paris is the capital of France."]
    assert (item.answer, item.rating, item.reference) == ("Paris.", "good", "Paris.")
    assert item.scores == {"thumbs": True, "groundedness": 0.9, "exact": 1.0}
    assert (item.request_id, item.model, item.created_at, item.session_id) == ("r1", "gpt", AT, "s1")


def test_any_bad_rating_wins_and_no_reference() -> None:
    scores = [score("thumbs", "up", "key:k1"), score("helpful", 0.1, "anonymous"), score("x", 0.0, "monitor")]
    item, _ = item_from_record(
        row("chat/completions", {"messages": [{"role": "user", "content": "q"}]}), scores, keep_pii=True
    )
    assert item is not None and item.rating == "bad" and item.reference is None


def test_context_from_metadata_and_the_configured_sources() -> None:
    request = {"messages": [{"role": "user", "content": "<context>from the prompt</context> q?"}]}
    record = row(
        "chat/completions", request, metadata_json=json.dumps({"context": ["doc one", {"text": "doc two"}]})
    )
    item, _ = item_from_record(record, [], keep_pii=True)
    assert item is not None and item.context == ["doc one", "doc two"]
    item, _ = item_from_record(record, [], keep_pii=True, sources=ContextSources(sources=("delimited",)))
    assert item is not None and item.context == ["from the prompt"]
    item, _ = item_from_record(
        row("chat/completions", {"messages": [{"role": "user", "content": "hi"}]}), [], keep_pii=True
    )
    assert item is not None and item.context is None and item.rating is None and item.scores == {}


def test_completions_responses_and_anthropic_prompts() -> None:
    item, _ = item_from_record(row("completions", {"prompt": ["Once upon a time"]}), [], keep_pii=True)
    assert item is not None and item.messages == [{"role": "user", "content": "Once upon a time"}]
    responses = {
        "instructions": "Be brief.",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "What is 2+2?"}]},
            {"type": "function_call", "name": "calc", "arguments": "{}"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "4"}]},
            {"role": "user", "content": "And 3+3?"},
        ],
    }
    item, _ = item_from_record(row("responses", responses), [], keep_pii=True)
    assert item is not None and item.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And 3+3?"},
    ]
    item, _ = item_from_record(row("responses", {"input": "Hello"}), [], keep_pii=True)
    assert item is not None and item.messages == [{"role": "user", "content": "Hello"}]
    anthropic = {
        "system": [{"type": "text", "text": "You are terse."}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "image", "source": {}}]}
        ],
        "max_tokens": 10,
    }
    item, _ = item_from_record(row("messages", anthropic), [], keep_pii=True)
    assert item is not None and item.messages == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi"},
    ]


def test_calls_without_a_prompt_make_no_item() -> None:
    assert item_from_record(row("embeddings", {"input": ["a", "b"]}), [], keep_pii=False) == (None, 0)
    assert item_from_record(row("chat/completions", {"model": "gpt"}), [], keep_pii=False) == (
        None,
        0,
    )  # not logged
    empty = {"messages": [{"role": "user", "content": ""}]}
    assert item_from_record(row("chat/completions", empty), [], keep_pii=False) == (None, 0)


def test_pii_scrubbed_in_messages_context_and_answer_unless_kept() -> None:
    request = {
        "messages": [{"role": "user", "content": "I'm bob@example.org, card 4111 1111 1111 1111. Refund?"}]
    }
    record = row(
        "chat/completions",
        request,
        response_text="We will call you on +1 415-555-0132.",
        metadata_json=json.dumps({"context": "Customer phone 020 7946 0958"}),
    )
    item, replaced = item_from_record(record, [], keep_pii=False)
    assert item is not None and replaced == 4
    assert item.messages[0]["content"] == "I'm [EMAIL], card [CARD]. Refund?"
    assert item.context == ["Customer phone [PHONE]"]
    assert item.answer == "We will call you on [PHONE]."
    kept, replaced = item_from_record(record, [], keep_pii=True)
    assert kept is not None and replaced == 0 and kept.messages == request["messages"]
