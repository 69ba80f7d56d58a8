"""The live monitors' tables: sampled records with their vectors, baselines, statistics, alerts' state.

- ``monitor_samples``: one row per sampled request: the prompt's (and answer's) embedding as raw
  float32 bytes, the output features output drift compares, and the retrieval-quality scores when
  the request carried context. Keyed by the record id, so a record is never sampled twice.
- ``drift_baselines``: a pinned reference window per model (and route): ``llmgate drift baseline set``.
- ``monitor_stats``: every statistic of every evaluation, for history ("drift over time") and reports.
- ``monitor_conditions``: one row per (model, route, condition) that is or was breached: when it
  began, the alert it raised, when it cleared. This is what deduplicates alerts.
- ``monitor_state``: the worker's progress through the ``requests`` table.

Imported by ``store/models.py`` so every table is on ``SQLModel.metadata``; the schema change is
migration 0005.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from llmgate.store.models import UTCDateTime


class MonitorSample(SQLModel, table=True):
    """A request the monitor sampled: what it embedded and scored."""

    __tablename__ = "monitor_samples"
    __table_args__ = (sa.Index("ix_monitor_samples_model_route_created", "model", "route", "created_at"),)

    record_id: str = Field(primary_key=True, sa_type=sa.String(32))
    created_at: datetime = Field(sa_type=UTCDateTime, index=True)  # the request's own time
    sampled_at: datetime = Field(sa_type=UTCDateTime)
    model: str = Field(sa_type=sa.String)
    route: str = Field(sa_type=sa.String)  # chat/completions | completions | embeddings
    embedder: str = Field(sa_type=sa.String)
    dim: int
    prompt_vector: bytes | None = Field(default=None, sa_type=sa.LargeBinary)  # float32, unit length
    response_vector: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    prompt_excerpt: str | None = Field(default=None, sa_type=sa.Text)  # first 300 chars, for reports
    response_chars: int | None = None
    refused: bool = Field(default=False)
    finish_reason: str | None = Field(default=None, sa_type=sa.String)
    tool_call: bool = Field(default=False)
    error: bool = Field(default=False)
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    context_relevance: float | None = None
    groundedness: float | None = None
    answer_relevance: float | None = None
    rag_json: str | None = Field(default=None, sa_type=sa.Text)  # per passage, unsupported words, source


class DriftBaseline(SQLModel, table=True):
    """A pinned reference window for a model (``route`` ``*``: every route)."""

    __tablename__ = "drift_baselines"

    model: str = Field(primary_key=True, sa_type=sa.String)
    route: str = Field(primary_key=True, sa_type=sa.String)
    since: datetime = Field(sa_type=UTCDateTime)
    until: datetime = Field(sa_type=UTCDateTime)
    set_at: datetime = Field(sa_type=UTCDateTime)


class MonitorStat(SQLModel, table=True):
    """One statistic of one evaluation of a model and route."""

    __tablename__ = "monitor_stats"
    __table_args__ = (sa.Index("ix_monitor_stats_model_route_at", "model", "route", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    model: str = Field(sa_type=sa.String)
    route: str = Field(sa_type=sa.String)
    kind: str = Field(sa_type=sa.String)  # prompt | response | output | rag
    statistic: str = Field(sa_type=sa.String)
    value: float
    threshold: float | None = None
    p_value: float | None = None
    breached: bool
    reference_n: int | None = None
    current_n: int
    details_json: str | None = Field(default=None, sa_type=sa.Text)


class MonitorCondition(SQLModel, table=True):
    """A breached condition of one model and route, from its start until it clears."""

    __tablename__ = "monitor_conditions"

    id: int | None = Field(default=None, primary_key=True)
    model: str = Field(sa_type=sa.String, index=True)
    route: str = Field(sa_type=sa.String)
    condition: str = Field(sa_type=sa.String)  # drift.prompt | drift.output | rag_quality
    active: bool = Field(index=True)
    started_at: datetime = Field(sa_type=UTCDateTime)  # the first drifted record's time
    raised_at: datetime = Field(sa_type=UTCDateTime)
    alert_id: int | None = None
    clean_streak: int = Field(default=0)  # clean evaluations in a row while active
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    details_json: str | None = Field(default=None, sa_type=sa.Text)


class MonitorState(SQLModel, table=True):
    """The worker's progress (``name``: ``cursor``), as JSON."""

    __tablename__ = "monitor_state"

    name: str = Field(primary_key=True, sa_type=sa.String)
    value_json: str = Field(sa_type=sa.Text)
    updated_at: datetime = Field(sa_type=UTCDateTime)
