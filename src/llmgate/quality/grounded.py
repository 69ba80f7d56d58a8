"""``grounded``: how well is an answer supported by its context? Offline, without an LLM judge.

The context (a text or a list of passages) is cut into units: its sentences, where a sentence
that opens with a pronoun ("He was born in 1948.") is read with the name that the latest
sentence opening with a name began with. The answer is cut into sentences (claims); a leading
"Yes,"/"No," answers the question and is not a claim. For each claim:

1. Content tokens (``text.content_tokens``): numbers weigh 3, names 2, other content words 1.
   Tokens the question already contains weigh a quarter of that: restating the question is
   neither evidence of support nor a fabrication.
2. Coverage *g*: the weighted share of the claim's tokens found anywhere in the context. A
   number, name or word the context never mentions is the strongest sign of a fabricated
   answer ("born in 1968" when the context says 1948).
3. Local coverage *l*: the best weighted share found within one unit. It catches true words put
   together wrongly ("Natasha Zvereva was born on 7 June 1981" when that date belongs to
   another player's sentence).
4. Embeddings, where the words leave the question open: a plain word the context lacks may be
   a paraphrase ("directed" for "director of"), so the claim is embedded with the units that
   share most of its words, and each missing plain word earns up to ``PARAPHRASE_CREDIT`` of
   its weight, scaled by the cosine similarity mapped from [0.4, 0.9] to [0, 1]. Numbers and
   names are never vouched for by an embedding: "1968" and "1948", or "Mumbai" and "Delhi",
   sit close in embedding space, and that is what hallucinations look like. A claim with no
   content tokens at all is judged by its similarity alone; a bare "Yes."/"No." is ``NEUTRAL``.
   When every word of every claim is found, the embedder is not called: it could not change
   the score (``SentenceSupport.similarity`` is then None).
5. Claim support = *g* times *l* (with the paraphrase credit in both), halved when the claim is
   negated ("X was not ...") and its evidence unit is not.

The answer's score is the token-weighted mean of its claims, pulled half-way towards the worst
claim, so one fabricated sentence is not averaged away.

Limits: it checks support, not truth or reasoning. An answer built only from words that sit
together in the context ("B was born first", when the dates say A) gets full support; a bare
yes/no gets a neutral 0.5. Matching is lexical with a light English stemmer, so a faithful
paraphrase scores lower than a quote, and world knowledge the context does not state ("Delhi,
India" when the context only says Delhi) counts as unsupported, as it should for grounding.
Deterministic for a given model; all claims of a case are embedded in one batch, and the
context analysis and unit vectors are cached. ``grounded_many`` scores many answers with one
embedder call for all of them; with a batch-invariant embedder (``default_embedder``, the evals')
each score is, to the last bit, the one ``grounded`` gives that answer alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from llmgate.quality.embedder import TextEmbedder, default_embedder
from llmgate.quality.text import Token, Vocabulary, content_tokens, has_negation, split_sentences

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

__all__ = ["GroundedScore", "SentenceSupport", "grounded", "grounded_many"]

#: Weight of each kind of content token; question tokens are multiplied by QUESTION_WEIGHT.
KIND_WEIGHTS = {"number": 3.0, "name": 2.0, "word": 1.0}
QUESTION_WEIGHT = 0.25
#: How much of a missing plain word the embedding can vouch for (times the mapped similarity).
PARAPHRASE_CREDIT = 0.5
#: How many context units (those sharing the most words) a claim with a missing word is embedded against.
EMBED_CANDIDATES = 2
#: Cosine similarities mapped to 0 and to 1.
SIMILARITY_FLOOR = 0.4
SIMILARITY_CEILING = 0.9
#: Support of a bare "Yes."/"No.", which makes no claim the context could check.
NEUTRAL = 0.5
#: Weight in the answer's mean of a sentence without content tokens ("Hope this helps!").
CONTENTLESS_WEIGHT = 0.5
#: Multiplier for a negated sentence whose evidence is not negated.
NEGATION_PENALTY = 0.5
#: How far the answer's score is pulled from the mean of its sentences towards the worst one.
WORST_WEIGHT = 0.5

_PRONOUN_START = re.compile(r"^(?:he|she|it|they|his|her|its|their|this|these|those|him|them)\b", re.I)
_LEADING_NAME = re.compile(
    r"^(?:(?:The|A|An)\s+)?(?:[A-Z][\w.'\u2019-]*\s*(?:(?:of|de|da|van|von|the|and|&)\s+)?)+"
)
_POLARITY = re.compile(r"^\s*(?:yes|no|yeah|nope|correct|incorrect|true|false)\b[\s,.;:!-]*", re.I)
# "According to the context, ..." / "..., as stated in the passage.": about the source, not a claim.
_SOURCE = (
    r"(?:the\s+)?(?:given\s+|provided\s+|retrieved\s+|above\s+)?(?:context|passages?|texts?|documents?|"
    r"information|sources?|excerpts?|articles?|knowledge)(?:\s+(?:provided|given|above|below))?"
)
_ATTRIBUTION = re.compile(
    rf"^\s*(?:based\s+on|according\s+to|as\s+(?:stated|mentioned|described|said)\s+in|from|per|in)\s+{_SOURCE}"
    rf"\s*[,:]\s*|[\s,]*(?:according\s+to|as\s+(?:stated|mentioned|described)\s+in|based\s+on)\s+{_SOURCE}"
    r"\s*(?=[.!?]*$)",
    re.I,
)


@dataclass(frozen=True, slots=True)
class SentenceSupport:
    """How one answer sentence is supported."""

    sentence: str
    #: Support in [0, 1].
    score: float
    #: Weighted share of its content tokens found anywhere in the context (None: it has none).
    coverage: float | None
    #: Best weighted share found within one context unit (None: no content tokens).
    local_coverage: float | None
    #: Cosine similarity with the evidence unit; None when the words settled it without the embedder.
    similarity: float | None
    #: The context unit that supports it best.
    evidence: str
    #: Content tokens of the sentence that the context does not contain, numbers and names first.
    missing: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GroundedScore:
    """Support of an answer by its context: ``score`` in [0, 1], higher is better supported."""

    score: float
    sentences: tuple[SentenceSupport, ...]

    @property
    def missing(self) -> tuple[str, ...]:
        """Every content token of the answer that the context lacks, in order, without repeats."""
        return tuple(dict.fromkeys(token for sentence in self.sentences for token in sentence.missing))

    def __float__(self) -> float:
        return self.score


@dataclass(frozen=True, slots=True)
class _Context:
    units: tuple[str, ...]
    vocabularies: tuple[Vocabulary, ...]
    everything: Vocabulary


@dataclass(frozen=True, slots=True)
class _Claim:
    text: str
    tokens: tuple[Token, ...]
    weights: tuple[float, ...]
    #: A bare "Yes."/"No.": an answer to the question, with nothing to check in the context.
    bare: bool
    #: Per token: does the context contain it anywhere?
    found: tuple[bool, ...]
    #: Per context unit: the weight of the claim's tokens that the unit contains.
    near: tuple[float, ...]

    @property
    def weight(self) -> float:
        return sum(self.weights)

    @property
    def hard(self) -> float:
        """Weight of the tokens found in the context."""
        return sum(w for w, ok in zip(self.weights, self.found, strict=True) if ok)

    @property
    def soft(self) -> float:
        """Weight of the plain words the context lacks: perhaps paraphrased."""
        return sum(
            w
            for t, w, ok in zip(self.tokens, self.weights, self.found, strict=True)
            if not ok and t.kind == "word"
        )

    def units_to_embed(self) -> list[int]:
        """The context units whose similarity could change this claim's support."""
        if self.bare:
            return []
        if self.weight == 0.0:
            return list(range(len(self.near)))  # no words to go by: the meaning is all there is
        if self.soft == 0.0:
            return []  # every word accounted for: the embedding cannot change the score
        ranked = sorted(range(len(self.near)), key=lambda i: -self.near[i])
        return ranked[:EMBED_CANDIDATES]


