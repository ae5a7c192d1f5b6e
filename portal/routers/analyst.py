"""Analyst pages (analysts; admins and finance may open them too): the SQL console — one
read-only SELECT over the projections, run exactly as `ppcx sql` runs it
(`projections.select` on the sandboxed snapshot reader), shown as a table and downloadable as
CSV or Parquet, with saved queries kept per user as events — and the P&L page: the API's own
reports (P&L by a dimension, by day; attribution; the funnel; buyer performance) through its
route functions, with the signed-in user as the principal."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import duckdb
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from api.auth import services_of
from api.problems import Problem
from api.routers import reports
from api.services import ApiServices
from domain.api_key import Role
from domain.errors import DomainError
from domain.limits import SQL_LENGTH
from domain.money import format_cents
from portal.forms import field_errors
from portal.pages import PageNotFound, Visitor, posted, redirect, render, signed_in
from portal.routers.buyer_calls import unavailable
from projections.readers import NoProjections
from projections.reports import PNL_DIMENSIONS, dimension_column
from projections.select import (
    Selected,
    SqlRefused,
    discard,
    select_arrow,
    select_rows,
    write_parquet,
)

router = APIRouter(include_in_schema=False)
analyst = signed_in(Role.ANALYST, Role.ADMIN, Role.FINANCE)
ROWS_SHOWN_MAX = 500  # the console's table; the page says when a result had more
DOWNLOAD_ROWS_MAX = 100_000  # a CSV or Parquet download
QUERY_TIMEOUT_S = 30.0  # a console query still running then is stopped (and says so)
CONSOLE_READ_ONLY = (
    "The console is read-only: one SELECT (or WITH, FROM, DESCRIBE, SHOW, SUMMARIZE) over "
    "the projections, reading and writing no file"
)
PERIODS = (7, 30, 90)
PNL_BY = tuple(d for d in PNL_DIMENSIONS if d not in ("hour", "day"))
ATTRIBUTION_BY = ("source", "medium", "campaign", "keyword", "tracking_number", "click_id")
CHART_SERIES_MAX = 8  # the chart's series: the largest values by margin, the rest as "others"


# -- the SQL console ---------------------------------------------------------------------------


def _me(v: Visitor) -> str:
    """The signed-in user's id (a portal principal's key id is its user's id)."""
    return v.principal.key_id


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def _select(s: ApiServices, query: str, rows_max: int) -> Selected:
    cursor = s.reports.cursor()
    try:
        return select_rows(cursor, query, rows_max, CONSOLE_READ_ONLY, timeout_s=QUERY_TIMEOUT_S)
    finally:
        cursor.close()


def _select_table(s: ApiServices, query: str) -> Any:
    cursor = s.reports.cursor()
    try:
        table, _ = select_arrow(
            cursor, query, DOWNLOAD_ROWS_MAX, CONSOLE_READ_ONLY, timeout_s=QUERY_TIMEOUT_S
        )
        return table
    finally:
        cursor.close()


async def _query_of(request: Request, v: Visitor) -> tuple[str, str | None, dict[str, str]]:
    """The SQL asked for (`sql`, or a saved query's `saved` name), the saved name, and the
    user's saved queries."""
    s = services_of(request)
    saved = await s.call(s.saved_queries.list, _me(v))
    name = request.query_params.get("saved") or None
    if name is not None:
        if name not in saved:
            raise PageNotFound()
        return saved[name], name, saved
    return request.query_params.get("sql", ""), None, saved


async def _run(
    s: ApiServices, query: str, rows_max: int
) -> tuple[Selected | None, str | None, bool]:
    """(the result, an error message, no projections yet)."""
    if len(query) > SQL_LENGTH.maximum:
        return None, f"the SQL is longer than {SQL_LENGTH.maximum:,} characters", False
    try:
        return await s.call(_select, s, query, rows_max), None, False
    except NoProjections:
        return None, None, True
    except SqlRefused as error:
        return None, str(error), False
    except duckdb.Error as error:
        return None, str(error).strip(), False


