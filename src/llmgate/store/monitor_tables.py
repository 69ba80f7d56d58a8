"""The live monitors' tables: sampled records with their vectors, baselines, statistics, alerts' state.

- ``monitor_samples``: one row per sampled request: the prompt's (and answer's) embedding as raw
  float32 bytes, the output features output drift compares, and the retrieval-quality scores when
  the request carried context. Keyed by the record id, so a record is never sampled twice.
- ``drift_baselines``: a pinned reference window per model (and route): ``llmgate drift baseline set``.
- ``monitor_stats``: every statistic of every evaluation, for history ("drift over time") and reports.
- ``monitor_conditions``: one row per (model, route, condition) that is or was breached: when it
  began, the alert it raised, when it cleared. This is what deduplicates alerts.
- ``monitor_state``: the worker's progress through the ``requests`` table.

Imported by ``store/models.py`` so every table is on its ``metadata`` (SQLAlchemy Core tables,
as there); the schema change is migration 0005.
"""

from __future__ import annotations

import sqlalchemy as sa

from llmgate.store.columns import UTCDateTime, col, metadata, serial_id

#: A request the monitor sampled: what it embedded and scored.
sa.Table(
    "monitor_samples",
    metadata,
    col("record_id", sa.String(32), primary_key=True),
    col("created_at", UTCDateTime, index=True),  # the request's own time
    col("sampled_at", UTCDateTime),
    col("model", sa.String),
    col("route", sa.String),  # chat/completions | completions | embeddings
    col("embedder", sa.String),
    col("dim", sa.Integer),
    col("prompt_vector", sa.LargeBinary, null=True),  # float32, unit length
    col("response_vector", sa.LargeBinary, null=True),
    col("prompt_excerpt", sa.Text, null=True),  # first 300 chars, for reports
    col("response_chars", sa.Integer, null=True),
    col("refused", sa.Boolean, default=False),
    col("finish_reason", sa.String, null=True),
    col("tool_call", sa.Boolean, default=False),
    col("error", sa.Boolean, default=False),
    col("latency_ms", sa.Float, null=True),
    col("prompt_tokens", sa.Integer, null=True),
    col("completion_tokens", sa.Integer, null=True),
    col("context_relevance", sa.Float, null=True),
    col("groundedness", sa.Float, null=True),
    col("answer_relevance", sa.Float, null=True),
    col("rag_json", sa.Text, null=True),  # per passage, unsupported words, source
    sa.Index("ix_monitor_samples_model_route_created", "model", "route", "created_at"),
    # a canary's quality gates read the samples taken since their last read (migration 0012)
    sa.Index("ix_monitor_samples_sampled_at", "sampled_at", "record_id"),
)

#: A pinned reference window for a model (``route`` ``*``: every route).
sa.Table(
    "drift_baselines",
    metadata,
    col("model", sa.String, primary_key=True),
    col("route", sa.String, primary_key=True),
    col("since", UTCDateTime),
    col("until", UTCDateTime),
    col("set_at", UTCDateTime),
)

#: One statistic of one evaluation of a model and route.
sa.Table(
    "monitor_stats",
    metadata,
    serial_id(),
    col("at", UTCDateTime, index=True),
    col("model", sa.String),
    col("route", sa.String),
    col("kind", sa.String),  # prompt | response | output | rag
    col("statistic", sa.String),
    col("value", sa.Float),
    col("threshold", sa.Float, null=True),
    col("p_value", sa.Float, null=True),
    col("breached", sa.Boolean),
    col("reference_n", sa.Integer, null=True),
    col("current_n", sa.Integer),
    col("details_json", sa.Text, null=True),
    sa.Index("ix_monitor_stats_model_route_at", "model", "route", "at"),
)

#: A breached condition of one model and route, from its start until it clears.
sa.Table(
    "monitor_conditions",
    metadata,
    serial_id(),
    col("model", sa.String, index=True),
    col("route", sa.String),
    col("condition", sa.String),  # drift.prompt | drift.output | rag_quality
    col("active", sa.Boolean, index=True),
    col("started_at", UTCDateTime),  # the first drifted record's time
    col("raised_at", UTCDateTime),
    col("alert_id", sa.Integer, null=True),
    col("clean_streak", sa.Integer, default=0),  # clean evaluations in a row while active
    col("resolved_at", UTCDateTime, null=True),
    col("details_json", sa.Text, null=True),
)

#: The worker's progress (``name``: ``cursor``), as JSON.
sa.Table(
    "monitor_state",
    metadata,
    col("name", sa.String, primary_key=True),
    col("value_json", sa.Text),
    col("updated_at", UTCDateTime),
)
