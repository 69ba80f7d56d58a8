"""``grounded_many`` on real HaluEval rows: scoring in batches gives, bit for bit, the scores of
scoring one answer at a time, whatever the batches."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmgate.quality.grounded import GroundedScore, grounded, grounded_many

if TYPE_CHECKING:
    from llmgate.quality.embedder import Embedder

ROWS = 60  # three answers each: 180 cases


def cases_of(rows: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    return [
        (answer, row["knowledge"], row["question"])
        for row in rows
        for answer in [row["right_answer"], *row["hallucinated_answers"]]
    ]


def one_by_one(cases: list[tuple[str, str, str | None]], embedder: Embedder) -> list[GroundedScore]:
    embedder.clear_cache()
    return [
        grounded(answer, context, question=question, embedder=embedder) for answer, context, question in cases
    ]


def test_scoring_in_batches_gives_the_scores_of_one_by_one(
    embedder: Embedder, qa_rows: list[dict[str, Any]]
) -> None:
    cases = cases_of(qa_rows[:ROWS])
    alone = one_by_one(cases, embedder)
    embedder.clear_cache()
    together = grounded_many(cases, embedder=embedder)
    assert [s.score for s in together] == [s.score for s in alone]  # exact, not approximately
    assert together == alone  # every sentence too: its support, coverage, similarity and evidence
    embedded = [s for score in alone for s in score.sentences if s.similarity is not None]
    assert len(embedded) >= 50  # the embedder decided many of them: its vectors are what is compared
    assert len(cases) >= 100 and len({s.score for s in alone}) > 50


def test_the_batches_do_not_matter(embedder: Embedder, qa_rows: list[dict[str, Any]]) -> None:
    """Other companions, another order, a warm cache: the same scores, bit for bit."""
    cases = cases_of(qa_rows[ROWS : 2 * ROWS])
    alone = one_by_one(cases, embedder)
    embedder.clear_cache()
    backwards = list(reversed(cases))
    in_sevens = [
        s for k in range(0, len(backwards), 7) for s in grounded_many(backwards[k : k + 7], embedder=embedder)
    ]
    assert list(reversed(in_sevens)) == alone
    warm = grounded_many(cases, embedder=embedder)  # every vector now from the cache
    assert warm == alone


def test_cases_without_claims_or_context_score_zero_among_the_others(
    embedder: Embedder, qa_rows: list[dict[str, Any]]
) -> None:
    row = qa_rows[0]
    cases = [
        (row["right_answer"], row["knowledge"], row["question"]),
        ("", row["knowledge"], None),
        (row["right_answer"], "", None),
        (row["right_answer"], [], None),
        (row["hallucinated_answers"][0], [row["knowledge"]], row["question"]),
    ]
    scores = grounded_many(cases, embedder=embedder)
    assert [s.score for s in scores[1:4]] == [0.0, 0.0, 0.0]
    assert scores[0] == grounded(
        row["right_answer"], row["knowledge"], question=row["question"], embedder=embedder
    )
    assert scores[4] == grounded(
        row["hallucinated_answers"][0], [row["knowledge"]], question=row["question"], embedder=embedder
    )
    assert grounded_many([], embedder=embedder) == []


def test_one_embedder_call_per_batch(embedder: Embedder, qa_rows: list[dict[str, Any]]) -> None:
    calls: list[list[str]] = []

    class Counting:
        model_name = embedder.model_name
        dimension = embedder.dimension

        def load(self) -> None:
            embedder.load()

        def encode(self, texts: list[str]) -> Any:
            calls.append(list(texts))
            return embedder.encode(texts)

        def clear_cache(self) -> None: ...

        def close(self) -> None: ...

    cases = cases_of(qa_rows[200:230])
    grounded_many(cases, embedder=Counting())
    assert len(calls) == 1
    assert len(calls[0]) == len(set(calls[0]))  # each text once, however many answers need it