async def _console(
    request: Request,
    v: Visitor,
    *,
    query: str,
    name: str | None,
    saved: dict[str, str],
    errors: dict[str, str] | None = None,
    save_name: str = "",
) -> Response:
    s = services_of(request)
    result: Selected | None = None
    refusal: str | None = None
    waiting = False
    if query.strip() and not errors:
        result, refusal, waiting = await _run(s, query, ROWS_SHOWN_MAX)
    context = {
        "sql": query,
        "saved_name": name,
        "saved": saved,
        "columns": result.columns if result else [],
        "rows": [[_shown(c) for c in row] for row in result.rows] if result else [],
        "ran": result is not None,
        "cut": bool(result and result.cut),
        "rows_max": ROWS_SHOWN_MAX,
        "download_rows_max": DOWNLOAD_ROWS_MAX,
        "refusal": refusal,
        "waiting": waiting,
        "errors": errors or {},
        "save_name": save_name or (name or ""),
    }
    status = 422 if refusal or errors else 200
    return render(request, v, "analyst/sql.html", context, status_code=status)


@router.get("/analyst/sql")
async def console(request: Request, v: Visitor = Depends(analyst)) -> Response:
    query, name, saved = await _query_of(request, v)
    return await _console(request, v, query=query, name=name, saved=saved)


def _download_name(name: str | None, suffix: str) -> str:
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in name or "query")[:60]
    return f"{stem or 'query'}.{suffix}"


@router.get("/analyst/sql.csv")
async def console_csv(request: Request, v: Visitor = Depends(analyst)) -> Response:
    query, name, saved = await _query_of(request, v)
    result, _, _ = await _run(services_of(request), query, DOWNLOAD_ROWS_MAX)
    if result is None:  # refused, failed or nothing to read: the console says which
        return await _console(request, v, query=query, name=name, saved=saved)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(result.columns)
    writer.writerows([_shown(c) for c in row] for row in result.rows)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_download_name(name, "csv")}"'},
    )


@router.get("/analyst/sql.parquet")
async def console_parquet(request: Request, v: Visitor = Depends(analyst)) -> Response:
    query, name, saved = await _query_of(request, v)
    s = services_of(request)
    try:
        if len(query) > SQL_LENGTH.maximum:
            raise SqlRefused("too long")  # the console says so
        table = await s.call(_select_table, s, query)
    except (NoProjections, SqlRefused, duckdb.Error):  # the console says why
        return await _console(request, v, query=query, name=name, saved=saved)
    path: Path = await s.call(write_parquet, table)
    return FileResponse(
        path,
        media_type="application/vnd.apache.parquet",
        filename=_download_name(name, "parquet"),
        background=BackgroundTask(discard, path),
    )


@router.post("/analyst/sql/saved")
async def save_query(request: Request, v: Visitor = Depends(analyst)) -> Response:
    form = await posted(request, v)
    s = services_of(request)
    name, query = str(form.get("name") or ""), str(form.get("sql") or "")
    try:
        await s.call(s.saved_queries.save, _me(v), name, query)
    except DomainError as error:
        saved = await s.call(s.saved_queries.list, _me(v))
        return await _console(
            request,
            v,
            query=query,
            name=None,
            saved=saved,
            errors=field_errors(error),
            save_name=name,
        )
    return redirect(f"/analyst/sql?{_saved_query_string(name)}")


def _saved_query_string(name: str) -> str:
    return urlencode({"saved": name})


@router.post("/analyst/sql/saved/remove")
async def remove_query(request: Request, v: Visitor = Depends(analyst)) -> Response:
    form = await posted(request, v)
    s = services_of(request)
    name = str(form.get("name") or "")
    saved = await s.call(s.saved_queries.list, _me(v))
    if name not in saved:
        raise PageNotFound()
    await s.call(s.saved_queries.remove, _me(v), name)
    return redirect("/analyst/sql")


# -- P&L, attribution, funnel, buyers ----------------------------------------------------------

# Attribution by the ad click (not a report dimension: a click id names one click): the
# calls of the period that came from a click, by click id, the largest revenue first.
CLICKS_SQL = """
SELECT p.click_id, count(*) AS calls,
       count(*) FILTER (WHERE c.billed AND NOT coalesce(c.reversed, false)) AS billable,
       count(*) FILTER (WHERE c.converted) AS converted,
       coalesce(sum(c.revenue_cents), 0)::BIGINT AS revenue_cents,
       coalesce(sum(c.payout_cents), 0)::BIGINT AS payout_cents,
       coalesce(sum(c.margin_cents), 0)::BIGINT AS margin_cents
FROM calls c JOIN pings p USING (call_id)
WHERE p.click_id IS NOT NULL AND c.pinged_at >= $start AND c.pinged_at < $end
GROUP BY p.click_id ORDER BY revenue_cents DESC, p.click_id LIMIT $limit
"""
CLICKS_MAX = 50


