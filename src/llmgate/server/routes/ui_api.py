"""The dashboard's data under ``/ui/api/``: overview series, spend, filter values, the session.

- ``GET /ui/api/session``: who is logged in.
- ``GET /ui/api/overview``: requests, errors, p50/p95 latency, tokens and cost per time bucket
  (``store.traffic.traffic_series``), the bucket width chosen from the range.
- ``GET /ui/api/overview/feedback``: the same figures for the whole range per users' rating of the
  requests (``good``, ``bad``, ``unrated``: ``store.traffic.traffic_by_feedback``).
- ``GET /ui/api/spend``: ``reports.spend.spend_report`` as JSON, grouped by ``team``, ``key``,
  ``model``, ``endpoint``, ``feedback`` or ``tag:NAME``; the same function as ``llmgate report spend`` and
  ``/admin/spend/report``, so the numbers are the same.
- ``GET /ui/api/spend.csv``: the same report as ``reports.spend.to_csv`` (a download).
- ``GET /ui/api/filters``: models and tag names seen in the range, the keys and teams, the endpoints.

Ranges: ``since`` and ``until`` are read by ``config.time_range``, as every ``--since`` of the CLI
(``24h``, ``7d``, a date: midnight in ``llmgate.time_zone``, an ISO datetime); ``since`` defaults
to 24 hours ago, ``until`` to now.
Every route needs a dashboard login or an admin key (``require_ui_admin``). Plain ``def``
handlers: FastAPI runs them in its thread pool, off the event loop, while the store works.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from llmgate.errors import InvalidRequest
from llmgate.protocol.endpoints import Endpoint
from llmgate.server.deps import app_state, schema_ready
from llmgate.server.params import refuse_nul
from llmgate.server.ui_auth import UiAdminDep, require_ui_admin
from llmgate.server.ui_common import NO_STORE, Since, Until, json_response, time_range
from llmgate.store.money import cost_text

if TYPE_CHECKING:
    from llmgate.reports.spend import SpendReport
    from llmgate.store.traffic import Bucket

router = APIRouter(
    prefix="/ui/api",
    include_in_schema=False,
    dependencies=[Depends(refuse_nul), Depends(require_ui_admin), Depends(schema_ready)],
)

SPEND_GROUPS = ("team", "key", "model", "endpoint", "feedback")


@router.get("/session")
def session(admin: UiAdminDep) -> Response:
    return json_response({"subject": admin.subject, "name": admin.name})


@router.get("/overview")
def overview(request: Request, since: Since = None, until: Until = None) -> Response:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.store.traffic import pick_bucket_seconds, traffic_series

    state = app_state(request)
    start, end = time_range(state, since, until)
    width = pick_bucket_seconds(end - start)
    series = traffic_series(state.engine, start, end, width, state.config.llmgate.time_zone)

    return json_response(
        {
            "since": start.isoformat(),
            "until": end.isoformat(),
            "time_zone": state.config.llmgate.time_zone,
            "bucket_seconds": width,
            "totals": _figures(series.totals),
            "buckets": [_figures(b) for b in series.buckets],
        }
    )


@router.get("/overview/feedback")
def overview_feedback(request: Request, since: Since = None, until: Until = None) -> Response:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.store.traffic import traffic_by_feedback

    state = app_state(request)
    start, end = time_range(state, since, until)
    split = traffic_by_feedback(state.engine, start, end)
    groups = [{"rating": rating, **_figures(bucket)} for rating, bucket in split.items()]
    return json_response({"since": start.isoformat(), "until": end.isoformat(), "groups": groups})


def _figures(bucket: Bucket) -> dict[str, Any]:
    return {
        "start": bucket.start.isoformat(),
        "requests": bucket.requests,
        "errors": bucket.errors,
        "error_rate": bucket.errors / bucket.requests if bucket.requests else None,
        "p50_ms": bucket.p50_ms,
        "p95_ms": bucket.p95_ms,
        "input_tokens": bucket.input_tokens,
        "output_tokens": bucket.output_tokens,
        "cost_usd": cost_text(bucket.cost_usd),
    }


def _group(value: str | None) -> str:
    group = (value or "team").strip()
    if group in SPEND_GROUPS or (group.lower().startswith("tag:") and len(group) > 4):
        return group
    raise InvalidRequest(f"group_by: use one of {', '.join(SPEND_GROUPS)} or tag:NAME", param="group_by")


def _report(request: Request, since: str | None, until: str | None, group_by: str | None) -> SpendReport:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.reports.spend import parse_group_by, spend_report

    state = app_state(request)
    start, end = time_range(state, since, until)
    groups = parse_group_by(_group(group_by))
    tz = state.config.llmgate.time_zone
    return spend_report(state.engine, since=start, until=end, group_by=groups, tz=tz)


GroupBy = Annotated[
    str | None, Query(description="team, key, model, endpoint, feedback or tag:NAME (default team).")
]


@router.get("/spend")
def spend(request: Request, since: Since = None, until: Until = None, group_by: GroupBy = None) -> Response:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.reports.spend import to_json

    return json_response(to_json(_report(request, since, until, group_by)))


@router.get("/spend.csv")
def spend_csv(
    request: Request, since: Since = None, until: Until = None, group_by: GroupBy = None
) -> Response:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.reports.spend import to_csv

    report = _report(request, since, until, group_by)
    group = report.group_by[0].replace(":", "-")
    name = f"llmgate-spend-by-{group}-{report.since:%Y%m%dT%H%M}.csv"
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return Response(
        to_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/filters")
def filters(request: Request, since: Since = None, until: Until = None) -> Response:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.store.keys import load_keys, load_teams
    from llmgate.store.traffic import filter_values

    state = app_state(request)
    start, end = time_range(state, since, until)
    values = filter_values(state.engine, start, end)
    keys = sorted(load_keys(state.engine), key=lambda k: k.alias)
    return json_response(
        {
            "models": values.models,
            "tags": values.tags,
            "keys": [{"id": k.id, "alias": k.alias, "team": k.team_id} for k in keys],
            "teams": sorted(t.id for t in load_teams(state.engine)),
            "endpoints": [endpoint.value for endpoint in Endpoint],
        }
    )
