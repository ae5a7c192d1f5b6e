"""Offline conversions: which calls, what each is worth to whom, and the two file formats."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from projections.conversions import (
    CONVERTED_CALL,
    GOOGLE_ADS_COLUMNS,
    QUALIFIED_CALL,
    Worth,
    conversions,
    ga4_lines,
    google_ads_csv,
)
from projections.store import sql_file

pytestmark = pytest.mark.unit
DAY = datetime(2026, 11, 2, tzinfo=UTC)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute(sql_file("schema.sql"))
    rows = [  # call, click id, publisher, minutes, billed, payout, revenue, converted, value, reversed
        ("call_a", "gclid-a", "pub_1", 10, True, 2000, 5000, False, None, False),
        ("call_b", "gclid-b", "pub_1", 20, True, 2000, 5000, True, 12000, False),
        ("call_c", None, "pub_1", 30, True, 2000, 5000, True, 9000, False),  # no click
        ("call_d", "gclid-d", "pub_2", 40, True, 1000, 4000, False, None, False),
        ("call_e", "gclid-e", "pub_1", 50, False, None, None, False, None, False),  # not billed
        ("call_f", "gclid-f", "pub_1", 60, True, 2000, 5000, False, None, True),  # reversed
        ("call_g", "gclid-g", "pub_1", 60 * 30, True, 2000, 5000, False, None, False),  # later
    ]
    for call_id, click, pub, minutes, billed, payout, revenue, converted, value, rev in rows:
        at = DAY + timedelta(minutes=minutes)
        con.execute(
            "INSERT INTO pings (call_id, publisher_id, click_id) VALUES (?, ?, ?)",
            [call_id, pub, click],
        )
        con.execute(
            "INSERT INTO calls (call_id, publisher_id, completed_at, billed, payout_cents, "
            "revenue_cents, converted, conversion_value_cents, reversed) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [call_id, pub, at, billed, payout, revenue, converted, value, rev],
        )
    return con


def test_billed_and_converted_calls_with_a_click_in_the_period(
    con: duckdb.DuckDBPyConnection,
) -> None:
    found = conversions(con, DAY, DAY + timedelta(days=1))
    assert [(c.call_id, c.name, c.value_cents) for c in found] == [
        ("call_a", QUALIFIED_CALL, 5000),
        ("call_b", QUALIFIED_CALL, 5000),
        ("call_b", CONVERTED_CALL, 12000),
        ("call_d", QUALIFIED_CALL, 4000),
    ]


def test_a_publishers_own_calls_are_worth_its_payout(con: duckdb.DuckDBPyConnection) -> None:
    found = conversions(con, DAY, DAY + timedelta(days=2), publisher_id="pub_1", worth=Worth.PAYOUT)
    assert [(c.call_id, c.name, c.value_cents) for c in found] == [
        ("call_a", QUALIFIED_CALL, 2000),
        ("call_b", QUALIFIED_CALL, 2000),
        ("call_b", CONVERTED_CALL, 12000),
        ("call_g", QUALIFIED_CALL, 2000),
    ]


def test_google_ads_file_follows_its_template(con: duckdb.DuckDBPyConnection) -> None:
    text = google_ads_csv(conversions(con, DAY, DAY + timedelta(hours=1)), "USD")
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == GOOGLE_ADS_COLUMNS
    assert rows[1] == ["gclid-a", QUALIFIED_CALL, "2026-11-02 00:10:00+0000", "50.00", "USD"]
    assert rows[3] == ["gclid-b", CONVERTED_CALL, "2026-11-02 00:20:00+0000", "120.00", "USD"]


def test_ga4_payloads_carry_the_value_as_a_number_and_the_click_id(
    con: duckdb.DuckDBPyConnection,
) -> None:
    lines = ga4_lines(conversions(con, DAY, DAY + timedelta(hours=1)), "EUR")
    bodies = [json.loads(line) for line in lines]
    first = bodies[0]["events"][0]
    assert first["name"] == "ppcx_qualified_call"
    assert first["params"]["click_id"] == "gclid-a"
    assert first["params"]["currency"] == "EUR"
    assert '"value":50.00' in lines[0]
    assert bodies[2]["events"][0]["params"]["transaction_id"] == "call_b:ppcx_converted_call"
    assert bodies[0]["timestamp_micros"] == int((DAY + timedelta(minutes=10)).timestamp() * 1e6)
