"""The base of llmgate's own config sections: strict (unknown keys are errors) and frozen."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Strict"]


class Strict(BaseModel):
    """A section only llmgate reads: a key it does not know is an error that names the key."""

    model_config = ConfigDict(extra="forbid", frozen=True)