def grounded(
    answer: str,
    context: str | Sequence[str],
    *,
    question: str | None = None,
    embedder: TextEmbedder | None = None,
) -> GroundedScore:
    """Score how well ``context`` (a text or its passages) supports ``answer``; see the module doc."""
    return grounded_many([(answer, context, question)], embedder=embedder)[0]


def grounded_many(
    cases: Sequence[tuple[str, str | Sequence[str], str | None]], *, embedder: TextEmbedder | None = None
) -> list[GroundedScore]:
    """``grounded`` of many ``(answer, context, question)`` cases, with one embedder call for them all.

    Every text that any case needs embedded (its claims, its context units) goes to the embedder in
    one ``encode``; each case's similarities are then computed from its own rows exactly as
    ``grounded`` computes them for that case alone, so with an embedder whose vectors do not depend
    on the texts batched together (``Embedder(batch_invariant=True)``, as ``default_embedder`` is)
    each score is the one ``grounded`` gives that case alone, to the last bit.
    """
    if embedder is None:
        embedder = default_embedder()
    embedder.load()  # fail the same way (ConfigError) whether or not these answers need it
    prepared = [_prepare(answer, context, question) for answer, context, question in cases]
    texts = list(dict.fromkeys(text for case in prepared if case is not None for text in case.texts))
    vectors = embedder.encode(texts) if texts else None
    row = {text: i for i, text in enumerate(texts)}
    return [GroundedScore(0.0, ()) if case is None else _score(case, vectors, row) for case in prepared]


