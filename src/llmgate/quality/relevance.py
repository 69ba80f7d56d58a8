"""``answer_relevance``: does an answer address its question? Offline, without an LLM judge.

It says nothing about whether the answer is right (that is ``grounded``'s job, given context):
"Mumbai" answers "In what city is the head office?" as relevantly as "Delhi" does.

The method:

1. Empty or garbage answers (no letters or digits) score 0.
2. Meaning: the cosine similarity of question and answer under the shared embedder (for an
   answer longer than the model's window, the best of the whole and its ~150-word pieces),
   squashed into [0, 1] by a logistic curve centred on 0.25 (unrelated texts sit near 0.05,
   a long answer to its own question near 0.5). A short answer ("Delhi", "1948") is far from
   its question in embedding space whatever it says, so answers of up to 4 words get 0.6 as a
   floor, fading out by 12 words; the type checks below are what can take it back.
3. Words: the share of the question's names and numbers that the answer mentions lifts the
   score a little (an answer about the same entities is on topic), never lowers it.
4. Checks that multiply the score down, each named in ``RelevanceScore.flags``:
   - ``refusal``: a refusal or non-answer in the first sentences ("I can't help with that",
     "I don't know"), unless the answer goes on to answer ("However, here is ..."),
   - ``wrong_type``, where that is cheap to tell: a when/what-year question answered without
     any date, time word or number; a how-many/how-old/population question without a number;
     a who/where/which-city question without any name or number; a yes/no question answered
     in a few words with neither yes nor no; a choice question ("X or Y?") whose answer names
     neither; a bare yes/no to a wh-question,
   - ``echo``: an answer made only of the question's own words.

Limits: English wh-words and refusal phrases; the type checks are coarse (a "who" question
answered with "the mayor" fails, one answered with any other name passes), and a short answer
of the right type but about something else ("Mumbai" for a who-question) keeps most of its
floor. Instructions ("Summarize ...") get the embedding and the refusal check only.
Deterministic for a given model; one embedding batch per call, cached.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from llmgate.quality.embedder import TextEmbedder, default_embedder
from llmgate.quality.text import content_tokens, fold, is_refusal, split_sentences, words, wordset

__all__ = ["RelevanceScore", "answer_relevance"]

#: Cosine similarity that maps to 0.5, and the width of the logistic curve around it: unrelated
#: texts sit near 0.05 (→ 0.08), a long answer to its question near 0.5 (→ 0.96).
SIMILARITY_MIDPOINT = 0.25
SIMILARITY_SCALE = 0.08
#: Answers of at most SHORT_ANSWER_WORDS words get SHORT_ANSWER_PRIOR as a floor on their
#: meaning score, fading out by LONG_ANSWER_WORDS.
SHORT_ANSWER_WORDS = 4
LONG_ANSWER_WORDS = 12
SHORT_ANSWER_PRIOR = 0.6
#: Share of the question's content words an answer must repeat, and nothing else, to echo it.
ECHO_SHARE = 0.8
#: An answer longer than this many words is also embedded in pieces of about this size (the
#: model reads 256 word pieces), and its similarity is the best of the whole and the pieces.
CHUNK_WORDS = 150
#: Weight of the share of the question's names and numbers that the answer mentions.
ENTITY_BONUS = 0.2
#: Multipliers for the checks.
REFUSAL_FACTOR = 0.1
WRONG_TYPE_FACTOR = 0.5
ECHO_FACTOR = 0.4

_YES_NO_QUESTION = re.compile(
    r"^\s*(?:is|are|was|were|do|does|did|can|could|has|have|had|will|would|should|shall|may|might|must)\b",
    re.I,
)
_POLARITY = re.compile(r"^\s*(?:yes|no|yeah|nope|correct|incorrect|true|false|neither|both)\b", re.I)
_TIME_WORDS = wordset(
    "january february march april may june july august september october november december jan feb mar apr "
    "jun jul aug sep sept oct nov dec spring summer autumn fall winter century centuries decade decades year "
    "years era age period war reign dynasty before after during since ago today yesterday tomorrow now later "
    "earlier never always morning evening night week weeks month months"
)
_WH_START = re.compile(r"^(?:who|whom|whose|what|which|when|where|why|how|in\s+what|in\s+which)\b")
_DATE_QUESTION = re.compile(
    r"(?:^|[,;:]\s*)(?:since\s+|until\s+)?when\b|"
    r"\b(?:what\s+(?:year|date|time|day|month|decade|century)|which\s+(?:year|decade|century))\b"
)
_NUMBER_QUESTION = re.compile(
    r"\bhow\s+(?:many|much|old|long|far|tall|big|high|large|fast|heavy|often|deep|wide)\b|"
    r"\bwhat\s+(?:percentage|number|age|length|height|population|size|amount)\b|"
    r"\b(?:population|number|percentage|amount|age)\s+of\s+(?:what|how)\b|\bwhat\s+(?:is|was)\s+the\s+population\b"
)
_NAME_QUESTION = re.compile(
    r"^(?:who|whom|whose|where)\b|\b(?:who|whom|whose|where)\b|\b(?:what|which)\s+(?:city|country|state|county|town|"
    r"village|province|nation|continent|island|river|team|company|band|university|college|school|actor|actress|"
    r"singer|director|author|writer|person|man|woman|player|president|king|queen|film|movie|album|song|book|show|"
    r"series|magazine|newspaper|airport|language|nationality)\b"
)
_ANY_NUMBER = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"hundred|thousand|million|billion|dozen|several|many|few|none|zero|no)\b",
    re.I,
)


@dataclass(frozen=True, slots=True)
class RelevanceScore:
    """How well an answer addresses its question: ``score`` in [0, 1], higher is more relevant."""

    score: float
    #: Cosine similarity of the question and the answer (the best piece, for a very long answer).
    similarity: float
    #: Names of the checks that lowered the score: "empty", "refusal", "wrong_type", "echo".
    flags: tuple[str, ...] = field(default=())

    def __float__(self) -> float:
        return self.score


def answer_relevance(question: str, answer: str, *, embedder: TextEmbedder | None = None) -> RelevanceScore:
    """Score how well ``answer`` addresses ``question``; see the module doc."""
    question = (question or "").strip()
    answer = (answer or "").strip()
    if not any(ch.isalnum() for ch in answer) or not any(ch.isalnum() for ch in question):
        return RelevanceScore(0.0, 0.0, ("empty",))

    if embedder is None:
        embedder = default_embedder()
    sentences = split_sentences(answer)
    vectors = embedder.encode([question, answer, *_chunks(sentences)])
    cosines = [float(v) for v in vectors[1:] @ vectors[0]]
    similarity = max(cosines)

    meaning = _squash(similarity)
    # A short factual answer ("Delhi") is far from its question in embedding space whatever
    # it says: give it the benefit of the doubt, which the type checks below can take back.
    n_words = len(words(answer))
    shortness = min(1.0, max(0.0, (LONG_ANSWER_WORDS - n_words) / (LONG_ANSWER_WORDS - SHORT_ANSWER_WORDS)))
    meaning += shortness * SHORT_ANSWER_PRIOR * (1.0 - meaning)
    score = meaning + ENTITY_BONUS * _entity_overlap(question, answer) * (1.0 - meaning)

    flags: list[str] = []
    if is_refusal(answer):
        flags.append("refusal")
        score *= REFUSAL_FACTOR
    if not _type_matches(question, answer, n_words):
        flags.append("wrong_type")
        score *= WRONG_TYPE_FACTOR
    if _echoes(question, answer):
        flags.append("echo")
        score *= ECHO_FACTOR
    return RelevanceScore(min(1.0, max(0.0, score)), similarity, tuple(flags))


def _chunks(sentences: list[str]) -> list[str]:
    """Pieces of a long answer, each within the embedder's window (whole answers are cut there)."""
    if sum(len(words(s)) for s in sentences) <= CHUNK_WORDS:
        return []
    chunks: list[str] = []
    current: list[str] = []
    for sentence in sentences:
        if current and sum(len(words(s)) for s in current) + len(words(sentence)) > CHUNK_WORDS:
            chunks.append(" ".join(current))
            current = []
        current.append(sentence)
    chunks.append(" ".join(current))
    return chunks


