"""Plain-text helpers for the quality scorers: sentences, content tokens and how they match.

Pure Python and deterministic, no model and no third-party import. ``grounded`` and
``relevance`` use them for the lexical half of their evidence:

- ``split_sentences`` cuts prose, lists and passages glued together without a space
  ("...19th century.First for Women is...") into sentences, without cutting after initials or
  common abbreviations ("H. Bruce", "U.S.", "Dr.").
- ``content_tokens`` keeps the tokens that carry a claim: numbers (``1,000`` → ``1000``,
  ``32nd`` → ``32``, ``seven`` → ``7``), names (capitalised words that are not function words)
  and other content words, each with a light stem so that "involved" matches "involvement"
  and "directors" matches "directed" only when the stems agree.
- ``Vocabulary`` is the set of stems and numbers of a text, for "does the context say this?".
- ``is_refusal`` tells a refusal or non-answer ("I can't help with that", "I don't know") from
  an answer, for ``relevance`` and for the monitors' refusal rate.

English only: other languages get no stemming and a smaller stop-word list, so the lexical
evidence is weaker there and the embedding carries more of the score.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

__all__ = [
    "NEGATIONS",
    "STOPWORDS",
    "Token",
    "Vocabulary",
    "content_tokens",
    "fold",
    "is_refusal",
    "split_sentences",
    "stem",
    "words",
    "wordset",
]

TokenKind = Literal["number", "name", "word"]


def wordset(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text``, as a set (for word lists kept as prose)."""
    return frozenset(text.split())


STOPWORDS = wordset(
    """
    a about above across after afterwards again against all almost alone along already also although
    always am among amongst an and another any anyhow anyone anything anyway anywhere are around as at
    be became because become becomes becoming been before beforehand behind being below beside besides
    between beyond both but by can cannot could did do does doing done down during each eg either else
    elsewhere enough etc even ever every everyone everything everywhere except few for former formerly
    from further had has have having he hence her here hereafter hereby herein hers herself him himself
    his how however i ie if in indeed into is it its itself just least less let lets like made make many
    may me meanwhile might mine more moreover most mostly much must my myself namely neither
    nevertheless next nobody noone nor nothing now nowhere of off often on once one only onto or other
    others otherwise our ours ourselves out over own per perhaps please put quite rather re really same
    say says said see seem seemed seeming seems several she should since so some somehow someone
    something sometime sometimes somewhere still such than that the their theirs them themselves then
    thence there thereafter thereby therefore therein thereupon these they this those though through
    throughout thru thus to together too toward towards under until up upon us very via was we well were
    what whatever when whence whenever where whereafter whereas whereby wherein whereupon wherever
    whether which while whither who whoever whole whom whose why will with within without would yet you
    your yours yourself yourselves s t d ll m o re ve y yes ok okay sure certainly answer question named
    called known name also use used using get got go going
    think believe guess probably possibly likely maybe unsure certain sort kind
    """
)

#: Words that turn a claim into its opposite; a negated claim needs a negated source.
NEGATIONS = wordset(
    "not no never none nobody nothing neither nor cannot without isn't wasn't aren't weren't doesn't "
    "don't didn't hasn't haven't hadn't won't wouldn't can't couldn't shouldn't n't"
)

_NUMBER_WORDS = {
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "thirteen": "13",
    "fourteen": "14",
    "fifteen": "15",
    "sixteen": "16",
    "seventeen": "17",
    "eighteen": "18",
    "nineteen": "19",
    "twenty": "20",
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "sixty": "60",
    "seventy": "70",
    "eighty": "80",
    "ninety": "90",
    "hundred": "100",
    "thousand": "1000",
    "million": "1000000",
    "billion": "1000000000",
    "second": "2",
    "third": "3",
    "fourth": "4",
    "fifth": "5",
    "sixth": "6",
    "seventh": "7",
    "eighth": "8",
    "ninth": "9",
    "tenth": "10",
    "eleventh": "11",
    "twelfth": "12",
}

_ABBREVIATIONS = wordset(
    "mr mrs ms dr prof sr jr st mt ft vs etc inc ltd co corp vol fig jan feb mar apr jun jul aug sep sept "
    "oct nov dec gen col lt sgt capt rev hon est approx dept univ ave"
)

