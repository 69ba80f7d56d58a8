"""The store's tables (SQLModel) and the two column types they need on both databases.

Every table llmgate keeps is declared here, on ``SQLModel.metadata``, so that alembic's
autogenerate sees them all; each schema change is also written down as a numbered migration in
``store/migrations/versions/`` (``0001_initial.py``, ``0002_...``). The migrations spell their
column types out with plain SQLAlchemy types, so an old migration never changes because this
module did. When this module grows past one screen per concern, split it into a package
(``models/requests.py``, ``models/keys.py``) that imports every table in ``__init__``.

Two column types make SQLite and PostgreSQL behave the same from Python:

- ``UTCDateTime``: timezone-aware UTC ``datetime`` in and out. PostgreSQL stores
  ``timestamptz``; SQLite stores the UTC wall time as fixed-width text (sortable, comparable).
  A naive ``datetime`` is taken to be UTC.
- ``Money``: exact ``Decimal`` with 10 decimal places. PostgreSQL stores ``NUMERIC(20, 10)``.
  SQLite has no decimal type (SQLAlchemy's ``Numeric`` there goes through a float and loses
  digits past the 15th significant one), so it stores the amount as a ``BIGINT`` count of
  1e-10 USD: exact, and ``SUM``, ``ORDER BY`` and comparisons still work in SQL. Range on
  SQLite: about +-922 million USD per value and per sum.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import Field, SQLModel

from llmgate.store.money import MONEY_QUANTUM as _MONEY_QUANTUM
from llmgate.store.money import MONEY_SCALE as MONEY_SCALE

_MONEY_SQLITE_LIMIT = 2**63 - 1


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC ``datetime`` on every database (naive input is taken as UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if dialect.name == "sqlite":
            # SQLite keeps no offset: store the UTC wall time, read it back as UTC.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Money(TypeDecorator[Decimal]):
    """An exact ``Decimal`` amount, 10 decimal places: ``NUMERIC(20, 10)``, scaled BIGINT on SQLite."""

    impl = sa.Numeric(20, MONEY_SCALE, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.BigInteger())
        return dialect.type_descriptor(sa.Numeric(20, MONEY_SCALE, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Decimal | int | None:
        if value is None:
            return None
        amount = _to_decimal(value).quantize(_MONEY_QUANTUM, rounding=ROUND_HALF_UP)
        if dialect.name == "sqlite":
            units = int(amount.scaleb(MONEY_SCALE))
            if abs(units) > _MONEY_SQLITE_LIMIT:
                raise ValueError(f"amount {value} is out of range for the SQLite store")
            return units
        return amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite" and isinstance(value, int):
            return Decimal(value).scaleb(-MONEY_SCALE)
        return _to_decimal(value).quantize(_MONEY_QUANTUM, rounding=ROUND_HALF_UP)


def _to_decimal(value: object) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError("expected a Decimal amount, got bool")
    if isinstance(value, int | str):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))  # the float's shortest repr, not its binary expansion
    raise TypeError(f"expected a Decimal amount, got {type(value).__name__}")


# --- requests ------------------------------------------------------------------------------


class RequestRecord(SQLModel, table=True):
    """One client request to a ``/v1`` endpoint, as the recorder writes it after the response."""

    __tablename__ = "requests"
    __table_args__ = (
        sa.Index("ix_requests_created_at_model", "created_at", "model"),
        # Spend reports (migrations 0004, 0008): a covering index per store, empty (partial, WHERE
        # false) on the other one. SQLite's covers every column a report reads; PostgreSQL's leaves
        # out ``user`` and ``tags_json``, which a client can make longer than a B-tree entry may be.
        sa.Index(
            "ix_requests_spend",
            "created_at",
            "team_id",
            "key_id",
            "user",
            "model",
            "provider",
            "prompt_tokens",
            "completion_tokens",
            "cost_usd",
            "tags_json",
            "status",
            "status_code",
            postgresql_where=sa.text("false"),
        ),
        sa.Index(
            "ix_requests_spend_pg",
            "created_at",
            postgresql_include=[
                "team_id",
                "key_id",
                "model",
                "provider",
                "prompt_tokens",
                "completion_tokens",
                "cost_usd",
                "status",
                "status_code",
            ],
            sqlite_where=sa.text("0"),
        ),
    )

    id: str = Field(primary_key=True, sa_type=sa.String(32))  # uuid4 hex, the client-visible id
    created_at: datetime = Field(sa_type=UTCDateTime, index=True)
    endpoint: str = Field(sa_type=sa.String)  # chat/completions | completions | embeddings
    model: str = Field(sa_type=sa.String, index=True)  # the alias the client asked for
    deployment: str | None = Field(default=None, sa_type=sa.String)
    provider: str | None = Field(default=None, sa_type=sa.String)
    upstream_model: str | None = Field(default=None, sa_type=sa.String)
    auth_identity: str | None = Field(default=None, sa_type=sa.String)
    user: str | None = Field(default=None, sa_type=sa.String)
    stream: bool = Field(default=False)
    status: str = Field(sa_type=sa.String, index=True)  # success | error
    status_code: int
    error_type: str | None = Field(default=None, sa_type=sa.String)
    error_message: str | None = Field(default=None, sa_type=sa.Text)
    request_json: str | None = Field(default=None, sa_type=sa.Text)
    response_text: str | None = Field(default=None, sa_type=sa.Text)
    tool_calls_json: str | None = Field(default=None, sa_type=sa.Text)
    finish_reason: str | None = Field(default=None, sa_type=sa.String)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    tokens_estimated: bool = Field(default=False)
    cost_usd: Decimal | None = Field(default=None, sa_type=Money)
    cost_unknown: bool = Field(default=False)
    latency_ms: float
    ttft_ms: float | None = None
    attempts: int = Field(default=1)
    attempts_json: str | None = Field(default=None, sa_type=sa.Text)
    prompt_hash: str | None = Field(default=None, sa_type=sa.String)
    prompt_chars: int | None = None
    response_chars: int | None = None
    tags_json: str | None = Field(default=None, sa_type=sa.Text)
    metadata_json: str | None = Field(default=None, sa_type=sa.Text)
    key_id: str | None = Field(default=None, sa_type=sa.String, index=True)  # virtual key (api_keys.id)
    team_id: str | None = Field(default=None, sa_type=sa.String, index=True)  # the key's team then


# --- keys, teams, audit --------------------------------------------------------------------


class Team(SQLModel, table=True):
    """A team: its own budget, limits and model allow-list, shared by its keys."""

    __tablename__ = "teams"

    id: str = Field(primary_key=True, sa_type=sa.String)  # the team's name (``--alias``)
    models_json: str | None = Field(default=None, sa_type=sa.Text)  # allow-list; NULL: every model
    budget_usd: Decimal | None = Field(default=None, sa_type=Money)
    budget_period: str | None = Field(default=None, sa_type=sa.String)  # daily | weekly | monthly
    rpm: int | None = None
    tpm: int | None = None
    tags_json: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class ApiKey(SQLModel, table=True):
    """A virtual key. Only its SHA-256 is stored: the key itself is shown once, at creation."""

    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, sa_type=sa.String)  # public id, e.g. key_3f9a...; in records
    key_hash: str = Field(sa_type=sa.String(64), unique=True)  # sha256 hex of the whole key
    key_prefix: str = Field(sa_type=sa.String)  # first characters, to recognise a key in lists
    alias: str = Field(sa_type=sa.String, unique=True)
    team_id: str | None = Field(default=None, sa_type=sa.String, index=True)
    user_id: str | None = Field(default=None, sa_type=sa.String)
    models_json: str | None = Field(default=None, sa_type=sa.Text)
    budget_usd: Decimal | None = Field(default=None, sa_type=Money)
    budget_period: str | None = Field(default=None, sa_type=sa.String)
    rpm: int | None = None
    tpm: int | None = None
    tags_json: str | None = Field(default=None, sa_type=sa.Text)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime, index=True)
    # the admin role: the admin API and the dashboard, as with the master key (migration 0006)
    admin: bool = Field(default=False, sa_type=sa.Boolean, sa_column_kwargs={"server_default": sa.false()})


class AuditEntry(SQLModel, table=True):
    """One admin action, append-only: who, when, what changed (never a key itself)."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    actor: str = Field(sa_type=sa.String)
    action: str = Field(sa_type=sa.String)  # key.create | key.update | key.revoke | key.rotate | team.*
    target: str = Field(sa_type=sa.String)
    changes_json: str | None = Field(default=None, sa_type=sa.Text)


