"""context_relevance: a question's own knowledge against other rows', passages, sentences, words."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from llmgate.quality import context_relevance as cr
from llmgate.quality.context_relevance import ContextRelevance, context_relevance

if TYPE_CHECKING:
    import numpy.typing as npt

    from llmgate.quality.embedder import Embedder


def auroc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    pos = np.asarray(positives)[:, None]
    neg = np.asarray(negatives)[None, :]
    return float((pos > neg).mean() + 0.5 * (pos == neg).mean())


class HashEmbedder:
    """A deterministic stand-in: bag-of-words vectors (unit length), no model needed."""

    model_name = "hash-bow"
    dimension = 64

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def load(self) -> None:
        pass

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, hashlib.sha1(word.strip(".,?!").encode()).digest()[0] % self.dimension] += 1.0
        norms = np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        result: npt.NDArray[np.float32] = out / norms
        return result

    def clear_cache(self) -> None:
        pass

    def close(self) -> None:
        pass


# --- on the shared data, with the real model -------------------------------------------------


@pytest.fixture(scope="module")
def own_and_other(embedder: Embedder, qa_rows: list[dict[str, Any]]) -> dict[str, Any]:
    rng = random.Random(7)
    n = len(qa_rows)
    other = [(i + 1 + rng.randrange(n - 1)) % n for i in range(n)]
    questions = embedder.encode([r["question"] for r in qa_rows])
    knowledge = embedder.encode([r["knowledge"] for r in qa_rows])
    cosine = questions @ knowledge.T
    np.fill_diagonal(cosine, -2.0)
    hardest = cosine.argmax(axis=1)  # the most similar OTHER row's knowledge, by plain cosine
    plain = np.einsum("ij,ij->i", questions, knowledge)
    score = {
        "own": [context_relevance(r["question"], [r["knowledge"]], embedder=embedder).score for r in qa_rows],
        "other": [
            context_relevance(r["question"], [qa_rows[other[i]]["knowledge"]], embedder=embedder).score
            for i, r in enumerate(qa_rows)
        ],
        "hardest": [
            context_relevance(r["question"], [qa_rows[hardest[i]]["knowledge"]], embedder=embedder).score
            for i, r in enumerate(qa_rows)
        ],
    }
    score["plain_own"] = plain.tolist()
    score["plain_hardest"] = [float(questions[i] @ knowledge[hardest[i]]) for i in range(n)]
    score["other_index"] = other
    score["hardest_index"] = hardest.tolist()
    return score


def test_own_knowledge_beats_another_rows_with_auroc_at_least_0_99(own_and_other: dict[str, Any]) -> None:
    assert len(own_and_other["own"]) == 250
    assert auroc(own_and_other["own"], own_and_other["other"]) >= 0.99


def test_the_hardest_other_knowledge_is_still_separated_better_than_by_plain_cosine(
    own_and_other: dict[str, Any],
) -> None:
    ours = auroc(own_and_other["own"], own_and_other["hardest"])
    plain = auroc(own_and_other["plain_own"], own_and_other["plain_hardest"])
    assert ours >= 0.95
    assert ours > plain + 0.02


def test_scores_are_in_the_unit_interval_and_spread(own_and_other: dict[str, Any]) -> None:
    own, other = np.array(own_and_other["own"]), np.array(own_and_other["other"])
    assert ((own >= 0) & (own <= 1)).all() and ((other >= 0) & (other <= 1)).all()
    assert own.mean() > 0.75 and other.mean() < 0.15


def test_the_own_passage_is_picked_out_among_others(
    embedder: Embedder, qa_rows: list[dict[str, Any]]
) -> None:
    rows = qa_rows[:40]
    rng = random.Random(3)
    hits, mixed, unrelated = 0, [], []
    for i, row in enumerate(rows):
        others = [rows[j]["knowledge"] for j in rng.sample([j for j in range(len(rows)) if j != i], 3)]
        passages = [*others[:2], row["knowledge"]]
        result = context_relevance(row["question"], passages, embedder=embedder)
        hits += result.best == 2
        mixed.append(result.score)
        unrelated.append(context_relevance(row["question"], others, embedder=embedder).score)
        assert len(result.per_passage) == 3 and len(result.passages) == 3
    assert hits >= 0.95 * len(rows)
    assert auroc(mixed, unrelated) >= 0.97


def test_a_relevant_sentence_buried_in_a_long_passage_is_found(
    embedder: Embedder, qa_rows: list[dict[str, Any]]
) -> None:
    row = qa_rows[1]  # the Oberoi family, head office in Delhi
    filler = " ".join(r["knowledge"] for r in qa_rows[100:112])
    buried = f"{filler} {row['knowledge']} {filler}"
    result = context_relevance(row["question"], [buried], embedder=embedder)
    whole = embedder.encode([row["question"], buried])
    assert float(whole[0] @ whole[1]) < 0.4  # the whole passage's vector is diluted ...
    assert result.score > 0.7  # ... but its best window is not
    assert "Oberoi" in result.passages[0].evidence


# --- the method, with a stand-in embedder ----------------------------------------------------


def test_words_of_the_question_count_names_and_numbers_most() -> None:
    fake = HashEmbedder()
    question = "When was Anna Kournikova born?"
    named = "Anna Kournikova is a Russian former tennis player, born in 1981."
    other = "Martina Hingis is a Swiss former tennis player, born in 1980."
    result = context_relevance(question, [named, other], embedder=fake)
    assert result.per_passage[0] > result.per_passage[1]
    assert result.passages[0].coverage is not None and result.passages[1].coverage is not None
    assert result.passages[0].coverage > 0.9 and result.passages[1].coverage < 0.5
    assert "Anna" not in result.missing and result.best == 0


def test_the_score_blends_the_best_and_the_mean_passage() -> None:
    fake = HashEmbedder()
    question = "Which river flows through Vienna?"
    good = "The Danube flows through Vienna."
    noise = "Bananas are rich in potassium."
    alone = context_relevance(question, [good], embedder=fake)
    diluted = context_relevance(question, [good, noise, noise], embedder=fake)
    best, mean = max(diluted.per_passage), sum(diluted.per_passage) / 3
    assert diluted.score == pytest.approx(cr.BEST_WEIGHT * best + (1 - cr.BEST_WEIGHT) * mean)
    assert diluted.score < alone.score
    assert alone.score == pytest.approx(alone.per_passage[0])


def test_everything_is_embedded_in_one_batch_and_long_passages_are_bounded() -> None:
    fake = HashEmbedder()
    long_passage = " ".join(f"Sentence number {i} is about the weather in town {i}." for i in range(500))
    context_relevance("What is the weather in town 7?", [long_passage, "Short one."], embedder=fake)
    assert len(fake.calls) == 1
    assert len(fake.calls[0]) <= 1 + cr.MAX_UNITS + 1  # the question, the windows, the short passage
    units = cr._units(long_passage)
    assert len(units) == cr.MAX_UNITS
    assert "town 0." in units[0] and "town 4" in units[-1]  # sampled across the whole passage


def test_windows_join_short_sentences_and_keep_long_ones_apart() -> None:
    short = "He was born in 1948. He played chess."
    assert cr._units(short) == ["He was born in 1948. He played chess.", "He played chess."]
    long_sentence = " ".join(["word"] * 50) + "."
    units = cr._units(f"{long_sentence} Then a short one.")
    assert units[0] == long_sentence
    assert f"{long_sentence} Then a short one." in units  # the whole passage fits the model's window


def test_empty_inputs() -> None:
    fake = HashEmbedder()
    assert context_relevance("Who?", [], embedder=fake) == ContextRelevance(0.0, ())
    blank = context_relevance("  ", ["Some passage."], embedder=fake)
    assert blank.score == 0.0 and blank.per_passage == (0.0,)
    empty_passage = context_relevance("Who founded Rome?", ["", "Romulus founded Rome."], embedder=fake)
    assert empty_passage.per_passage[0] == 0.0 and empty_passage.per_passage[1] > 0.5
    assert fake.calls and "" not in fake.calls[-1]
    with pytest.raises(TypeError):
        context_relevance("Who?", "a single string", embedder=fake)  # type: ignore[arg-type]


def test_float_gives_the_score() -> None:
    result = context_relevance("Who founded Rome?", ["Romulus founded Rome."], embedder=HashEmbedder())
    assert float(result) == result.score