@dataclass(frozen=True, slots=True)
class _Prepared:
    """One answer read against its context: its claims, and what must be embedded to score them."""

    claims: list[_Claim]
    facts: _Context
    #: Per claim that needs the embedder: the context units to compare it with.
    wanted: dict[int, list[int]]
    #: The units of ``wanted``, sorted.
    unit_ids: list[int]

    @property
    def texts(self) -> list[str]:
        """The wanted claims, then their units: the rows this answer alone would embed, in order."""
        return [*(self.claims[i].text for i in self.wanted), *(self.facts.units[u] for u in self.unit_ids)]


def _prepare(answer: str, context: str | Sequence[str], question: str | None) -> _Prepared | None:
    passages = (context,) if isinstance(context, str) else tuple(context)
    facts = _analyse_context(tuple(p for p in passages if p and p.strip()))
    asked = Vocabulary(question) if question else None
    claims = [_claim(sentence, asked, facts) for sentence in split_sentences(answer or "")]
    if not claims or not facts.units:
        return None
    wanted = {i: claim.units_to_embed() for i, claim in enumerate(claims)}
    wanted = {i: units for i, units in wanted.items() if units}
    unit_ids = sorted({u for units in wanted.values() for u in units})
    return _Prepared(claims, facts, wanted, unit_ids)


def _score(case: _Prepared, vectors: FloatArray | None, row: dict[str, int]) -> GroundedScore:
    claims, facts = case.claims, case.facts
    similarities = _similarities(case, vectors, row)
    supports = tuple(_support(c, sims, facts) for c, sims in zip(claims, similarities, strict=True))
    weights = [c.weight if c.weight > 0 else CONTENTLESS_WEIGHT for c in claims]
    mean = sum(s.score * w for s, w in zip(supports, weights, strict=True)) / sum(weights)
    checked = [s.score for s, c in zip(supports, claims, strict=True) if c.weight > 0]
    worst = min(checked) if checked else mean
    return GroundedScore(_clip((1.0 - WORST_WEIGHT) * mean + WORST_WEIGHT * worst), supports)


def _claim(sentence: str, asked: Vocabulary | None, facts: _Context) -> _Claim:
    stripped = _ATTRIBUTION.sub("", _POLARITY.sub("", sentence, count=1)).strip()
    bare = not any(ch.isalnum() for ch in stripped)
    text = sentence if bare else stripped
    tokens = () if bare else tuple(content_tokens(text))
    weights = tuple(KIND_WEIGHTS[t.kind] * (QUESTION_WEIGHT if asked and t in asked else 1.0) for t in tokens)
    found = tuple(t in facts.everything for t in tokens)
    near = tuple(
        sum(w for t, w in zip(tokens, weights, strict=True) if t in vocabulary)
        for vocabulary in facts.vocabularies
    )
    return _Claim(text, tokens, weights, bare, found, near)


