"""Reports from the DuckDB projections (a published snapshot: reading never blocks the
projector), scoped by tenant: a publisher's reports cover its own calls, a buyer's the calls
routed to it. Which reports, dimensions and columns each may see is `domain.redaction`'s."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Response

from api.auth import Principal, require, services
from api.openapi import problems
from api.params import QueryTime
from api.problems import Problem
from api.services import ApiServices
from domain import redaction
from domain.api_key import Role
from domain.limits import GROUP_BY_LENGTH_MAX
from domain.money import format_cents
from projections.conversions import (
    ConversionFormat,
    Worth,
    conversions,
    ga4_lines,
    google_ads_csv,
)
from projections.readers import NoProjections
from projections.reports import REPORTS, ReportError, dimension_column, run_report

router = APIRouter(tags=["reports"])


def _value(column: str, value: Any) -> tuple[str, Any]:
    if column.endswith("_cents"):
        return column[: -len("_cents")], None if value is None else format_cents(int(value))
    if isinstance(value, datetime):
        return column, value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return column, value.isoformat()
    if isinstance(value, Decimal):
        return column, str(value)
    return column, value


def _audience(who: Principal) -> redaction.Audience:
    audience = redaction.report_audience(who)
    if audience is None:
        raise Problem(403, f"a {who.role} key cannot read reports")
    return audience


def report_rows(
    s: ApiServices,
    who: Principal,
    name: str,
    group_by: list[str],
    start: datetime | None,
    end: datetime | None,
) -> dict[str, Any]:
    audience = _audience(who)
    columns = [dimension_column(name, d) for d in group_by]
    refused = [
        d
        for d, column in zip(group_by, columns, strict=True)
        if column is not None and not redaction.may_see_column(audience, column)
    ]
    if refused:
        raise Problem(403, f"a {who.role} key cannot group by {refused[0]}")
    try:
        result = run_report(
            s.reports.cursor(),
            name,
            group_by=group_by,
            start=start,
            end=end,
            publisher_id=who.owner_id if who.role == Role.PUBLISHER else None,
            buyer_id=who.owner_id if who.role == Role.BUYER else None,
        )
    except NoProjections:
        raise Problem(503, "no projections yet: run `ppcx project`") from None
    except ReportError as error:
        raise Problem(
            422, str(error), errors=[{"field": "group_by", "message": str(error)}]
        ) from None
    shown = [c for c in result.columns if redaction.may_see_column(audience, c)]
    rows = [
        dict(_value(c, v) for c, v in zip(result.columns, row, strict=True) if c in shown)
        for row in result.rows
    ]
    return {"report": name, "group_by": group_by, "rows": rows}


@router.get("/v1/reports/{name}")
async def report(
    # the names as an enum in the document; an unknown one stays 404 (as an unknown id)
    name: str = Path(json_schema_extra={"enum": list(REPORTS)}, examples=["pnl"]),
    group_by: str = Query(
        default="",
        max_length=GROUP_BY_LENGTH_MAX,
        description="comma-separated dimensions (pnl: hour, "
        "day, campaign, publisher, buyer, target, "
        "vertical, state; attribution: source, "
        "medium, campaign, keyword, "
        "tracking_number, day, …; buyers: target, a row per target; scores: none (the "
        "deciles alone), source, medium, keyword, campaign, publisher, buyer, model, day)",
    ),
    start: QueryTime | None = Query(default=None, alias="from"),
    end: QueryTime | None = Query(default=None, alias="to"),
    who: Principal = Depends(require(Role.PUBLISHER, Role.BUYER, Role.FINANCE, Role.ANALYST)),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """`pnl`, `attribution`, `funnel`, `buyers` (per buyer, or `group_by=target`: per target,
    with answer rate, buzzer-beater rate and auto-pauses), `repeat_callers`, `missed_calls`,
    `heatmap`, `scores` (lead scores in deciles vs conversion): money as decimal strings,
    times UTC; 503 until the projector has run."""
    if name not in REPORTS:
        raise Problem(404, f"no report {name!r}; there are: {', '.join(REPORTS)}")
    if not redaction.may_run_report(_audience(who), name):
        raise Problem(403, f"the {name} report is not available to a {who.role} key")
    dims = group_by.split(",") if group_by else []  # as written: " day" is no dimension
    if not dims and name == "pnl":
        dims = ["campaign"]
    elif not dims and name == "attribution":
        dims = ["source"]
    return await s.call(report_rows, s, who, name, dims, start, end)


CSV = "text/csv"
NDJSON = "application/x-ndjson"
CONVERSIONS_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Google Ads' offline click-conversion file (CSV), or GA4 Measurement "
        "Protocol bodies (one JSON object per line)",
        "content": {
            CSV: {
                "schema": {"type": "string"},
                "example": "Google Click ID,Conversion Name,Conversion Time,Conversion Value,"
                "Conversion Currency\nCj0KCQ…,PPCX qualified call,2026-11-02 15:04:05+0000,"
                "30.00,USD\n",
            },
            NDJSON: {
                "schema": {"type": "string"},
                "example": '{"client_id":"ppcx.call_…","timestamp_micros":1793631845000000,'
                '"events":[{"name":"ppcx_qualified_call","params":{"click_id":"Cj0KCQ…",'
                '"transaction_id":"call_…:ppcx_qualified_call","value":30.00,'
                '"currency":"USD"}}]}\n',
            },
        },
    },
    **problems(403, 422, 503),
}


@router.get("/v1/conversions", response_class=Response, responses=CONVERSIONS_ANSWER)
async def conversions_file(
    start: QueryTime = Query(alias="from", examples=["2026-11-01T00:00:00Z"]),
    end: QueryTime = Query(alias="until", examples=["2026-12-01T00:00:00Z"]),
    file_format: ConversionFormat = Query(default=ConversionFormat.GOOGLE_ADS, alias="format"),
    currency: str = Query(default="USD", pattern="^[A-Z]{3}$", examples=["USD"]),
    who: Principal = Depends(require(Role.PUBLISHER)),
    s: ApiServices = Depends(services),
) -> Response:
    """Offline conversions for ad platforms: calls completed in [from, until) that came from
    an ad click (`attribution.click_id`) and were billed (not reversed) or converted, as
    `ppcx export conversions` writes them. A publisher's own calls, each qualified call worth
    its payout; an admin's, every call, worth the revenue."""
    if end <= start:
        raise Problem(
            422,
            "until must be after from",
            errors=[{"field": "until", "message": "until must be after from"}],
        )
    mine = who.role == Role.PUBLISHER

    def read() -> list[Any]:
        try:
            return conversions(
                s.reports.cursor(),
                start,
                end,
                publisher_id=who.owner_id if mine else None,
                worth=Worth.PAYOUT if mine else Worth.REVENUE,
            )
        except NoProjections:
            raise Problem(503, "no projections yet: run `ppcx project`") from None

    found = await s.call(read)
    if file_format == ConversionFormat.GOOGLE_ADS:
        return Response(google_ads_csv(found, currency), media_type=CSV)
    return Response("".join(f"{line}\n" for line in ga4_lines(found, currency)), media_type=NDJSON)