def _entity_overlap(question: str, answer: str) -> float:
    wanted = {t.key for t in content_tokens(question) if t.kind != "word"}
    if not wanted:
        return 0.0
    said = {t.key for t in content_tokens(answer)}
    return len(wanted & said) / len(wanted)


def _type_matches(question: str, answer: str, n_words: int) -> bool:
    """Is the answer of a kind the question asks for, where that is cheap to tell?"""
    q = fold(question).strip(" \"'")
    if not (q.endswith("?") or _WH_START.match(q) or _YES_NO_QUESTION.match(q)):
        return True  # an instruction, not a question
    polar = bool(_POLARITY.match(answer))
    if _is_choice(question):
        # "Which is older, X or Y?": the answer names one of the options.
        offered = {t.key for t in content_tokens(question) if t.kind != "word"}
        return polar or bool(offered & {t.key for t in content_tokens(answer)})
    if _YES_NO_QUESTION.match(q):
        return polar or n_words > SHORT_ANSWER_WORDS
    if polar and n_words <= 2:
        return False  # "No." to a wh-question
    if _DATE_QUESTION.search(q):
        return bool(_ANY_NUMBER.search(answer)) or any(fold(w) in _TIME_WORDS for w in words(answer))
    if _NUMBER_QUESTION.search(q):
        return bool(_ANY_NUMBER.search(answer)) or n_words > LONG_ANSWER_WORDS
    if _NAME_QUESTION.search(q):
        return any(w[0].isupper() or w[0].isdigit() for w in words(answer))
    return True


def _is_choice(question: str) -> bool:
    if not re.search(r"\bor\b", question):
        return False
    head, _, tail = question.rpartition(" or ")
    return any(t.kind != "word" for t in content_tokens(tail)) and any(
        t.kind != "word" for t in content_tokens(head)
    )


def _echoes(question: str, answer: str) -> bool:
    """Does the answer only repeat the question (and is not a yes/no reply or a choice)?"""
    if _POLARITY.match(answer) or _is_choice(question):
        return False
    asked = {t.key for t in content_tokens(question)}
    said = {t.key for t in content_tokens(answer)}
    return bool(said) and said <= asked and len(said) >= ECHO_SHARE * len(asked)


def _squash(similarity: float) -> float:
    """Cosine similarity to [0, 1]: a logistic curve, so that no two similarities tie."""
    return 1.0 / (1.0 + math.exp(-(similarity - SIMILARITY_MIDPOINT) / SIMILARITY_SCALE))
