"""The analyst pages in a real browser (Playwright driving Debian's Chromium) against a real
server on loopback: an analyst invited from the shell starts on the P&L page, whose chart is
drawn from the reports; in the SQL console a query that reads a file is refused on the page,
a query over the projections shows its rows; no page asks for anything outside the server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

import tools.market
from ppcx.settings import Settings
from tests.api.conftest import ADMIN_KEY, live_server, project
from tests.portal.browser import (
    Requests,
    api,
    api_settings,
    bearer,
    chromium,
    cli_invite,
    screenshot,
)
from tools.market import BuyerSpec, MarketSpec, OverHttp

__all__ = ["api", "api_settings", "chromium", "live_server"]  # the fixtures used
pytestmark = [pytest.mark.integration, pytest.mark.browser]
PASSWORD = "correct horse battery staple"


def _billed_calls(api: httpx.Client) -> list[str]:
    """A market of one publisher and two buyers; two calls from the publisher, billed."""
    spec = MarketSpec(
        publishers=[{"name": "Acme Leads"}],
        campaign={
            "name": "Car accidents",
            "vertical": "legal",
            "publisher_payout": {"fixed": "30.00"},
        },
        buyers=[
            BuyerSpec(
                {"name": name, "time_zone": "UTC", "credit_limit": "0.00"},
                deposit={"amount": "1000.00", "reference": "wire"},
                targets=[{"name": f"{name} intake", "destination": f"+1310555030{n}", "bid": bid}],
            )
            for n, (name, bid) in enumerate((("Lawyers United", "50.00"), ("Other Firm", "45.00")))
        ],
    )
    market = tools.market.build_market(OverHttp(api, ADMIN_KEY), spec)
    key = market.publishers[0].api_key
    calls = []
    for number in ("+13105550121", "+13105550122"):
        body = {
            "campaign_id": market.campaign_id,
            "caller": {"number": number, "state": "CA"},
            "attribution": {"source": "google", "keyword": "car accident lawyer"},
        }
        offer = api.post("/v1/pings", json=body, headers=bearer(key)).json()
        assert offer["accepted"] is True, offer
        call_id = api.post(f"/v1/pings/{offer['ping_id']}/post", headers=bearer(key)).json()[
            "call_id"
        ]
        for event in ({"type": "answered"}, {"type": "completed", "duration_s": 120}):
            answer = api.post(f"/v1/calls/{call_id}/events", json=event, headers=bearer(key))
            assert answer.status_code < 300, answer.text
        calls.append(str(call_id))
    return calls


def test_an_analyst_reads_the_pnl_and_queries_the_projections(
    live_server: str, api: httpx.Client, api_settings: Settings, chromium: Any, tmp_path: Path
) -> None:
    calls = _billed_calls(api)
    project(api_settings)
    requests = Requests()
    context = chromium.new_context(base_url=live_server)
    context.on("request", lambda request: requests.urls.append(request.url))
    page = context.new_page()

    page.goto(cli_invite(api_settings, live_server, "ana@example.com", "analyst"))
    page.get_by_label("Password (at least 12 characters)").fill(PASSWORD)
    page.get_by_label("The same password again").fill(PASSWORD)
    page.get_by_role("button", name="Set password and sign in").click()
    page.wait_for_url("**/analyst/pnl")
    page.get_by_label("Period").select_option("7")
    page.get_by_label("Attribution by").select_option("keyword")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/analyst/pnl?**")
    # the chart drew its bars (Chart.js marks the canvas once it rendered)
    page.wait_for_function(
        "() => { const c = document.getElementById('chart-margin');"
        " return c && window.Chart && Chart.getChart(c) && Chart.getChart(c).data.datasets.length > 0; }"
    )
    assert "car accident lawyer" in page.locator("#attribution-table").inner_text()
    assert "100.00" in page.locator("#pnl-table").inner_text()  # two calls billed 50.00
    screenshot(page, "analyst-pnl", tmp_path)

    page.get_by_role("link", name="SQL").click()
    page.wait_for_url("**/analyst/sql")
    page.get_by_label("SQL").fill("select * from read_csv('/etc/passwd')")
    page.get_by_role("button", name="Run").click()
    refusal = page.locator("#sql-refused")
    refusal.wait_for()
    assert "Not run." in refusal.inner_text()
    assert "read-only" in refusal.inner_text()
    assert page.locator("#sql-result").count() == 0
    assert "root:" not in page.content()

    page.get_by_label("SQL").fill(
        "SELECT call_id, buyer_id, revenue_cents FROM calls WHERE billed ORDER BY call_id"
    )
    page.get_by_role("button", name="Run").click()
    page.locator("#sql-result").wait_for()
    table = page.locator("#sql-result").inner_text()
    assert all(call_id in table for call_id in calls)
    assert "2 rows." in page.locator("#sql-summary").inner_text()
    assert page.locator("#sql-refused").count() == 0
    page.get_by_label("Name of the query").fill("Billed calls")
    page.get_by_role("button", name="Save query").click()
    page.wait_for_url("**/analyst/sql?saved=Billed+calls")
    assert "Billed calls" in page.locator("#saved-queries").inner_text()
    screenshot(page, "analyst-sql", tmp_path)

    assert requests.outside(live_server) == []