_WORD = re.compile(r"\d+(?:[.,:]\d+)*(?:st|nd|rd|th|s)?|[^\W\d_]+(?:['\u2019][^\W\d_]+)*", re.UNICODE)
_ORDINAL = re.compile(r"^(\d+)(?:st|nd|rd|th)$")
_SUFFIXES = (
    ("ational", "ate"),
    ("ization", "ize"),
    ("ations", "ate"),
    ("ation", "ate"),
    ("ments", ""),
    ("ment", ""),
    ("ness", ""),
    ("ingly", ""),
    ("ings", ""),
    ("ing", ""),
    ("edly", ""),
    ("ies", "i"),
    ("ied", "i"),
    ("ers", ""),
    ("ors", ""),
    ("ed", ""),
    ("er", ""),
    ("or", ""),
    ("ly", ""),
    ("es", ""),
    ("s", ""),
)
# A sentence ends at . ! ? (or a closing quote after one) followed by space and a capital, a
# digit or a quote; or at a full stop glued to a capitalised word ("century.First").
_CONTRACTIONS = frozenset({"m", "re", "ve", "ll", "d", "s"})
_HEDGE = re.compile(
    r"\b(?:not|n't)\s+(?:entirely\s+|completely\s+|quite\s+|100%\s+)?(?:sure|certain)\b|"
    r"\b(?:do\s+not|don't)\s+know\b"
)
_CLOSERS = "\"'\u201d\u2019)]"
_BOUNDARY = re.compile(
    r"(?<=[.!?])[\"'\u201d\u2019)\]]*\s+(?=[\"'\u201c\u2018(\[]?[A-Z0-9])"
    r"|(?<=[a-z0-9)\"\u201d][.!?])(?=[A-Z][a-z])"
)


def fold(text: str) -> str:
    """Lowercase without accents: "Novotná" → "novotna"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower().replace("\u2019", "'")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light English stem: enough for plural, tense and -ment/-ation variants, nothing more."""
    word = fold(word)
    if word.endswith("'s"):
        word = word[:-2]
    for _ in range(2):
        for suffix, replacement in _SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= (5 if suffix == "ly" else 3):
                word = word[: -len(suffix)] + replacement
                break
        else:
            break
    if len(word) >= 4 and word[-1] == word[-2] and word[-1] not in "aeiousl":
        word = word[:-1]  # "stopped" → "stopp" → "stop"
    if len(word) > 3 and word[-1] in "ey":
        word = word[:-1] + ("i" if word[-1] == "y" else "")  # "involve"/"involved", "family"/"families"
    return word


def _number(raw: str) -> str | None:
    match = _ORDINAL.match(raw)
    if match:
        return match.group(1).lstrip("0") or "0"
    if raw[0].isdigit():
        raw = raw.rstrip("s")  # "1970s" → "1970"
        if re.fullmatch(r"\d{1,3}(?:,\d{3})+", raw):
            raw = raw.replace(",", "")
        return raw
    return _NUMBER_WORDS.get(raw.lower())


def words(text: str) -> list[str]:
    """The word and number tokens of ``text`` in order, as written."""
    return _WORD.findall(text)


@dataclass(frozen=True, slots=True)
class Token:
    """A content token: its surface form, the key it matches on, and what kind of claim it is."""

    text: str
    key: str
    kind: TokenKind


def content_tokens(text: str) -> list[Token]:
    """Numbers, names and content words of ``text`` (function words dropped), in order."""
    tokens: list[Token] = []
    for raw in words(text):
        number = _number(raw)
        if number is not None:
            tokens.append(Token(raw, number, "number"))
            continue
        folded = fold(raw)
        head, _, tail = folded.partition("'")
        if tail in _CONTRACTIONS and head in STOPWORDS:
            continue  # "I'm", "it's", "there're"
        if folded in STOPWORDS or folded in NEGATIONS or (len(folded) < 2 and not raw.isupper()):
            continue
        kind: TokenKind = "name" if raw[0].isupper() else "word"
        tokens.append(Token(raw, stem(raw), kind))
    return tokens


def has_negation(text: str) -> bool:
    """Does ``text`` deny something? Hedges ("I'm not sure", "I don't know") do not count."""
    lowered = _HEDGE.sub(" ", fold(text))
    return "n't" in lowered or any(word in NEGATIONS for word in _WORD.findall(lowered))