def _similarities(case: _Prepared, vectors: FloatArray | None, row: dict[str, int]) -> list[dict[int, float]]:
    """Cosine similarity of each claim with the context units that matter for it, from the rows of
    ``vectors`` (``row``: a text's row) stacked and multiplied as for this case alone."""
    out: list[dict[int, float]] = [{} for _ in case.claims]
    if not case.wanted or vectors is None:
        return out
    mine = vectors[[row[text] for text in case.texts]]
    n = len(case.wanted)
    matrix = (mine[:n] @ mine[n:].T).tolist()
    column = {u: k for k, u in enumerate(case.unit_ids)}
    for values, (i, units) in zip(matrix, case.wanted.items(), strict=True):
        out[i] = {u: float(values[column[u]]) for u in units}
    return out


def _support(claim: _Claim, similarities: dict[int, float], facts: _Context) -> SentenceSupport:
    total = claim.weight
    coverage: float | None = None
    local: float | None = None
    missing: tuple[str, ...] = ()
    if claim.bare:
        best, score = 0, NEUTRAL  # a bare yes/no: nothing the context could support or contradict
    elif total == 0.0:
        best = max(similarities, key=lambda i: similarities[i])
        score = _ramp(similarities[best])  # no content words: judged by its meaning alone
    else:
        hard, soft = claim.hard, claim.soft
        candidates = []
        for i, near in enumerate(claim.near):
            credit = PARAPHRASE_CREDIT * soft * _ramp(similarities.get(i, -1.0))
            candidates.append(
                ((hard + credit) * (near + credit) / (total * total), near, similarities.get(i, -1.0), -i)
            )
        score, near, _, negative_best = max(candidates)
        best = -negative_best
        coverage = hard / total
        local = near / total
        missing = _missing(list(claim.tokens), list(claim.found))
        if has_negation(claim.text) and not facts.vocabularies[best].negated:
            score *= NEGATION_PENALTY
    return SentenceSupport(
        sentence=claim.text,
        score=_clip(score),
        coverage=coverage,
        local_coverage=local,
        similarity=similarities.get(best),
        evidence="" if claim.bare else facts.units[best],
        missing=missing,
    )


def _missing(tokens: list[Token], found: list[bool]) -> tuple[str, ...]:
    order = {"number": 0, "name": 1, "word": 2}
    absent = [t for t, ok in zip(tokens, found, strict=True) if not ok]
    absent.sort(key=lambda t: order[t.kind])
    return tuple(dict.fromkeys(t.text for t in absent))


@lru_cache(maxsize=256)
def _analyse_context(passages: tuple[str, ...]) -> _Context:
    units: list[str] = []
    for passage in passages:
        subject = ""
        for sentence in split_sentences(passage):
            if _PRONOUN_START.match(sentence):
                # "He was born in 1948." says it of the entity the passage is about.
                units.append(f"{subject} {sentence}" if subject else sentence)
            else:
                units.append(sentence)
                subject = _leading_name(sentence) or subject
    return _Context(
        units=tuple(units),
        vocabularies=tuple(Vocabulary(unit) for unit in units),
        everything=Vocabulary("\n".join(passages)),
    )


def _leading_name(sentence: str) -> str:
    """The run of capitalised words a sentence opens with ("Anna Kournikova (born ...) was ...")."""
    match = _LEADING_NAME.match(sentence)
    name = match.group(0).strip() if match else ""
    return "" if name.lower() in {"the", "a", "an"} else name


def _ramp(similarity: float) -> float:
    return _clip((similarity - SIMILARITY_FLOOR) / (SIMILARITY_CEILING - SIMILARITY_FLOOR))


def _clip(value: float) -> float:
    return min(1.0, max(0.0, value))
