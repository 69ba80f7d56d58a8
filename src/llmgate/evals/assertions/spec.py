"""``AssertionSpec``: one ``assert:`` entry of a suite file, checked against the known types.

Parsing a spec checks its ``type`` against the registry (``registry.py``) and lets that type
validate the rest (``AssertionType.validate``), so a suite with a misspelt type or a bad value
fails when it is loaded, naming the key.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from llmgate.evals.assertions.registry import ASSERTIONS, KNOWN_TYPES, canonical_type

__all__ = ["AssertionSpec"]


class AssertionSpec(BaseModel):
    """One ``assert:`` entry of a case (or of ``defaults.assert``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    value: Any = None
    threshold: float | None = None
    weight: float = Field(default=1.0, ge=0)
    rubric: str | None = None  # llm_judge (promptfoo's llm-rubric puts it in ``value``)
    n: int | None = Field(default=None, ge=2, le=20)  # self_consistency: samples
    temperature: float | None = Field(default=None, ge=0, le=2)  # self_consistency
    model: str | None = None  # llm_judge: the judge model (default: defaults.judge_model, then the model)
    provider: str | None = None  # promptfoo's name for ``model``
    metric: str | None = None  # a label for reports

    @field_validator("type", mode="before")
    @classmethod
    def _known_type(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"expected an assertion type name, got {type(value).__name__}")
        name = canonical_type(value)
        if name is None:
            raise ValueError(f"unknown assertion type {value!r} (known: {', '.join(KNOWN_TYPES)})")
        return name

    @field_validator("threshold")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @model_validator(mode="after")
    def _valid_for_type(self) -> AssertionSpec:
        ASSERTIONS[self.type].validate(self)
        return self

    def threshold_or(self, default: float) -> float:
        return default if self.threshold is None else self.threshold
