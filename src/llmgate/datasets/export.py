"""A dataset as an eval suite: YAML that ``llmgate eval run`` reads (``evals/suite.py``'s format).

Each item becomes a case:

- ``id``: the request id it was copied from (``item-<n>`` for an item without one);
- ``messages``: the chat messages as they were sent, as text (``protocol/message_text.py``):
  ``developer`` reads as ``system``; ``tool`` / ``function`` results and assistant turns that only
  called tools are left out (a suite replays text turns, not tool loops). An item with no user
  message left is skipped (``SuiteExport.skipped``). A recorded ``{{`` would be read as a suite
  template, so it is written as ``{{open_braces}}`` with the case variable ``open_braces: "{{"``:
  the messages sent are the recorded ones;
- ``context``: the retrieved passages, when the call was a RAG request;
- ``reference``: the recorded answer when users rated it good (``DatasetItem.reference``);
- ``tags``: ``model:<model>`` and ``rating:good`` / ``rating:bad`` / ``rating:none``, for
  ``llmgate eval run --tag``.

The assertions are chosen per case, all offline (no judge model, no API cost):

- ``grounded`` when the case has a context: the new answer must be supported by the passages;
- ``similar`` when it has a reference: the new answer must mean what the answer users liked said;
- neither: ``answer_relevance``, the answer must address the question (the last user message).
  Of the offline families it is the one that still measures such a case: the text assertions need
  an expected string the record does not have, and ``self_consistency`` measures the model, not
  the answer. A case with both a context and a reference gets both of its assertions.

``models``: the models the suite runs against (``--model``); without any, the models the items
were recorded with. A dataset with no case to write is ``InvalidRequest``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from llmgate.datasets.item import DatasetItem
from llmgate.errors import InvalidRequest
from llmgate.protocol.message_text import message_text

__all__ = ["OPEN_BRACES", "SuiteExport", "export_suite", "suite_case", "suite_yaml"]

#: the case variable a recorded ``{{`` is written as
OPEN_BRACES = "open_braces"
_ESCAPED = "{{" + OPEN_BRACES + "}}"
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


@dataclass(frozen=True, slots=True)
class SuiteExport:
    text: str  # the suite's YAML
    cases: int
    skipped: int  # items without a user message to send


def suite_yaml(name: str, items: Sequence[DatasetItem], *, models: Sequence[str] = ()) -> str:
    """The eval suite YAML of dataset ``name``; see the module doc."""
    return export_suite(name, items, models=models).text


def export_suite(
    name: str, items: Sequence[DatasetItem], *, models: Sequence[str] = (), description: str | None = None
) -> SuiteExport:
    """``suite_yaml`` with how many cases were written and how many items skipped."""
    cases = [case for n, item in enumerate(items, 1) if (case := suite_case(item, n)) is not None]
    if not cases:
        why = "it has no items" if not items else "no item has a user message to send"
        raise InvalidRequest(f"dataset {name!r} has nothing to export: {why}", param="name")
    chosen = list(dict.fromkeys(models)) or sorted({item.model for item in items})
    suite: dict[str, Any] = {
        "name": name,
        "description": description or f"Exported from llmgate dataset {name!r}: {len(cases)} recorded calls.",
        "models": chosen,
        "cases": cases,
    }
    header = (
        f"# llmgate dataset {name!r} as an eval suite: llmgate eval run FILE\n"
        "# assertions: grounded (a case with context), similar (a reference: an answer rated good),\n"
        "# answer_relevance (neither)\n"
    )
    text = header + yaml.dump(suite, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return SuiteExport(text, len(cases), len(items) - len(cases))


def suite_case(item: DatasetItem, position: int) -> dict[str, Any] | None:
    """One case of the suite (``None``: the item has no user message to send)."""
    messages = _messages(item.messages)
    if not any(m["role"] == "user" for m in messages):
        return None
    case: dict[str, Any] = {"id": item.request_id or f"item-{position}"}
    if any(_ESCAPED in m["content"] for m in messages):
        case["vars"] = {OPEN_BRACES: "{{"}
    case["messages"] = messages
    context = [p for p in item.context or () if p.strip()]
    if context:
        case["context"] = context
    if item.reference:
        case["reference"] = item.reference
    case["tags"] = [f"model:{item.model}", f"rating:{item.rating or 'none'}"]
    checks: list[dict[str, Any]] = []
    if context:
        checks.append({"type": "grounded"})
    if item.reference:
        checks.append({"type": "similar"})
    case["assert"] = checks or [{"type": "answer_relevance"}]
    return case


def _messages(recorded: Sequence[Any]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for message in recorded:
        if not isinstance(message, dict):
            continue
        role = _ROLES.get(str(message.get("role")))
        text = message_text(message.get("content"))
        if role is None or (role == "assistant" and not text.strip()):
            continue  # tool results, and turns that only called tools
        out.append({"role": role, "content": text.replace("{{", _ESCAPED)})
    return out


class _Dumper(yaml.SafeDumper):
    """Safe YAML with multi-line text as ``|`` blocks (PyYAML quotes what a block cannot hold)."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _text)
