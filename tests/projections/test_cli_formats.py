"""The analysts' commands print money the way they label it, alike in table, CSV and JSON:
dollars under the name without `_cents`; CSV lines end in LF."""

from __future__ import annotations

import csv
import io

import orjson
import pytest
from typer.testing import CliRunner

from ppcx.cli import app as cli
from tests.projections.conftest import ProjectedMarket

pytestmark = pytest.mark.e2e
MONEY = ("revenue", "payout", "margin")


def _out(market: ProjectedMarket, *args: str) -> bytes:
    result = CliRunner().invoke(cli, list(args), env=market.env)
    assert result.exit_code == 0, result.output
    return result.stdout_bytes


def _csv(raw: bytes) -> list[list[str]]:
    assert b"\r" not in raw  # LF line ends, nothing else
    assert raw.endswith(b"\n")
    return list(csv.reader(io.StringIO(raw.decode(), newline="")))


def _total_cents(market: ProjectedMarket, column: str) -> int:
    query = f"SELECT sum({column}_cents)::BIGINT AS total FROM pnl_hourly"
    raw = _out(market, "sql", query, "--format", "json")
    total = orjson.loads(raw)[0]["total"]  # not named `_cents`: an integer, as it is
    assert isinstance(total, int)
    return total


def test_report_money_is_dollars_under_the_plain_name_in_every_format(
    projected_market: ProjectedMarket,
) -> None:
    args = ("report", "pnl", "--by", "campaign")
    rows = _csv(_out(projected_market, *args, "--format", "csv"))
    header, body = rows[0], rows[1:]
    assert header == ["campaign_id", "calls", "billable", *MONEY]
    assert len(body) == 1
    records = orjson.loads(_out(projected_market, *args, "--format", "json"))
    assert [list(r) for r in records] == [header]
    table = _out(projected_market, *args, "--format", "table").decode()
    assert not any(name.endswith("_cents") for name in header)
    assert "_cents" not in table
    for name in MONEY:
        cell = body[0][header.index(name)]
        assert cell == records[0][name]  # one decimal string of dollars in CSV and JSON
        assert cell in table
        units, cents = cell.split(".")
        assert len(cents) == 2
        assert int(units) * 100 + int(cents) == _total_cents(projected_market, name)
    assert int(body[0][header.index("revenue")].split(".")[0]) > 0


def test_sql_labels_money_by_what_it_shows(projected_market: ProjectedMarket) -> None:
    dollars = _csv(
        _out(
            projected_market,
            "sql",
            "SELECT 4550::BIGINT AS fee_cents, -5 AS refund_cents, 'a,b\nc' AS note",
            "--format",
            "csv",
        )
    )
    assert dollars == [["fee", "refund", "note"], ["45.50", "-0.05", "a,b\nc"]]
    both = "SELECT 4550 AS fee_cents, 45 AS fee"  # the plain name is taken: cents stay cents
    assert _csv(_out(projected_market, "sql", both, "--format", "csv")) == [
        ["fee_cents", "fee"],
        ["4550", "45"],
    ]
    assert orjson.loads(_out(projected_market, "sql", both, "--format", "json")) == [
        {"fee_cents": 4550, "fee": 45}
    ]
    assert orjson.loads(
        _out(projected_market, "sql", "SELECT 4550 AS fee_cents", "--format", "json")
    ) == [{"fee": "45.50"}]
