"""Running the report queries kept in `projections/reports/*.sql`.

Group-by dimensions come from a whitelist per report (they are spliced into the SQL as
expressions); every value is a bound parameter. Scoping to a publisher or a buyer is a filter
on the rollups' own columns, so a tenant's report never reads another tenant's rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from importlib import resources
from typing import Any

import duckdb
import orjson

PNL_DIMENSIONS = {
    "hour": "hour",
    "day": "CAST(hour AS DATE) AS day",
    "campaign": "campaign_id",
    "publisher": "publisher_id",
    "buyer": "buyer_id",
    "target": "target_id",
    "vertical": "vertical",
    "state": "state",
}
CALLS_ONLY_DIMENSIONS = frozenset({"target", "state"})  # P&L by these reads the calls table
ATTRIBUTION_DIMENSIONS = {
    "day": "day",
    "campaign": "utm_campaign",
    "campaign_id": "campaign_id",
    "publisher": "publisher_id",
    "buyer": "buyer_id",
    "source": "source",
    "medium": "medium",
    "keyword": "keyword",
    "tracking_number": "tracking_number",
}
REPORTS = ("pnl", "attribution", "funnel", "buyers", "repeat_callers", "missed_calls", "heatmap")
MONEY_SUFFIX = "_cents"


class ReportError(ValueError):
    """A report asked for something it does not have (an unknown dimension or report)."""


@dataclass(frozen=True)
class ReportResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def sql(name: str) -> str:
    return (resources.files("projections") / "reports" / f"{name}.sql").read_text()


DIMENSIONS = {"pnl": PNL_DIMENSIONS, "attribution": ATTRIBUTION_DIMENSIONS}


def dimension_column(report: str, dimension: str) -> str | None:
    """The column a dimension of a report is output as (`day` for `CAST(hour AS DATE) AS day`),
    None when the report has no such dimension."""
    expression = DIMENSIONS.get(report, {}).get(dimension)
    return None if expression is None else expression.rsplit(" AS ", 1)[-1]


def _dimensions(group_by: Sequence[str], allowed: dict[str, str], report: str) -> str:
    if not group_by:
        raise ReportError(f"{report}: group_by needs at least one of {', '.join(allowed)}")
    unknown = [d for d in group_by if d not in allowed]
    if unknown:
        raise ReportError(
            f"{report}: cannot group by {unknown[0]!r}; choose from {', '.join(allowed)}"
        )
    if len(set(group_by)) != len(group_by):
        raise ReportError(f"{report}: a dimension is listed twice")
    return ", ".join(allowed[d] for d in group_by)


def run_report(
    con: duckdb.DuckDBPyConnection,
    report: str,
    *,
    group_by: Sequence[str] = (),
    start: datetime | None = None,
    end: datetime | None = None,
    publisher_id: str | None = None,
    buyer_id: str | None = None,
) -> ReportResult:
    if report not in REPORTS:
        raise ReportError(f"unknown report {report!r}; choose from {', '.join(REPORTS)}")
    text = sql(report)
    if report == "pnl":
        if CALLS_ONLY_DIMENSIONS & set(group_by):  # not in the hourly rollup
            text = sql("pnl_calls")
        text = text.replace("{dimensions}", _dimensions(group_by, PNL_DIMENSIONS, report))
    elif report == "attribution":
        text = text.replace("{dimensions}", _dimensions(group_by, ATTRIBUTION_DIMENSIONS, report))
    elif group_by:
        raise ReportError(f"{report} takes no group_by")
    params: dict[str, Any] = {"start": start, "end": end}
    if "$publisher_id" in text:
        params["publisher_id"] = publisher_id
    elif publisher_id is not None:
        raise ReportError(f"{report} is not available per publisher")
    if "$buyer_id" in text:
        params["buyer_id"] = buyer_id
    cursor = con.execute(text, params)
    columns = [d[0] for d in cursor.description or []]
    return ReportResult(columns, cursor.fetchall())


def ledger_balances(
    con: duckdb.DuckDBPyConnection, *, as_of: datetime | None = None, account: str | None = None
) -> ReportResult:
    cursor = con.execute(sql("ledger_balances"), {"as_of": as_of, "account": account})
    columns = [d[0] for d in cursor.description or []]
    return ReportResult(columns, cursor.fetchall())


# -- formats ---------------------------------------------------------------------------------------


def display(column: str, value: Any) -> str:
    """Money as a decimal string, everything else as text."""
    if value is None:
        return ""
    if column.endswith(MONEY_SUFFIX) and isinstance(value, int):
        sign = "-" if value < 0 else ""
        units, cents = divmod(abs(value), 100)
        return f"{sign}{units}.{cents:02d}"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def to_csv(result: ReportResult) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow([display(c, v) for c, v in zip(result.columns, row, strict=True)])
    return buffer.getvalue()


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(type(value).__name__)


def to_json(result: ReportResult) -> bytes:
    return orjson.dumps(
        result.records(), default=_json_default, option=orjson.OPT_INDENT_2 | orjson.OPT_NAIVE_UTC
    )