class UiSession(SQLModel, table=True):
    """A dashboard login (migration 0007): live until logout, expiry, or its key's revocation.

    The cookie carries a random session id; only its SHA-256 is stored, so this table cannot be
    replayed as cookies. ``store/sessions.py`` reads and writes it.
    """

    __tablename__ = "ui_sessions"

    id: str = Field(primary_key=True, sa_type=sa.String(64))  # sha256 hex of the cookie's session id
    subject: str = Field(sa_type=sa.String, index=True)  # "master" or an admin key's id
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)


# --- evals and alerts -----------------------------------------------------------------------


class EvalRun(SQLModel, table=True):
    """One run of one suite against one model (``--repeat`` runs every case several times)."""

    __tablename__ = "eval_runs"
    __table_args__ = (sa.Index("ix_eval_runs_suite_model_started", "suite", "model", "started_at"),)

    id: str = Field(primary_key=True, sa_type=sa.String)
    suite: str = Field(sa_type=sa.String)  # the suite's name
    suite_path: str | None = Field(default=None, sa_type=sa.String)
    suite_hash: str = Field(sa_type=sa.String)  # sha256 of the suite file's content
    git_commit: str | None = Field(default=None, sa_type=sa.String)
    model: str = Field(sa_type=sa.String)
    trigger: str = Field(default="cli", sa_type=sa.String)  # cli | schedule | api
    status: str = Field(sa_type=sa.String)  # running | passed | failed | error
    started_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cases: int = Field(default=0)
    passed: int = Field(default=0)
    failed: int = Field(default=0)
    errors: int = Field(default=0)
    repeat: int = Field(default=1)
    cost_usd: Decimal | None = Field(default=None, sa_type=Money)
    summary_json: str | None = Field(default=None, sa_type=sa.Text)


