"""The store's tables (SQLAlchemy Core), declared on ``columns.metadata``.

Every table llmgate keeps is declared here, on ``metadata``, so that alembic's autogenerate sees
them all; each schema change is also written down as a numbered migration in
``store/migrations/versions/`` (``0001_initial.py``, ``0002_...``). The migrations spell their
column types out with plain SQLAlchemy types, so an old migration never changes because this
module did. The live monitors' tables are in ``store/monitor_tables.py``, the canaries' in
``store/canary_tables.py``, both imported at the end.

The tables are Core ``Table``s, not ORM classes: every query in ``store/`` is Core, and a command
that reads the store then imports neither SQLAlchemy's ORM nor SQLModel (about a third of a
read-only command's start-up). A column a row may leave out has a default here (``row_defaults``);
a nullable one defaults to ``NULL``.

Two column types make SQLite and PostgreSQL behave the same from Python: ``UTCDateTime`` and
``Money``, declared with ``metadata`` and the column helpers in ``store/columns.py`` (which
``monitor_tables.py`` uses too).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from llmgate.store.bodies import Body
from llmgate.store.columns import MONEY_SCALE as MONEY_SCALE
from llmgate.store.columns import Money as Money
from llmgate.store.columns import UTCDateTime as UTCDateTime
from llmgate.store.columns import col, serial_id
from llmgate.store.columns import metadata as metadata  # alembic reads every table from here

# --- requests ------------------------------------------------------------------------------

#: One client request to a ``/v1`` endpoint, as the recorder writes it after the response.
REQUESTS = sa.Table(
    "requests",
    metadata,
    col("id", sa.String(32), primary_key=True),  # 32 hex digits, client-visible (telemetry/call_ids.py)
    # on PostgreSQL the table is partitioned by month of created_at, keyed by (id, created_at)
    # (migration 0017, store/partitions.py); ix_requests_created_at_model serves time ranges
    col("created_at", UTCDateTime),
    col("endpoint", sa.String),  # chat/completions | completions | embeddings
    col("model", sa.String, index=True),  # the alias the client asked for
    col("deployment", sa.String, null=True),
    col("provider", sa.String, null=True),
    col("upstream_model", sa.String, null=True),
    col("auth_identity", sa.String, null=True),
    col("user", sa.String, null=True),
    col("stream", sa.Boolean, default=False),
    col("status", sa.String),  # success | error (its index went in 0017: two values)
    col("status_code", sa.Integer),
    col("error_type", sa.String, null=True),
    col("error_message", sa.Text, null=True),
    # the bodies, compressed (store/bodies.py; migration 0020): bytea on PostgreSQL
    col("request_json", Body, null=True),
    col("response_text", Body, null=True),
    col("tool_calls_json", Body, null=True),
    col("finish_reason", sa.String, null=True),
    col("prompt_tokens", sa.Integer, null=True),
    col("completion_tokens", sa.Integer, null=True),
    col("total_tokens", sa.Integer, null=True),
    col("cached_tokens", sa.Integer, null=True),
    col("reasoning_tokens", sa.Integer, null=True),
    col("tokens_estimated", sa.Boolean, default=False),
    col("cost_usd", Money, null=True),
    col("cost_unknown", sa.Boolean, default=False),
    col("latency_ms", sa.Float),
    col("ttft_ms", sa.Float, null=True),
    col("attempts", sa.Integer, default=1),
    col("attempts_json", sa.Text, null=True),
    col("prompt_hash", sa.String, null=True),
    col("prompt_chars", sa.Integer, null=True),
    col("response_chars", sa.Integer, null=True),
    col("tags_json", sa.Text, null=True),
    col("metadata_json", sa.Text, null=True),
    col("key_id", sa.String, null=True, index=True),  # virtual key (api_keys.id)
    col("team_id", sa.String, null=True, index=True),  # the key's team then
    # the response cache (migration 0011): a hit costs 0 and saves what the call would have cost
    col("cache_hit", sa.Boolean, default=False, server_default=sa.false()),
    col("cache", sa.String(16), null=True),  # hit | semantic-hit | miss | bypass; NULL: no cache
    col("cache_key", sa.String, null=True),  # the entry a hit came from (or a miss was stored under)
    col("cache_similarity", sa.Float, null=True),  # a semantic hit's cosine similarity
    col("saved_usd", Money, null=True),  # a hit: its cost at the prices of the day it was served
    # canary releases (migration 0012): the canary that routed the call and its arm; NULL: none
    col("canary_id", sa.String, null=True),
    col("arm", sa.String(16), null=True),  # stable | candidate
    # sessions (migration 0013, protocol/session_headers.py): the session a call joined, the earlier
    # call it names as its parent (a request id) and its step; NULL: none said
    col("session_id", sa.String, null=True),
    col("parent_id", sa.String(32), null=True),
    col("step", sa.String, null=True),
    sa.Index("ix_requests_created_at_model", "created_at", "model"),
    # a canary's evidence in (created_at, id) order; partial, so a call outside a canary (almost
    # every one) costs its insert nothing here
    sa.Index(
        "ix_requests_canary",
        "canary_id",
        "created_at",
        postgresql_where=sa.text("canary_id IS NOT NULL"),
        sqlite_where=sa.text("canary_id IS NOT NULL"),
    ),
    # a session's calls in time order (store/call_sessions.py); partial, as the canary's: a call
    # outside a session costs its insert nothing here
    sa.Index(
        "ix_requests_session",
        "session_id",
        "created_at",
        postgresql_where=sa.text("session_id IS NOT NULL"),
        sqlite_where=sa.text("session_id IS NOT NULL"),
    ),
    # (the spend reports' covering indexes, migrations 0004-0011, went in 0016: they read the rollups)
)


# --- keys, teams, audit --------------------------------------------------------------------

#: A team: its own budget, limits and model allow-list, shared by its keys.
sa.Table(
    "teams",
    metadata,
    col("id", sa.String, primary_key=True),  # the team's name (``--alias``)
    col("models_json", sa.Text, null=True),  # allow-list; NULL: every model
    col("budget_usd", Money, null=True),
    col("budget_period", sa.String, null=True),  # daily | weekly | monthly
    col("rpm", sa.Integer, null=True),
    col("tpm", sa.Integer, null=True),
    col("tags_json", sa.Text, null=True),
    col("created_at", UTCDateTime),
    col("updated_at", UTCDateTime),
    col("alias", sa.String, null=True),  # LiteLLM's team_alias, a display name (migration 0009)
    col("metadata_json", sa.Text, null=True),  # LiteLLM's metadata, any JSON object (0009)
)

#: A virtual key. Only its SHA-256 is stored: the key itself is shown once, at creation.
sa.Table(
    "api_keys",
    metadata,
    col("id", sa.String, primary_key=True),  # public id, e.g. key_3f9a...; in records
    col("key_hash", sa.String(64), unique=True),  # sha256 hex of the whole key
    col("key_prefix", sa.String),  # first characters, to recognise a key in lists
    col("alias", sa.String, unique=True),
    col("team_id", sa.String, null=True, index=True),
    col("user_id", sa.String, null=True),
    col("models_json", sa.Text, null=True),
    col("budget_usd", Money, null=True),
    col("budget_period", sa.String, null=True),
    col("rpm", sa.Integer, null=True),
    col("tpm", sa.Integer, null=True),
    col("tags_json", sa.Text, null=True),
    col("expires_at", UTCDateTime, null=True),
    col("revoked_at", UTCDateTime, null=True),
    col("created_at", UTCDateTime),
    col("updated_at", UTCDateTime, index=True),
    # the admin role: the admin API and the dashboard, as with the master key (migration 0006)
    col("admin", sa.Boolean, default=False, server_default=sa.false()),
    # LiteLLM's key fields (migration 0009): metadata, model aliases, max_parallel_requests
    col("metadata_json", sa.Text, null=True),
    col("aliases_json", sa.Text, null=True),
    col("max_parallel", sa.Integer, null=True),
    sa.Index("ix_api_keys_user_id", "user_id"),
)

#: An internal user (LiteLLM's ``/user/new``, migration 0009): its own budget, limits and model
#: allow-list, spent from by the keys whose ``user_id`` it is. ``store/users.py`` reads and writes it.
sa.Table(
    "internal_users",
    metadata,
    col("id", sa.String, primary_key=True),  # LiteLLM's user_id
    col("email", sa.String, null=True),
    col("role", sa.String),  # LiteLLM's user_role: proxy_admin | internal_user | ...
    col("models_json", sa.Text, null=True),
    col("budget_usd", Money, null=True),
    col("budget_period", sa.String, null=True),
    col("rpm", sa.Integer, null=True),
    col("tpm", sa.Integer, null=True),
    col("metadata_json", sa.Text, null=True),
    col("created_at", UTCDateTime),
    col("updated_at", UTCDateTime, index=True),
)

#: A team's members: users with a role in it (``admin`` | ``user``), migration 0009.
sa.Table(
    "team_members",
    metadata,
    col("team_id", sa.String, primary_key=True),
    col("user_id", sa.String, primary_key=True, index=True),
    col("role", sa.String),
    col("created_at", UTCDateTime),
)

#: One admin action, append-only: who, when, what changed (never a key itself).
sa.Table(
    "audit_log",
    metadata,
    serial_id(),
    col("at", UTCDateTime, index=True),
    col("actor", sa.String),
    col("action", sa.String),  # key.create | key.update | key.revoke | key.rotate | team.*
    col("target", sa.String),
    col("changes_json", sa.Text, null=True),
)

#: A dashboard login (migration 0007): live until logout, expiry, or its key's revocation. The
#: cookie carries a random session id; only its SHA-256 is stored, so this table cannot be
#: replayed as cookies. ``store/sessions.py`` reads and writes it.
sa.Table(
    "ui_sessions",
    metadata,
    col("id", sa.String(64), primary_key=True),  # sha256 hex of the cookie's session id
    col("subject", sa.String, index=True),  # "master" or an admin key's id
    col("created_at", UTCDateTime),
    col("expires_at", UTCDateTime, index=True),
)


# --- evals and alerts -----------------------------------------------------------------------

#: One run of one suite against one model (``--repeat`` runs every case several times).
sa.Table(
    "eval_runs",
    metadata,
    col("id", sa.String, primary_key=True),
    col("suite", sa.String),  # the suite's name
    col("suite_path", sa.String, null=True),
    col("suite_hash", sa.String),  # sha256 of the suite file's content
    col("git_commit", sa.String, null=True),
    col("model", sa.String),
    col("trigger", sa.String, default="cli"),  # cli | schedule | api
    col("status", sa.String),  # running | passed | failed | error
    col("started_at", UTCDateTime),
    col("finished_at", UTCDateTime, null=True),
    col("cases", sa.Integer, default=0),
    col("passed", sa.Integer, default=0),
    col("failed", sa.Integer, default=0),
    col("errors", sa.Integer, default=0),
    col("repeat", sa.Integer, default=1),
    col("cost_usd", Money, null=True),
    col("summary_json", sa.Text, null=True),
    sa.Index("ix_eval_runs_suite_model_started", "suite", "model", "started_at"),
)

#: One case of a run (one repetition): the model's output and every assertion's score.
sa.Table(
    "eval_results",
    metadata,
    serial_id(),
    col("run_id", sa.String, index=True),
    col("case_id", sa.String),
    col("repetition", sa.Integer, default=0),
    col("vars_json", sa.Text, null=True),
    col("output", sa.Text, null=True),
    col("passed", sa.Boolean),
    col("score", sa.Float),
    col("assertions_json", sa.Text, null=True),  # [{type, score, pass, ...}]
    col("latency_ms", sa.Float, null=True),
    col("cost_usd", Money, null=True),
    col("error", sa.Text, null=True),
)

#: The run a suite and model are compared against (``llmgate eval baseline set RUN``).
sa.Table(
    "eval_baselines",
    metadata,
    col("suite", sa.String, primary_key=True),
    col("model", sa.String, primary_key=True),
    col("run_id", sa.String),
    col("set_at", UTCDateTime),
)

#: An alert raised by a monitor or a scheduled eval (also sent to the configured sinks).
sa.Table(
    "alerts",
    metadata,
    serial_id(),
    col("at", UTCDateTime, index=True),
    col("source", sa.String),  # eval | drift | rag_quality
    col("kind", sa.String),  # e.g. eval.regression
    col("severity", sa.String),  # info | warning | critical
    col("title", sa.String),
    col("details_json", sa.Text, null=True),
    # for the operations report's MTTD / MTTR (migration 0012): the first record the condition
    # affected, and when the alert was resolved (or its canary rolled back); NULL: not known / open
    col("first_affected_at", UTCDateTime, null=True),
    col("resolved_at", UTCDateTime, null=True),
)


def table(name: str) -> sa.Table:
    """The Core ``Table`` called ``name``."""
    return metadata.tables[name]


def requests_table() -> sa.Table:
    """The ``requests`` table."""
    return REQUESTS


def row_defaults(of: sa.Table) -> tuple[dict[str, Any], frozenset[str]]:
    """What a row of ``of`` may leave out, with the value it then takes (the column's default;
    ``None`` for a nullable column or an id the database numbers), and the columns it must give."""
    defaults: dict[str, Any] = {}
    required: set[str] = set()
    for column in of.columns:
        if isinstance(column.default, sa.ColumnDefault) and column.default.is_scalar:
            defaults[column.name] = column.default.arg
        elif column.nullable or column is of.autoincrement_column:
            defaults[column.name] = None
        else:
            required.add(column.name)
    return defaults, frozenset(required)


# The live monitors' tables live in their own module; importing it here puts them on the metadata.
from llmgate.store import canary_tables as _canary_tables  # noqa: E402, F401  (canary releases)
from llmgate.store import dataset_tables as _dataset_tables  # noqa: E402, F401  (datasets)
from llmgate.store import monitor_tables as _monitor_tables  # noqa: E402, F401
from llmgate.store import response_tables as _response_tables  # noqa: E402, F401  (Responses API)
from llmgate.store import rollup_tables as _rollup_tables  # noqa: E402, F401  (rollups)
from llmgate.store import score_tables as _score_tables  # noqa: E402, F401  (feedback and scores)
