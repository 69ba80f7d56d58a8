"""``DatasetItem``: one case of a dataset, made from one recorded call.

An item keeps what an eval case needs, copied out of the record when it was added (so pruning or
retention of the raw rows does not empty a dataset): the chat ``messages`` that were sent (PII
scrubbed unless the dataset was made with ``--keep-pii``), the retrieved ``context`` passages when
the call was a RAG request, the recorded ``answer``, the users' ``rating`` of that answer
(``good``, ``bad`` or ``None`` when nobody rated it) and a snapshot of the call's ``scores``
(name to value, from every source). ``reference`` is the answer when it was rated good: the
export writes it as the case's ``reference``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = ["DatasetItem", "Rating"]

Rating = Literal["good", "bad"]


@dataclass(frozen=True, slots=True)
class DatasetItem:
    """One case of a dataset; see the module doc."""

    request_id: str | None
    model: str
    created_at: datetime
    messages: list[dict[str, Any]]
    session_id: str | None = None
    context: list[str] | None = None
    answer: str | None = None
    rating: Rating | None = None
    scores: dict[str, float | bool | str] = field(default_factory=dict)

    @property
    def reference(self) -> str | None:
        """The recorded answer when users rated it good, else ``None``."""
        return self.answer if self.rating == "good" and self.answer else None
