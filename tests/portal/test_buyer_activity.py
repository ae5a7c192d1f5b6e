"""A buyer's activity pages: its calls and their timelines, conversions and disputes reported
from the page, billing with the invoice's CSV, and performance by day — each its own only."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.clock import ManualClock
from ppcx.settings import Settings
from tests.portal.conftest import (
    Browser,
    accept,
    auth,
    build_market,
    completed_call,
    invite_user,
    project,
)

pytestmark = pytest.mark.integration
PERIOD = {"from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"}


@pytest.fixture
def scene(
    portal_app: TestClient, browser_factory: Any, clock: ManualClock, api_settings: Settings
) -> dict[str, Any]:
    """Two buyers; a call billed (50.00) to the first, whose user is signed in, and a call
    routed to the second; projected."""
    market = build_market(portal_app)
    (_, mine), (other_target, other) = list(market.targets.items())
    _, publisher_key = market.publisher
    billed = completed_call(portal_app, clock, publisher_key, market.ping(publisher_key), 75)
    raised = portal_app.put(
        f"/v1/targets/{other_target}/bid",
        json={"amount": "61.00"},
        headers=auth(market.buyers[other]),
    )
    assert raised.status_code == 204, raised.text
    clock.advance(timedelta(minutes=5))
    theirs = completed_call(
        portal_app, clock, publisher_key, market.ping(publisher_key, number="+13105550999"), 90
    )
    browser: Browser = browser_factory()
    accepted = accept(browser, invite_user(portal_app, "bea@example.com", "buyer", mine))
    assert accepted.status_code == 303
    project(api_settings)
    return {
        "market": market,
        "browser": browser,
        "buyer_id": mine,
        "call_id": billed,
        "other_call_id": theirs,
        "publisher_key": publisher_key,
        "buyer_key": market.buyers[mine],
    }


def _timeline(client: TestClient, key: str, call_id: str) -> list[dict[str, Any]]:
    found = client.get(f"/v1/calls/{call_id}", headers=auth(key))
    assert found.status_code == 200, found.text
    events: list[dict[str, Any]] = found.json()["events"]
    return events


def test_the_calls_list_and_a_calls_timeline(scene: dict[str, Any]) -> None:
    browser, call_id = scene["browser"], scene["call_id"]
    page = browser.get("/buyer/calls")
    assert page.status_code == 200
    assert call_id in page.text
    assert scene["other_call_id"] not in page.text  # routed to the other buyer
    assert browser.get("/buyer/calls", params={"billed": "yes"}).text.count(call_id) == 2
    assert call_id not in browser.get("/buyer/calls", params={"billed": "no"}).text
    assert call_id not in browser.get("/buyer/calls", params={"converted": "yes"}).text
    assert call_id in browser.get("/buyer/calls", params={"disputed": "no"}).text
    other_campaign = browser.get("/buyer/calls", params={"campaign": "cmp_unknown"})
    assert call_id not in other_campaign.text
    one = browser.get(f"/buyer/calls/{call_id}")
    assert one.status_code == 200
    assert "Your bid" in one.text
    assert "50.00" in one.text
    assert "billed 50.00" in one.text
    assert "billable: the call lasted at least its buffer" in one.text
    assert "(75 s; buffer 60 s)" in one.text
    assert "publisher id" not in one.text  # the API's redaction: never the publisher


def test_a_conversion_reported_on_the_page_is_recorded(scene: dict[str, Any]) -> None:
    browser, call_id, key = scene["browser"], scene["call_id"], scene["buyer_key"]
    client = browser.client
    page = f"/buyer/calls/{call_id}"
    before = len(_timeline(client, key, call_id))
    bad = browser.post_form(page, f"{page}/conversion", {"value": "12.345"})
    assert bad.status_code == 422
    assert re.search(r'<p class="error" id="e-value">[^<]*pattern', bad.text)
    assert 'aria-invalid="true"' in bad.text
    assert len(_timeline(client, key, call_id)) == before  # nothing changed
    good = browser.post_form(
        page, f"{page}/conversion", {"value": "250.00"}, follow_redirects=False
    )
    assert good.status_code == 303
    assert good.headers["location"] == f"{page}?done=conversion"
    converted = [e for e in _timeline(client, key, call_id) if e["type"] == "CallConverted"]
    assert [e["value"] for e in converted] == ["250.00"]
    shown = browser.get(good.headers["location"])
    assert "converted, value 250.00" in shown.text
    assert "Report a conversion" not in shown.text
    again = browser.post(
        f"{page}/conversion", data={"value": "1.00", "csrf": _csrf(browser, "/buyer/calls")}
    )
    assert again.status_code == 409
    assert "already converted" in again.text


def _csrf(browser: Browser, page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', browser.get(page).text)
    assert found is not None
    return found.group(1)


def test_a_dispute_opened_on_the_page_is_followed_on_disputes(
    scene: dict[str, Any], api_settings: Settings
) -> None:
    browser, call_id = scene["browser"], scene["call_id"]
    page = f"/buyer/calls/{call_id}"
    empty = browser.post_form(page, f"{page}/dispute", {"reason": ""})
    assert empty.status_code == 422
    assert 'id="e-reason"' in empty.text
    opened = browser.post_form(
        page, f"{page}/dispute", {"reason": "wrong number"}, follow_redirects=False
    )
    assert opened.status_code == 303
    assert "open" in browser.get(page).text
    project(api_settings)
    disputes = browser.get("/buyer/disputes")
    assert disputes.status_code == 200
    assert call_id in disputes.text
    assert "wrong number" in disputes.text
    assert call_id in browser.get("/buyer/disputes", params={"status": "open"}).text
    assert call_id not in browser.get("/buyer/disputes", params={"status": "accepted"}).text


def test_billing_shows_the_balance_and_the_invoice_csv_has_the_billed_amount(
    scene: dict[str, Any],
) -> None:
    browser, call_id = scene["browser"], scene["call_id"]
    page = browser.get("/buyer/billing", params={"month": "2026-03"})
    assert page.status_code == 200
    assert "950.00 USD" in page.text  # 1000.00 deposited, 50.00 billed
    assert "/buyer/billing/invoice.csv?month=2026-03" in page.text
    assert browser.get("/buyer/billing", params={"month": "March"}).status_code == 422
    answer = browser.get("/buyer/billing/invoice.csv", params={"month": "2026-03"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(r["kind"], r["debit"], r["credit"]) for r in rows] == [
        ("deposit", "0.00", "1000.00"),
        ("post", "50.00", "0.00"),
    ]
    assert rows[1]["call_id"] == call_id


def test_performance_carries_the_days_spend_and_win_rate(scene: dict[str, Any]) -> None:
    page = scene["browser"].get("/buyer/performance")
    assert page.status_code == 200
    assert "chart-4.6.1.umd.min.js" in page.text
    found = re.search(
        r'<script type="application/json" id="performance-data">(.*?)</script>', page.text
    )
    assert found is not None
    data = json.loads(found.group(1))
    day = data["days"].index("2026-03-02")
    assert data["spend"][day] == "50.00"
    assert data["win_rate"][day] == "50.0"  # bid on both calls, won the first
    row = re.search(r'<th scope="row">2026-03-02</th>(.*?)</tr>', page.text, re.S)
    assert row is not None
    assert [c for c in re.findall(r">([^<]*)</td>", row.group(1))] == [
        "1",
        "50.00",
        "2",
        "1",
        "50.0 %",
    ]


def test_another_buyers_call_or_an_unknown_one_is_not_found(scene: dict[str, Any]) -> None:
    browser = scene["browser"]
    theirs = browser.get(f"/buyer/calls/{scene['other_call_id']}")
    assert theirs.status_code == 404
    assert "There is no such page" in theirs.text
    assert browser.get("/buyer/calls/call_nosuchcall").status_code == 404
    forged = browser.post_form(
        "/buyer/calls",
        f"/buyer/calls/{scene['other_call_id']}/conversion",
        {"value": "9.00"},
    )
    assert forged.status_code == 404


def test_a_publisher_user_cannot_open_buyer_pages(
    portal_app: TestClient, browser_factory: Any
) -> None:
    market = build_market(portal_app)
    publisher_id, _ = market.publisher
    browser = browser_factory()
    accept(browser, invite_user(portal_app, "pat@example.com", "publisher", publisher_id))
    for path in ("/buyer/calls", "/buyer/disputes", "/buyer/billing", "/buyer/performance"):
        assert browser.get(path).status_code == 403
