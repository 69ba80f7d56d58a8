"""Personal data out of the prompts a dataset keeps: emails, phone numbers, card numbers and keys.

``scrub(text)`` gives the text with each finding replaced by a placeholder, and how many it
replaced; ``scrub_messages`` does the same to chat messages (a string ``content`` and the text of
text content parts; images, tool calls and other fields are left as they are). ``llmgate dataset
create`` scrubs what it selects unless ``--keep-pii``. What is found, in this order:

- ``[KEY]``: credentials, by ``protocol/redact.py``'s key formats (the one rule, shared with what
  the recorder masks before storing): ``sk-...`` (OpenAI's ``sk-proj-``, Anthropic's ``sk-ant-``,
  llmgate's own ``sk-lg-``), AWS ``AKIA``/``ASIA`` ids, GitHub ``ghp_``/``github_pat_``, Slack
  ``xox?-``, Google ``AIza``, Hugging Face, Groq and xAI keys, ``Bearer <token>`` (the scheme kept),
  JWTs and PEM private key blocks. (Keys were already ``[redacted]`` in what the recorder stored;
  this catches the formats of records made before a format was added.)
- ``[EMAIL]``: ``name@domain.tld``.
- ``[CARD]``: 13 to 19 digits, in groups separated by single spaces or dashes or not at all,
  starting with 2 to 6 (the card networks' ranges: Visa, Mastercard, Amex, Discover, JCB,
  UnionPay, Diners) and passing the Luhn check. A millisecond timestamp (starting with 1), an
  order number or an invalid number stays.
- ``[PHONE]``: an international number (``+`` and 8 to 15 digits, spaces, dots, dashes or a
  parenthesised area code between groups: ``+44 20 7946 0958``, ``+1 (415) 555-0132``,
  ``+33 6 12 34 56 78``); a North American one with separators (``(415) 555-0132``,
  ``415-555-0132``, ``415.555.0132``, ``1-800-555-0199``); a European national one starting with
  0, 9 to 12 digits in at least two groups (``020 7946 0958``, ``06 12 34 56 78``,
  ``030 12345678``, ``0151-1234-5678``). A number without separators, a year, a date, a price, a
  version, an IP address or an id (``order 12345``) is not a phone number.

Scrubbing is conservative about what it calls personal data: a false positive costs a dataset a
word, a false negative leaks it, but a scrub that ate years and prices would make cases useless.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from llmgate.protocol.message_text import TEXT_PART_TYPES
from llmgate.protocol.redact import mask_keys

__all__ = ["CARD", "EMAIL", "KEY", "PHONE", "luhn_valid", "scrub", "scrub_messages"]

EMAIL = "[EMAIL]"
PHONE = "[PHONE]"
CARD = "[CARD]"
KEY = "[KEY]"

_EMAIL = re.compile(
    r"(?<![\w.+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w\-])"
)
# no digit, letter, dot, comma or dash just before or after: "12345678901234.5" or "v4111..." stay
_NOT_BEFORE = r"(?<![\w.,\-+/])"
_NOT_AFTER = r"(?![\w\-]|[.,/]\d)"
_CARD = re.compile(rf"{_NOT_BEFORE}[2-6]\d{{3}}(?:[ \-]?\d){{9,15}}{_NOT_AFTER}")
_SEP = r"(?:[ .\-]|\s?/\s?)"
_PHONES = (
    # international: +CC, then groups (an area code may be parenthesised)
    re.compile(
        rf"(?<![\w+])\+\d{{1,3}}(?:[ .\-]?\(\d{{1,4}}\)|[ .\-]?\d{{1,5}})"
        rf"(?:[ .\-]?\d{{2,5}}){{1,5}}{_NOT_AFTER}"
    ),
    # North American: (415) 555-0132, 415-555-0132, 415.555.0132, 1-800-555-0199
    re.compile(rf"{_NOT_BEFORE}(?:1[ .\-])?(?:\(\d{{3}}\)\s?|\d{{3}}[ .\-])\d{{3}}[ .\-]\d{{4}}{_NOT_AFTER}"),
    # European national: a trunk 0, at least two groups
    re.compile(rf"{_NOT_BEFORE}0\d{{1,4}}(?:{_SEP}\d{{2,8}}){{1,4}}{_NOT_AFTER}"),
)
_MIN_PHONE_DIGITS = {0: 8, 1: 10, 2: 9}
_MAX_PHONE_DIGITS = {0: 15, 1: 11, 2: 12}
_DATE_LIKE = re.compile(r"^\d{1,4}([./\-])\d{1,2}\1\d{1,4}$")


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check (every payment card number does)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _digits(text: str) -> str:
    return "".join(char for char in text if char.isdigit())


def _card(match: re.Match[str]) -> str:
    text = match.group(0)
    separators = set(re.findall(r"[ \-]", text))
    digits = _digits(text)
    if len(separators) > 1 or not 13 <= len(digits) <= 19 or not luhn_valid(digits):
        return text
    return CARD


def _phone(kind: int) -> Any:
    def replace(match: re.Match[str]) -> str:
        text = match.group(0)
        count = len(_digits(text))
        if not _MIN_PHONE_DIGITS[kind] <= count <= _MAX_PHONE_DIGITS[kind] or _DATE_LIKE.match(text):
            return text
        return PHONE

    return replace


def _replace(pattern: re.Pattern[str], replace: Any, text: str) -> tuple[str, int]:
    """``pattern.subn`` counting only the matches actually replaced (a callback may keep one)."""
    changed = 0

    def counted(match: re.Match[str]) -> str:
        nonlocal changed
        out: str = replace(match) if callable(replace) else replace
        changed += out != match.group(0)
        return out

    return pattern.sub(counted, text), changed


def scrub(text: str) -> tuple[str, int]:
    """``text`` with keys, emails, card and phone numbers replaced (module doc), and how many."""
    if not text:
        return text, 0
    text, total = mask_keys(text, KEY)
    if "@" in text:
        text, count = _replace(_EMAIL, EMAIL, text)
        total += count
    if sum(char.isdigit() for char in text) < 8:
        return text, total
    text, count = _replace(_CARD, _card, text)
    total += count
    for kind, pattern in enumerate(_PHONES):
        text, count = _replace(pattern, _phone(kind), text)
        total += count
    return text, total


def scrub_messages(messages: Sequence[Any]) -> tuple[list[dict[str, Any]], int]:
    """Copies of chat ``messages`` with their text scrubbed (string content, text parts), and the
    number of replacements. Anything that is not a message object is dropped."""
    out: list[dict[str, Any]] = []
    total = 0
    for message in messages:
        if not isinstance(message, dict):
            continue
        copy = dict(message)
        content = message.get("content")
        if isinstance(content, str):
            copy["content"], count = scrub(content)
            total += count
        elif isinstance(content, list):
            parts: list[Any] = []
            for part in content:
                if isinstance(part, str):
                    part, count = scrub(part)
                    total += count
                elif (
                    isinstance(part, dict)
                    and part.get("type", "text") in TEXT_PART_TYPES
                    and isinstance(part.get("text"), str)
                ):
                    text, count = scrub(part["text"])
                    part = {**part, "text": text}
                    total += count
                parts.append(part)
            copy["content"] = parts
        out.append(copy)
    return out, total
