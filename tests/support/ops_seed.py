"""A store seeded for the operations report (``reports/ops.py``), described by what is known to be true.

Each seeded alert is written down as its time and the truths an operator knows about it (how long
after the first affected record it was raised, how long until it was resolved, or that either is
unknown), and the rows are built from those truths through every source the report reads: the
alert's own ``first_affected_at`` / ``resolved_at``, the monitor condition that raised it, the eval
run its details name, the canary rollback it reports, a later ``<kind>.resolved`` notice. Each
request is written down with whether it took a fallback or a retry, decided by hand from its
attempts; each canary with how many candidate requests it took before its decision. Tests compute
their expectations from these truths, never from the report.

The window is ``[SINCE, UNTIL)``; a few rows sit just outside it, on purpose.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from llmgate.store.models import table
from llmgate.store.records import insert_records

SINCE = datetime(2026, 11, 2, tzinfo=UTC)
UNTIL = SINCE + timedelta(days=1)


def at(hours: float = 0, minutes: float = 0, seconds: float = 0) -> datetime:
    return SINCE + timedelta(hours=hours, minutes=minutes, seconds=seconds)


M = timedelta(minutes=1)
H = timedelta(hours=1)


@dataclass(frozen=True)
class SeedAlert:
    kind: str
    at: datetime
    severity: str = "warning"
    source: str = "drift"
    detect: timedelta | None = None  # the truth: first affected record -> alert (None: unknown)
    resolve: timedelta | None = None  # the truth: alert -> resolved (None: still open)
    via: str = "column"  # where the report must find the truths: column | condition | run | canary | notice
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def notice(self) -> bool:
        return self.severity == "info"

    @property
    def in_window(self) -> bool:
        return SINCE <= self.at < UNTIL


ALERTS = [
    # a monitor condition: started 30 min before the alert, cleared 3 h after it
    SeedAlert("drift.prompt", at(2), detect=30 * M, resolve=3 * H, via="condition"),
    # another, still holding
    SeedAlert("drift.prompt", at(10), detect=1 * H, via="condition"),
    SeedAlert("drift.prompt.resolved", at(5), severity="info"),
    # the alert's own columns win over its condition's (which says 2 h and 40 min: see seed())
    SeedAlert("drift.output", at(12), detect=10 * M, resolve=20 * M, via="column"),
    # a scheduled eval's regression: its run started 10 min before the alert; open
    SeedAlert("eval.regression", at(3), source="eval", detect=10 * M, via="run"),
    # a scheduled run that raised: no run, so no start; and one naming a run the store lacks
    SeedAlert("eval.error", at(4), source="eval", via="run"),
    SeedAlert("eval.error", at(4, 30), source="eval", via="run", details={"run_id": "run-missing"}),
    # a canary rolled back 5 s after its alert, 2 min after the first affected record
    SeedAlert(
        "canary.rolled_back",
        at(6),
        severity="critical",
        source="canary",
        detect=2 * M,
        resolve=timedelta(seconds=5),
        via="canary",
        details={"canary_id": "chat-v2"},
    ),
    # the monitor's own health: no start known; resolved by the notice 20 min later
    SeedAlert("monitor.failing", at(7), severity="critical", source="monitor", resolve=20 * M, via="notice"),
    SeedAlert("monitor.failing.resolved", at(7, 20), severity="info", source="monitor"),
    SeedAlert("canary.promoted", at(8), severity="info", source="canary"),
    # outside the window: an hour before it, and exactly at its (exclusive) end
    SeedAlert("drift.prompt", at(-1), detect=5 * M, resolve=5 * M, via="condition"),
    SeedAlert("drift.prompt", UNTIL, detect=5 * M, via="condition"),
]


@dataclass(frozen=True)
class SeedRequest:
    created_at: datetime
    model: str
    deployment: str | None
    status: str = "success"
    status_code: int = 200
    provider: str | None = "openai"
    attempts: list[tuple[str, str | None, str]] = field(default_factory=list)  # deployment, group, status
    fallback: bool = False  # the truth, read off ``attempts`` by hand
    retry: bool = False
    canary_id: str | None = None
    arm: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def in_window(self) -> bool:
        return SINCE <= self.created_at < UNTIL

    @property
    def rejected(self) -> bool:  # refused before any upstream was called
        return self.provider is None and 400 <= self.status_code < 500


REQUESTS = [
    SeedRequest(at(1), "chat", "chat-a", attempts=[("chat-a", "chat", "success")]),
    SeedRequest(
        at(1, 1),
        "chat",
        "chat-b",
        attempts=[("chat-a", "chat", "error"), ("chat-b", "chat", "success")],
        retry=True,
    ),
    SeedRequest(
        at(1, 2),
        "chat",
        "backup-a",
        attempts=[("chat-a", "chat", "error"), ("backup-a", "backup", "success")],
        fallback=True,
    ),
    SeedRequest(
        at(1, 3),
        "chat",
        "backup-a",
        status="error",
        status_code=502,
        attempts=[("chat-a", "chat", "error"), ("chat-a", "chat", "error"), ("backup-a", "backup", "error")],
        fallback=True,
        retry=True,
    ),
    # a budget's 429: refused before any upstream, not an availability failure
    SeedRequest(at(1, 4), "chat", None, status="error", status_code=429, provider=None),
    # recorded before attempts carried their group: a second attempt counts as a retry
    SeedRequest(
        at(1, 5),
        "chat",
        "chat-b",
        attempts=[("chat-a", None, "error"), ("chat-b", None, "success")],
        retry=True,
    ),
    SeedRequest(at(2), "embed", "embed-a", attempts=[("embed-a", "embed", "success")]),
    SeedRequest(
        at(2, 1),
        "embed",
        "embed-a",
        status="error",
        status_code=500,
        attempts=[("embed-a", "embed", "error")],
    ),
    # just before the window
    SeedRequest(at(seconds=-1), "chat", "chat-a", attempts=[("chat-a", "chat", "success")]),
]


@dataclass(frozen=True)
class SeedCanary:
    id: str
    model: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    candidate_before: int  # the truth: candidate requests up to the decision (or the window's end)
    candidate_after: int = 0  # after the decision: not counted
    stable: int = 0  # the stable arm's: not counted

    @property
    def listed(self) -> bool:  # started or ended in the window, or still running at its end
        started = SINCE <= self.started_at < UNTIL
        ended = self.ended_at is not None and SINCE <= self.ended_at < UNTIL
        return started or ended or (self.ended_at is None and self.started_at < UNTIL)


CANARIES = [
    SeedCanary(
        "chat-v2", "canary-chat", "rolled_back", at(5), at(6, seconds=5), 3, candidate_after=2, stable=4
    ),
    SeedCanary("embed-v2", "canary-embed", "promoted", at(-48), at(8), 2, stable=1),
    SeedCanary("old", "canary-old", "promoted", at(-120), at(-72), 5),
    SeedCanary("live", "canary-live", "running", at(20), None, 1),
    SeedCanary("long", "canary-long", "paused", at(-240), None, 0),
]

#: scheduled eval runs (model, trigger, started_at); only ``schedule`` ones in the window count
EVAL_RUNS = [
    ("run-reg", "chat", "schedule", at(3) - 10 * M),
    ("run-cli", "embed", "cli", at(3)),
    ("run-old", "embed", "schedule", at(-30)),
]

#: monitor samples of these requests (by index in REQUESTS)
SAMPLED = [0, 1, 6, 8]


def _canary_requests(canary: SeedCanary) -> list[SeedRequest]:
    decided = canary.ended_at or UNTIL
    span = decided - canary.started_at
    out = []
    for n in range(canary.candidate_before):
        when = canary.started_at + span * (n + 1) / (canary.candidate_before + 1)
        out.append(_canary_request(canary, when, "candidate"))
    for n in range(canary.candidate_after):
        out.append(_canary_request(canary, decided + timedelta(seconds=n + 1), "candidate"))
    for n in range(canary.stable):
        out.append(_canary_request(canary, canary.started_at + timedelta(seconds=n + 1), "stable"))
    return out


def _canary_request(canary: SeedCanary, when: datetime, arm: str) -> SeedRequest:
    group = canary.model if arm == "stable" else f"canary:{canary.id}"
    attempts = [(f"{group}-1", group, "success")]
    return SeedRequest(when, canary.model, f"{group}-1", attempts=attempts, canary_id=canary.id, arm=arm)


def all_requests() -> list[SeedRequest]:
    return [*REQUESTS, *(r for c in CANARIES for r in _canary_requests(c))]


# --- writing it ---------------------------------------------------------------------------------


def seed(engine: Engine) -> list[SeedRequest]:
    """Write every seeded row; returns the requests written (the REQUESTS and the canaries')."""
    requests = all_requests()
    insert_records(engine, [_request_row(r) for r in requests])
    with engine.begin() as conn:
        for run_id, model, trigger, started in EVAL_RUNS:
            conn.execute(
                sa.insert(table("eval_runs")).values(
                    id=run_id,
                    suite="qa",
                    suite_hash="h",
                    model=model,
                    trigger=trigger,
                    status="passed",
                    started_at=started,
                )
            )
        for index in SAMPLED:
            request = REQUESTS[index]
            conn.execute(
                sa.insert(table("monitor_samples")).values(
                    record_id=request.id,
                    created_at=request.created_at,
                    sampled_at=request.created_at + M,
                    model=request.model,
                    route="chat/completions",
                    embedder="fake",
                    dim=3,
                )
            )
        for canary in CANARIES:
            _insert_canary(conn, canary)
        for alert in ALERTS:
            _insert_alert(conn, alert)
    return requests


def _request_row(request: SeedRequest) -> dict[str, Any]:
    attempts = [
        {"deployment": d, "provider": "openai", "status": s, "latency_ms": 1.0, "model": "m"}
        | ({"group": g} if g is not None else {})
        for d, g, s in request.attempts
    ]
    return {
        "id": request.id,
        "created_at": request.created_at,
        "endpoint": "chat/completions",
        "model": request.model,
        "deployment": request.deployment,
        "provider": request.provider,
        "status": request.status,
        "status_code": request.status_code,
        "latency_ms": 5.0,
        "attempts": len(attempts),
        "attempts_json": json.dumps(attempts) if attempts else None,
        "canary_id": request.canary_id,
        "arm": request.arm,
    }


def _insert_canary(conn: sa.Connection, canary: SeedCanary) -> None:
    conn.execute(
        sa.insert(table("canaries")).values(
            id=canary.id,
            model=canary.model,
            candidate_json=json.dumps({"model": f"{canary.model}-next"}),
            steps_json="[10, 50, 100]",
            gates_json='["errors"]',
            tolerances_json="{}",
            sticky="user",
            alpha=0.05,
            min_step_requests=100,
            status=canary.status,
            step_index=0,
            percent=100.0 if canary.status == "promoted" else 0.0 if canary.status == "rolled_back" else 10.0,
            source="cli",
            started_at=canary.started_at,
            step_started_at=canary.started_at,
            updated_at=canary.ended_at or canary.started_at,
            ended_at=canary.ended_at,
            version=1,
        )
    )
    events = [("start", canary.started_at)]
    if canary.status == "rolled_back" and canary.ended_at is not None:
        events += [("step", canary.started_at + M), ("rollback", canary.ended_at)]
    for action, when in events:
        conn.execute(
            sa.insert(table("canary_events")).values(
                canary_id=canary.id, at=when, action=action, actor="controller", details_json="{}"
            )
        )


def _insert_alert(conn: sa.Connection, alert: SeedAlert) -> None:
    """The alert's row, its truths put where ``alert.via`` says the report must find them."""
    start = alert.at - alert.detect if alert.detect is not None else None
    end = alert.at + alert.resolve if alert.resolve is not None else None
    details = dict(alert.details)
    values: dict[str, Any] = {}
    if alert.via == "column":
        values = {"first_affected_at": start, "resolved_at": end}
    elif alert.via == "run" and start is not None:
        details["run_id"] = f"run-{alert.kind}-{alert.at:%H%M}"
        conn.execute(
            sa.insert(table("eval_runs")).values(
                id=details["run_id"],
                suite="qa",
                suite_hash="h",
                model="other",
                trigger="cli",
                status="failed",
                started_at=start,
            )
        )
    elif alert.via == "canary":
        values = {"first_affected_at": start}  # its end is the canary's rollback event (seeded with it)
    alert_id = conn.execute(
        sa.insert(table("alerts")).values(
            at=alert.at,
            source=alert.source,
            kind=alert.kind,
            severity=alert.severity,
            title=alert.kind,
            details_json=json.dumps(details),
            **values,
        )
    ).inserted_primary_key[0]
    if alert.via == "condition" or alert.kind == "drift.output":
        # drift.output's condition says otherwise (2 h, 40 min): the alert's own columns must win
        started = start if alert.via == "condition" else alert.at - 2 * H
        resolved = end if alert.via == "condition" else alert.at + 40 * M
        conn.execute(
            sa.insert(table("monitor_conditions")).values(
                model="chat",
                route="chat/completions",
                condition=alert.kind,
                active=resolved is None,
                started_at=started,
                raised_at=alert.at,
                alert_id=alert_id,
                resolved_at=resolved,
            )
        )