class Vocabulary:
    """The stems and numbers a text contains, for asking whether it says a given token."""

    __slots__ = ("_keys", "_numbers", "_prefixes", "negated")

    def __init__(self, text: str) -> None:
        self._keys: set[str] = set()
        self._prefixes: set[str] = set()
        self._numbers: set[str] = set()
        for raw in words(text):
            number = _number(raw)
            if number is not None:
                self._numbers.add(number)
                if raw[0].isalpha():
                    self._keys.add(stem(raw))
                continue
            key = stem(raw)
            self._keys.add(key)
            if len(key) >= 6:
                self._prefixes.add(key[:6])
        self.negated = has_negation(text)

    def __contains__(self, token: object) -> bool:
        if not isinstance(token, Token):
            return False
        if token.kind == "number":
            return token.key in self._numbers or token.key in self._keys
        if token.key in self._keys:
            return True
        return len(token.key) >= 6 and token.key[:6] in self._prefixes


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``: lines and list items first, then sentence boundaries within them."""
    sentences: list[str] = []
    for line in re.split(r"\n+|\r+", text):
        line = line.strip()
        if not line:
            continue
        start = 0
        for match in _BOUNDARY.finditer(line):
            if _is_abbreviation(line, match.start()):
                continue
            closing = len(match.group()) - len(match.group().lstrip(_CLOSERS))  # keep 'Hello."'
            piece = line[start : match.start() + closing].strip()
            if piece:
                sentences.append(piece)
            start = match.end()
        piece = line[start:].strip()
        if piece:
            sentences.append(piece)
    return sentences


def _is_abbreviation(line: str, end: int) -> bool:
    """Does the full stop just before ``end`` close an initial or a common abbreviation?"""
    head = line[:end].rstrip(_CLOSERS)
    if not head.endswith("."):
        return False
    match = re.search(r"([^\W\d_]+)\.$", head)
    if match is None:
        return False
    word = match.group(1)
    if len(word) == 1 and word.isupper():
        return True  # "H. Bruce", "U.S."
    return word.lower() in _ABBREVIATIONS


_REFUSAL = re.compile(
    r"\b(?:i\s*(?:am|'m)\s+(?:sorry|afraid)\b.{0,40}\b(?:can(?:no|')t|cannot|unable|not\s+able|won't|don't|do\s+not)|"
    r"i\s+(?:can\s*not|can't|cannot|won't|will\s+not|am\s+unable\s+to|'m\s+unable\s+to|am\s+not\s+able\s+to)\s+"
    r"(?:help|assist|answer|provide|do\s+that|comply|share|discuss|say|tell|determine|find|access)|"
    r"i\s+(?:do\s+not|don't)\s+(?:know|have\s+(?:enough\s+)?(?:information|access|data|the\s+ability))|"
    r"(?:there\s+is\s+)?(?:no|not\s+enough)\s+information\s+(?:is\s+)?(?:available|provided|given)|"
    r"(?:unable|not\s+possible)\s+to\s+(?:answer|help|determine|provide|say|tell))",
    re.IGNORECASE | re.DOTALL,
)
#: A refusal followed by this still answers ("I can't draw charts. However, here is a table: ...").
_CONTINUES = re.compile(
    r"\b(?:however|but\s+here|here\s+(?:is|are)|here's|below|instead|that\s+said|"
    r"i\s+can\s+(?:provide|give|offer|suggest|share|show))\b",
    re.I,
)


def is_refusal(text: str | None) -> bool:
    """Is ``text`` a refusal or a non-answer, rather than an answer? (``None``, empty: no.)

    True when its first two sentences refuse or decline ("I can't help with that", "I'm sorry,
    but I cannot ...", "I don't know", "No information is provided") and nothing after that
    answers after all ("However, here is ...", "Instead, ..."), in at most 80 words (a longer
    text that opens with a caveat is an answer with a caveat). English phrases only.
    """
    text = (text or "").strip()
    if len(words(text)) > 80:
        return False  # checked first: splitting a long answer into sentences costs milliseconds
    sentences = split_sentences(text)
    opening = " ".join(sentences[:2]) if sentences else text
    return bool(_REFUSAL.search(opening)) and not _CONTINUES.search(text)
