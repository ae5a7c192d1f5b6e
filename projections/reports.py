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
BUYERS_DIMENSIONS = {"target": "target_id"}  # one row per target instead of per buyer
# lead scores vs conversion (the calls table's latest score of each call)
SCORES_DIMENSIONS = {
    "source": "source",
    "medium": "medium",
    "keyword": "keyword",
    "campaign": "campaign_id",
    "publisher": "publisher_id",
    "buyer": "buyer_id",
    "model": "score_model_version AS model_version",
    "day": "CAST(pinged_at AS DATE) AS day",
}
REPORTS = (
    "pnl",
    "attribution",
    "funnel",
    "buyers",
    "repeat_callers",
    "missed_calls",
    "heatmap",
    "scores",
)
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


DIMENSIONS = {
    "pnl": PNL_DIMENSIONS,
    "attribution": ATTRIBUTION_DIMENSIONS,
    "buyers": BUYERS_DIMENSIONS,
    "scores": SCORES_DIMENSIONS,
}


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
    elif report == "buyers" and group_by:
        _dimensions(group_by, BUYERS_DIMENSIONS, report)  # only `target`: refuses any other
        text = sql("buyers_targets")
    elif report == "scores":  # the deciles alone, or within the dimensions
        chosen = _dimensions(group_by, SCORES_DIMENSIONS, report) + "," if group_by else ""
        text = text.replace("{dimensions}", chosen)
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
#
# The CLI prints money as the API serves it: a decimal string of dollars, under the column's
# name without `_cents` (`revenue_cents` → `revenue`), in the table, CSV and JSON alike. A
# `_cents` column whose plain name the result already has stays integer cents under its own
# name, so a label always says the unit of what is under it.


def money_columns(columns: Sequence[str]) -> frozenset[str]:
    """The `_cents` columns shown as dollars."""
    names = set(columns)
    return frozenset(
        c for c in columns if c.endswith(MONEY_SUFFIX) and c.removesuffix(MONEY_SUFFIX) not in names
    )


def labels(columns: Sequence[str]) -> list[str]:
    """The column names as printed: dollars columns lose `_cents`."""
    money = money_columns(columns)
    return [c.removesuffix(MONEY_SUFFIX) if c in money else c for c in columns]


def dollars(cents: int | Decimal | float) -> str:
    """ "45.50" from 4550, exactly ("12.345" from an average of 1234.5 cents)."""
    exact = Decimal(str(cents)) if isinstance(cents, float) else Decimal(cents)
    return f"{exact.scaleb(-2):f}"


def _is_amount(value: Any) -> bool:
    return isinstance(value, int | Decimal | float) and not isinstance(value, bool)


def shown(value: Any, *, money: bool) -> Any:
    """A value as the CLI presents it: money in dollars, a time as ISO text, else as is."""
    if money and _is_amount(value):
        return dollars(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def text_rows(result: ReportResult) -> list[list[str]]:
    """Every cell as text (an empty string for NULL), money in dollars."""
    money = money_columns(result.columns)
    return [
        [
            "" if v is None else str(shown(v, money=c in money))
            for c, v in zip(result.columns, row, strict=True)
        ]
        for row in result.rows
    ]


def to_csv(result: ReportResult) -> str:
    """Quoted as Python's `csv` does, every line ending in LF (`\\n`), money in dollars."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(labels(result.columns))
    writer.writerows(text_rows(result))
    return buffer.getvalue()


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(type(value).__name__)


def to_json(result: ReportResult) -> bytes:
    """A list of objects, money as decimal strings of dollars (as the API serves reports)."""
    money = money_columns(result.columns)
    names = labels(result.columns)
    records = [
        {
            name: dollars(v) if c in money and _is_amount(v) else v
            for name, c, v in zip(names, result.columns, row, strict=True)
        }
        for row in result.rows
    ]
    return orjson.dumps(
        records, default=_json_default, option=orjson.OPT_INDENT_2 | orjson.OPT_NAIVE_UTC
    )