def _clicks(s: ApiServices, start: datetime, end: datetime) -> list[dict[str, Any]]:
    params = {"start": start, "end": end, "limit": CLICKS_MAX}
    cursor = s.reports.cursor()
    try:
        result = cursor.execute(CLICKS_SQL, params)
        columns = [d[0] for d in result.description or []]
        rows = result.fetchall()
    finally:
        cursor.close()
    return [
        {
            (c.removesuffix("_cents")): format_cents(int(value)) if c.endswith("_cents") else value
            for c, value in zip(columns, row, strict=True)
        }
        for row in rows
    ]


def _choice(request: Request, name: str, allowed: tuple[str, ...], default: str) -> str:
    asked = request.query_params.get(name, "")
    return asked if asked in allowed else default


def _period(request: Request, today: date) -> tuple[int, datetime, datetime]:
    asked = request.query_params.get("days", "")
    days = int(asked) if asked.isdigit() and int(asked) in PERIODS else 30
    end = datetime(today.year, today.month, today.day, tzinfo=UTC) + timedelta(days=1)
    return days, end - timedelta(days=days), end


async def _report(
    request: Request, v: Visitor, name: str, group_by: str, start: datetime, end: datetime
) -> list[dict[str, Any]] | None:
    """The API's report rows (None: no projections yet)."""
    try:
        answer = await reports.report(
            name, group_by, start, end, who=v.principal, s=services_of(request)
        )
    except Problem as error:
        if not unavailable(error):
            raise
        return None
    found: list[dict[str, Any]] = answer["rows"]
    return found


def _chart(rows: list[dict[str, Any]], column: str, days: list[str]) -> dict[str, Any]:
    """Margin per day, one series per value of the dimension (the largest by margin; the
    rest summed as "others"), from the same rows as the table."""
    totals: dict[str, float] = {}
    for r in rows:
        key = str(r[column])
        totals[key] = totals.get(key, 0.0) + float(r["margin"])
    ranked = sorted(totals, key=lambda k: (-totals[k], k))
    kept = set(ranked[:CHART_SERIES_MAX])
    series: dict[str, dict[str, float]] = {k: {} for k in ranked[:CHART_SERIES_MAX]}
    if len(ranked) > CHART_SERIES_MAX:
        series["others"] = {}
    for r in rows:
        key = str(r[column]) if str(r[column]) in kept else "others"
        series[key][r["day"]] = series[key].get(r["day"], 0.0) + float(r["margin"])
    return {
        "days": days,
        "series": [
            {"label": k, "margin": [round(v.get(d, 0.0), 2) for d in days]}
            for k, v in series.items()
        ],
    }


@router.get("/analyst/pnl")
async def pnl(request: Request, v: Visitor = Depends(analyst)) -> Response:
    s = services_of(request)
    today = s.clock.now().astimezone(UTC).date()
    days, start, end = _period(request, today)
    by = _choice(request, "by", PNL_BY, "campaign")
    attribution_by = _choice(request, "attribution", ATTRIBUTION_BY, "source")
    column = dimension_column("pnl", by) or by
    by_day = await _report(request, v, "pnl", f"day,{by}", start, end)
    if attribution_by == "click_id":
        try:
            attribution = await s.call(_clicks, s, start, end)
        except NoProjections:
            attribution = None
        attribution_column = "click_id"
    else:
        attribution = await _report(request, v, "attribution", attribution_by, start, end)
        attribution_column = dimension_column("attribution", attribution_by) or attribution_by
    funnel = await _report(request, v, "funnel", "", start, end)
    buyers = await _report(request, v, "buyers", "", start, end)
    targets = await _report(request, v, "buyers", "target", start, end)
    day_list = [(start.date() + timedelta(days=n)).isoformat() for n in range(days)]
    context = {
        "days": days,
        "periods": PERIODS,
        "by": by,
        "pnl_by": PNL_BY,
        "column": column,
        "attribution_by": attribution_by,
        "attribution_choices": ATTRIBUTION_BY,
        "attribution_column": attribution_column,
        "clicks_max": CLICKS_MAX,
        "by_day": by_day or [],
        "attribution": attribution or [],
        "funnel": (funnel or [{}])[0],
        "buyers": buyers or [],
        "targets": targets or [],
        "waiting": by_day is None,
        "chart": _chart(by_day or [], column, day_list),
        "start": start.date().isoformat(),
        "end": (end.date() - timedelta(days=1)).isoformat(),
    }
    return render(request, v, "analyst/pnl.html", context)
