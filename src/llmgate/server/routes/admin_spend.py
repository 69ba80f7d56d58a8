"""Admin API for spend: ``GET /admin/spend/report`` (JSON or CSV), as ``llmgate report spend``.

Also ``GET /admin/spend/budgets`` and ``GET /admin/spend/pricing-gaps`` (``llmgate report budgets``
and ``pricing-gaps``). Master key only. The handlers are thin: parameters in, ``llmgate.reports``
for the numbers and their formats, so the API and the CLI always agree. They are plain ``def``
routes: FastAPI runs them in its thread pool, off the event loop, while the store sums.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from llmgate.config.time_range import parse_moment, parse_range
from llmgate.server.deps import app_state, require_admin, schema_ready
from llmgate.server.params import refuse_nul

router = APIRouter(
    prefix="/admin/spend",
    tags=["spend"],
    dependencies=[Depends(refuse_nul), Depends(require_admin), Depends(schema_ready)],
)

_MONEY = "An exact decimal string with 10 places (USD), e.g. `12.3456789012`."
_BOUND = (
    "A local date in `llmgate.time_zone` (`2026-11-01`: midnight there), an ISO datetime "
    "(`2026-11-01T09:00`, in `llmgate.time_zone` unless it has an offset) or a span back from now "
    "(`7d`, `12h`)."
)


class SpendTotals(BaseModel):
    requests: int = Field(description="Recorded requests, successful or not: succeeded + failed + rejected.")
    input_tokens: int = Field(description="Sum of prompt tokens.")
    output_tokens: int = Field(description="Sum of completion tokens.")
    cost_usd: str = Field(description=_MONEY, examples=["12.3456789012"])
    succeeded: int = Field(description="Requests answered.")
    failed: int = Field(
        description="Requests that ended in an error after the gateway took them on: the upstream's "
        "errors (its 4xx and 429 included), timeouts, no deployment left, the gateway's own 5xx."
    )
    rejected: int = Field(
        description="Requests the gateway refused before calling any upstream: a budget or rate limit "
        "(429), a model the key may not use (403), an unknown model (404), a body it would not take "
        "(400, 413). Unauthenticated requests (401) are never recorded."
    )
    saved_usd: str = Field(
        description="What the response cache's hits would have cost at the prices of the day each was "
        "served (a hit itself costs 0). " + _MONEY,
        examples=["0.0324000000"],
    )
    hit_rate: float = Field(
        description="The share of the requests the response cache answered (hits / requests, 0 to 1).",
        examples=[0.25],
    )


class SpendRow(SpendTotals):
    """One group: a field per `group_by` entry (`team`, `key` with `key_id`, `user`, `model`,
    `provider`, `endpoint`, `day`, `week` (its Monday), `month`, `feedback` (`good`, `bad`, `unrated`),
    `tag:NAME`; `null` when a request has none), then the sums."""

    model_config = ConfigDict(extra="allow")


class SpendReportBody(BaseModel):
    since: datetime
    until: datetime | None
    time_zone: str = Field(description="`llmgate.time_zone`: where days, weeks and months begin.")
    group_by: list[str]
    currency: Literal["USD"]
    rows: list[SpendRow]
    totals: SpendTotals


_CSV_EXAMPLE = (
    "team,model,requests,input_tokens,output_tokens,cost_usd,succeeded,failed,rejected,saved_usd,hit_rate\r\n"
    "search,gpt-4o-mini,1200,480000,96000,0.1296000000,1188,4,8,0.0324000000,0.25\r\n"
    "TOTAL,,1200,480000,96000,0.1296000000,1188,4,8,0.0324000000,0.25\r\n"
)


@router.get(
    "/report",
    summary="Spend report",
    description=(
        "Requests (and of them how many succeeded, failed and were rejected), input and output "
        "tokens, cost, and what the response cache saved and its hit rate per group over "
        "`[since, until)`, with a totals row: the same numbers as "
        "`llmgate report spend`. Sums are exact. `format=csv` answers "
        "`text/csv` with a header row, one row per group and a last row whose first group column "
        "reads `TOTAL`; a request without the grouped dimension is `(none)` there."
    ),
    response_model=SpendReportBody,
    responses={
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}, "example": _CSV_EXAMPLE}},
            "description": "The report, as JSON or CSV (`format`).",
        },
        400: {"description": "A parameter is invalid (unknown group, unreadable date)."},
    },
)
def spend_report(
    request: Request,
    since: Annotated[str | None, Query(description=_BOUND + " Default: start of this month.")] = None,
    until: Annotated[str | None, Query(description="Exclusive end, as `since`. Default: now.")] = None,
    group_by: Annotated[
        str | None,
        Query(
            description="Comma-separated groups: team, key, user, model, provider, endpoint, day, week, "
            "month, feedback (the users' rating: good, bad, unrated), tag:NAME. None: totals only.",
            examples=["team,model,month"],
        ),
    ] = None,
    format: Annotated[Literal["json", "csv"], Query(description="json or csv.")] = "json",
) -> Response:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.reports import spend as reports

    state = app_state(request)
    tz = state.config.llmgate.time_zone
    start, end = parse_range(since, until, tz, default_since=reports.month_start(tz))
    assert start is not None
    report = reports.spend_report(
        state.engine, since=start, until=end, group_by=reports.parse_group_by(group_by), tz=tz
    )
    if format == "csv":
        return Response(
            content=reports.to_csv(report),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="spend.csv"'},
        )
    return Response(content=orjson.dumps(reports.to_json(report)), media_type="application/json")


@router.get(
    "/budgets",
    summary="Budgets: spend this period and forecast",
    description=(
        "Each key and team with a budget (and each user when `llmgate.user_budget_usd` is set): "
        "its budget and period, spend in the current period, what is left, and the forecast to "
        "the period's end at the current burn rate (spend / elapsed * period length), as "
        "`llmgate report budgets --format json`. Amounts are exact decimal strings."
    ),
)
def budgets(
    request: Request,
    as_of: Annotated[
        str | None,
        Query(
            description="Report as of this time, read as `since` is (a date-time without an offset is "
            "wall-clock time in llmgate.time_zone). Default: now."
        ),
    ] = None,
) -> Response:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.reports import budgets as reports

    state = app_state(request)
    settings = state.config.llmgate
    now = parse_moment(as_of, settings.time_zone, param="as_of") if as_of else datetime.now(UTC)
    user = settings.user_budget_usd
    lines = reports.budget_report(
        state.engine,
        now=now,
        tz=settings.time_zone,
        user_budget=(user, settings.user_budget_period) if user is not None else None,
    )
    body = reports.to_json(lines, now=now.astimezone(UTC), tz=settings.time_zone)
    return Response(content=orjson.dumps(body), media_type="application/json")


@router.get(
    "/pricing-gaps",
    summary="Requests without a known price",
    description="Requests flagged `cost_unknown`, per model, deployment and provider, with first and "
    "last seen: as `llmgate report pricing-gaps --format json`.",
)
def pricing_gaps(
    request: Request,
    since: Annotated[str | None, Query(description=_BOUND)] = None,
    until: Annotated[str | None, Query(description="Exclusive end, as `since`.")] = None,
) -> Response:
    # SQLAlchemy (the store): off the gateway process until this endpoint is called
    from llmgate.reports.spend import gaps_to_json
    from llmgate.reports.spend import pricing_gaps as gaps_in

    state = app_state(request)
    tz = state.config.llmgate.time_zone
    start, end = parse_range(since, until, tz)
    gaps = gaps_in(state.engine, since=start, until=end)
    return Response(content=orjson.dumps(gaps_to_json(gaps)), media_type="application/json")
