"""Every column of the calls projection and every column a report can output has a
redaction rule; a new one without a rule fails here."""

from __future__ import annotations

import duckdb
import pytest

from domain.redaction import CALL_COLUMNS, REPORT_COLUMNS, REPORTS
from projections import reports
from projections.store import sql_file

pytestmark = pytest.mark.unit


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute(sql_file("schema.sql"))
    return connection


def test_every_calls_column_has_a_rule(con: duckdb.DuckDBPyConnection) -> None:
    columns = {row[0] for row in con.execute("DESCRIBE calls").fetchall()}
    assert not columns - set(CALL_COLUMNS), "calls columns without a rule in domain.redaction"
    assert not set(CALL_COLUMNS) - columns, "rules for columns the calls table does not have"


def test_every_report_has_a_rule() -> None:
    assert set(REPORTS) == set(reports.REPORTS)


def _output_columns(con: duckdb.DuckDBPyConnection, report: str) -> set[str]:
    dimensions = reports.DIMENSIONS.get(report)
    if dimensions is None:
        return set(reports.run_report(con, report).columns)
    if report == "buyers":  # per buyer, or per target
        per_target = reports.run_report(con, report, group_by=["target"])
        return set(reports.run_report(con, report).columns) | set(per_target.columns)
    found: set[str] = set()
    for dimension in dimensions:
        column = reports.dimension_column(report, dimension)
        assert column is not None
        found.add(column)
    # the measures, grouped by one dimension that the rollups have
    found |= set(
        reports.run_report(
            con, report, group_by=["campaign_id" if report == "attribution" else "campaign"]
        ).columns
    )
    return found


@pytest.mark.parametrize("report", reports.REPORTS)
def test_every_report_column_has_a_rule(con: duckdb.DuckDBPyConnection, report: str) -> None:
    missing = _output_columns(con, report) - set(REPORT_COLUMNS)
    assert not missing, f"{report}: columns without a rule in domain.redaction: {missing}"


def test_the_report_table_names_only_columns_that_exist(con: duckdb.DuckDBPyConnection) -> None:
    found: set[str] = set()
    for report in reports.REPORTS:
        found |= _output_columns(con, report)
    assert set(REPORT_COLUMNS) <= found
