"""``context_relevance``: does the retrieved context match the question? Offline, without an LLM judge.

It scores the retrieval half of a RAG request (``grounded`` scores the answer against the
context, ``answer_relevance`` the answer against the question). Each passage gets a score in
[0, 1] from two kinds of evidence, in the spirit of ``grounded``:

1. Meaning: the question is embedded with the passage's *units*, and the best cosine
   similarity counts, mapped linearly from [``SIMILARITY_FLOOR``, ``SIMILARITY_CEILING``] =
   [0.1, 0.7] to [0, 1] (unrelated texts sit near 0.1 under all-MiniLM-L6-v2, a passage sentence
   that answers the question at 0.5 to 0.8). A unit is a window of consecutive sentences
   starting at each sentence and growing while it stays within ``WINDOW_WORDS`` (40) words, so
   that a short sentence is read with the next one ("He was born in 1948." with the sentence
   naming him) and a long passage is not diluted into one vector; a passage that fits the
   model's window (``WHOLE_PASSAGE_WORDS``, 200 words) is a unit as a whole too. A passage with
   more than ``MAX_UNITS`` windows is sampled evenly across its length, which bounds the cost.
2. Words: the weighted share of the question's content tokens (``text.content_tokens``:
   numbers weigh 3, names 2, other content words 1, as in ``grounded``) that the passage
   contains (``text.Vocabulary``: light stems, numbers normalised). A passage about a different
   entity than the one asked about rarely contains its name.

Passage score = (1 - λ) · meaning + λ · words, with λ = ``LEXICAL_WEIGHT`` (0.4) for a question
whose content tokens weigh at least ``LEXICAL_FULL_WEIGHT`` (4, e.g. two names), less for fewer
(a question with one content word is weak lexical evidence), and 0 for none.

The request's score blends the best passage with the mean of all of them:
``BEST_WEIGHT`` (0.7) · best + 0.3 · mean. The best passage says whether the retriever found
what the question needs at all (what the answer can be grounded on); the mean says how much
of the context is noise, which dilutes the prompt and is the first thing to move when a
retriever or its index degrades.

On HaluEval QA (``benchmarks/embedder_throughput.py``) the score separates a question's own
knowledge from another row's knowledge with AUROC ≥ 0.999, and from the most similar other
row's knowledge (by plain cosine) with AUROC about 0.98, where plain cosine gets 0.93.

Limits: relevance is topical, not sufficiency: a passage about the right entity that lacks the
asked-for fact still scores high (``grounded`` then shows the answer unsupported). English
stemming only; deterministic for a given model; one embedding batch per call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llmgate.quality.embedder import TextEmbedder, default_embedder
from llmgate.quality.grounded import KIND_WEIGHTS
from llmgate.quality.text import Token, Vocabulary, content_tokens, split_sentences, words

__all__ = ["ContextRelevance", "PassageRelevance", "context_relevance"]

#: Cosine similarities mapped to 0 and to 1.
SIMILARITY_FLOOR = 0.1
SIMILARITY_CEILING = 0.7
#: Weight of the lexical evidence, reached when the question's content tokens weigh LEXICAL_FULL_WEIGHT.
LEXICAL_WEIGHT = 0.4
LEXICAL_FULL_WEIGHT = 4.0
#: Weight of the best passage in the request's score (the rest is the mean of all passages).
BEST_WEIGHT = 0.7
#: A window grows over the following sentences while it stays within this many words.
WINDOW_WORDS = 40
#: A passage of at most this many words is also embedded whole (the model reads ~256 word pieces).
WHOLE_PASSAGE_WORDS = 200
#: At most this many windows per passage are embedded (spread evenly over a longer passage).
MAX_UNITS = 32


@dataclass(frozen=True, slots=True)
class PassageRelevance:
    """How well one passage matches the question."""

    #: In [0, 1].
    score: float
    #: Best cosine similarity of the question with a unit of the passage (0.0 for an empty one).
    similarity: float
    #: Weighted share of the question's content tokens the passage contains (None: the question has none).
    coverage: float | None
    #: The unit of the passage closest to the question.
    evidence: str


@dataclass(frozen=True, slots=True)
class ContextRelevance:
    """How well the retrieved passages match the question: ``score`` in [0, 1], higher is better."""

    score: float
    #: Score of each passage, in the order given.
    per_passage: tuple[float, ...]
    #: The details behind each score, in the same order.
    passages: tuple[PassageRelevance, ...] = ()
    #: The question's content tokens that no passage contains, numbers and names first.
    missing: tuple[str, ...] = ()

    @property
    def best(self) -> int | None:
        """Index of the best passage (None without passages)."""
        if not self.per_passage:
            return None
        return max(range(len(self.per_passage)), key=lambda i: (self.per_passage[i], -i))

    def __float__(self) -> float:
        return self.score


def context_relevance(
    question: str, passages: Sequence[str], *, embedder: TextEmbedder | None = None
) -> ContextRelevance:
    """Score how well ``passages`` (the retrieved context) match ``question``; see the module doc."""
    if isinstance(passages, str):
        raise TypeError("context_relevance() takes a list of passages, not a single string")
    question = (question or "").strip()
    texts = [(p or "").strip() for p in passages]
    if not texts:
        return ContextRelevance(0.0, ())
    if not any(ch.isalnum() for ch in question):
        empty = PassageRelevance(0.0, 0.0, None, "")
        return ContextRelevance(0.0, tuple(0.0 for _ in texts), tuple(empty for _ in texts))

    if embedder is None:
        embedder = default_embedder()
    tokens = content_tokens(question)
    weights = [KIND_WEIGHTS[t.kind] for t in tokens]
    units = [_units(text) for text in texts]
    flat = [unit for passage_units in units for unit in passage_units]
    vectors = embedder.encode([question, *flat])
    cosines = (vectors[1:] @ vectors[0]).tolist() if flat else []

    vocabularies = [Vocabulary(text) for text in texts]
    lexical_weight = LEXICAL_WEIGHT * min(1.0, sum(weights) / LEXICAL_FULL_WEIGHT)
    details: list[PassageRelevance] = []
    start = 0
    for passage_units, vocabulary in zip(units, vocabularies, strict=True):
        sims = cosines[start : start + len(passage_units)]
        start += len(passage_units)
        if not sims:
            details.append(PassageRelevance(0.0, 0.0, _coverage(tokens, weights, vocabulary), ""))
            continue
        best = max(range(len(sims)), key=lambda i: sims[i])
        coverage = _coverage(tokens, weights, vocabulary)
        meaning = _ramp(float(sims[best]))
        score = meaning if coverage is None else (1.0 - lexical_weight) * meaning + lexical_weight * coverage
        details.append(PassageRelevance(_clip(score), float(sims[best]), coverage, passage_units[best]))

    per_passage = tuple(d.score for d in details)
    score = BEST_WEIGHT * max(per_passage) + (1.0 - BEST_WEIGHT) * sum(per_passage) / len(per_passage)
    return ContextRelevance(_clip(score), per_passage, tuple(details), _missing(tokens, vocabularies))


def _units(passage: str) -> list[str]:
    """Windows of consecutive sentences (and the whole passage when it is short); see the module doc."""
    sentences = split_sentences(passage)
    if not sentences:
        return []
    sizes = [len(words(s)) for s in sentences]
    starts = list(range(len(sentences)))
    if len(starts) > MAX_UNITS:
        step = len(starts) / MAX_UNITS
        starts = sorted({int(k * step) for k in range(MAX_UNITS)})
    units: list[str] = []
    for i in starts:
        end, total = i + 1, sizes[i]
        while end < len(sentences) and total + sizes[end] <= WINDOW_WORDS:
            total += sizes[end]
            end += 1
        units.append(" ".join(sentences[i:end]))
    if len(sentences) > 1 and sum(sizes) <= WHOLE_PASSAGE_WORDS:
        units.append(" ".join(sentences))
    return list(dict.fromkeys(units))


def _coverage(tokens: list[Token], weights: list[float], vocabulary: Vocabulary) -> float | None:
    total = sum(weights)
    if total == 0.0:
        return None
    return sum(w for t, w in zip(tokens, weights, strict=True) if t in vocabulary) / total


def _missing(tokens: list[Token], vocabularies: list[Vocabulary]) -> tuple[str, ...]:
    order = {"number": 0, "name": 1, "word": 2}
    absent = [t for t in tokens if not any(t in v for v in vocabularies)]
    absent.sort(key=lambda t: order[t.kind])
    return tuple(dict.fromkeys(t.text for t in absent))


def _ramp(similarity: float) -> float:
    return _clip((similarity - SIMILARITY_FLOOR) / (SIMILARITY_CEILING - SIMILARITY_FLOOR))


def _clip(value: float) -> float:
    return min(1.0, max(0.0, value))