class EvalResult(SQLModel, table=True):
    """One case of a run (one repetition): the model's output and every assertion's score."""

    __tablename__ = "eval_results"

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(sa_type=sa.String, index=True)
    case_id: str = Field(sa_type=sa.String)
    repetition: int = Field(default=0)
    vars_json: str | None = Field(default=None, sa_type=sa.Text)
    output: str | None = Field(default=None, sa_type=sa.Text)
    passed: bool
    score: float
    assertions_json: str | None = Field(default=None, sa_type=sa.Text)  # [{type, score, pass, ...}]
    latency_ms: float | None = None
    cost_usd: Decimal | None = Field(default=None, sa_type=Money)
    error: str | None = Field(default=None, sa_type=sa.Text)


class EvalBaseline(SQLModel, table=True):
    """The run a suite and model are compared against (``llmgate eval baseline set RUN``)."""

    __tablename__ = "eval_baselines"

    suite: str = Field(primary_key=True, sa_type=sa.String)
    model: str = Field(primary_key=True, sa_type=sa.String)
    run_id: str = Field(sa_type=sa.String)
    set_at: datetime = Field(sa_type=UTCDateTime)


class Alert(SQLModel, table=True):
    """An alert raised by a monitor or a scheduled eval (also sent to the configured sinks)."""

    __tablename__ = "alerts"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    source: str = Field(sa_type=sa.String)  # eval | drift | rag_quality
    kind: str = Field(sa_type=sa.String)  # e.g. eval.regression
    severity: str = Field(sa_type=sa.String)  # info | warning | critical
    title: str = Field(sa_type=sa.String)
    details_json: str | None = Field(default=None, sa_type=sa.Text)


def table(name: str) -> sa.Table:
    """The Core ``Table`` of one of the models above."""
    return SQLModel.metadata.tables[name]


def requests_table() -> sa.Table:
    """The Core ``Table`` behind ``RequestRecord`` (queries use Core, never ORM objects)."""
    return SQLModel.metadata.tables[RequestRecord.__tablename__]


# The live monitors' tables live in their own module; importing it here puts them on the metadata.
from llmgate.store import monitor_tables as _monitor_tables  # noqa: E402, F401
