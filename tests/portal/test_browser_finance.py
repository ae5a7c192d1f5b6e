"""The finance pages in a real browser (Playwright driving Debian's Chromium) against a real
server on loopback: every finance page labelled, legible and keyboard-ready (the checks of
test_browser_pages.py); a finance user opens a buyer's dispute from the queue, accepts it, and
the buyer's balance on the accounts page grows by exactly the reversed amount (both numbers
read off the pages); no page asks for anything outside the server."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

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
from tests.portal.test_browser_pages import _check
from tools.market import BuyerSpec, MarketSpec, OverHttp

__all__ = ["api", "api_settings", "chromium", "live_server"]  # the fixtures used
pytestmark = [pytest.mark.integration, pytest.mark.browser]
PASSWORD = "correct horse battery staple"


def _market(api: httpx.Client) -> tools.market.Market:
    spec = MarketSpec(
        publishers=[{"name": "Acme Leads"}],
        campaign={
            "name": "Car accidents",
            "vertical": "legal",
            "publisher_payout": {"fixed": "30.00"},
            "duplicate_window_days": 30,
        },
        buyers=[
            BuyerSpec(
                {"name": "Lawyers United", "time_zone": "UTC", "credit_limit": "0.00"},
                deposit={"amount": "1000.00", "reference": "wire"},
                targets=[
                    {
                        "name": "Intake",
                        "destination": "+13105550200",
                        "bid": "42.50",
                        "buffer_s": 60,
                    }
                ],
            )
        ],
    )
    return tools.market.build_market(OverHttp(api, ADMIN_KEY), spec)


def _disputed_call(api: httpx.Client, market: tools.market.Market) -> str:
    """A call billed to the buyer, which then disputes it → the dispute's id."""
    publisher, buyer = market.publishers[0], market.buyers[0]
    body = {"campaign_id": market.campaign_id, "caller": {"number": "+13105550142", "state": "CA"}}
    offer = api.post("/v1/pings", json=body, headers=bearer(publisher.api_key)).json()
    assert offer["accepted"] is True, offer
    posted = api.post(f"/v1/pings/{offer['ping_id']}/post", headers=bearer(publisher.api_key))
    call_id = str(posted.json()["call_id"])
    for event in ({"type": "answered"}, {"type": "completed", "duration_s": 90}):
        answer = api.post(
            f"/v1/calls/{call_id}/events", json=event, headers=bearer(publisher.api_key)
        )
        assert answer.status_code < 300, answer.text
    disputed = api.post(
        f"/v1/calls/{call_id}/dispute",
        json={"reason": "caller hung up at once"},
        headers=bearer(buyer.api_key),
    )
    assert disputed.status_code == 201, disputed.text
    return str(disputed.json()["dispute_id"])


def _available(page: Any, account: str) -> Decimal:
    """The account's available balance as the accounts page shows it."""
    page.goto("/finance/accounts")
    cell = page.locator(f'tr[data-account="{account}"] td[data-balance="available"]')
    return Decimal(cell.inner_text().strip())


def test_finance_accepts_a_dispute_and_the_buyers_balance_grows_by_the_reversal(
    live_server: str, api: httpx.Client, api_settings: Settings, chromium: Any, tmp_path: Path
) -> None:
    market = _market(api)
    account = f"buyer:{market.buyers[0].id}"
    dispute_id = _disputed_call(api, market)
    link = cli_invite(api_settings, live_server, "books@example.com", "finance")
    project(api_settings)

    requests = Requests()
    errors: list[str] = []
    context = chromium.new_context(base_url=live_server)
    context.on("request", lambda request: requests.urls.append(request.url))
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(link)
    page.get_by_label("Password (at least 12 characters)").fill(PASSWORD)
    page.get_by_label("The same password again").fill(PASSWORD)
    page.get_by_role("button", name="Set password and sign in").click()
    page.wait_for_url("**/finance/accounts")
    buyer = urlencode({"buyer": market.buyers[0].id})  # this month's invoice
    for path in (
        "/finance/accounts",
        "/finance/holds",
        "/finance/journal",
        "/finance/disputes",
        f"/finance/disputes/{dispute_id}",
        f"/finance/invoices?{buyer}",
        f"/finance/invoices/print?{buyer}",
        "/finance/statements",
    ):
        _check(page, path, errors)
    before = _available(page, account)
    screenshot(page, "finance-accounts", tmp_path)

    page.get_by_role("link", name="Dispute queue").click()
    page.wait_for_url("**/finance/disputes")
    page.get_by_role("link", name=dispute_id).click()
    page.wait_for_url(f"**/finance/disputes/{dispute_id}")
    assert page.locator("#dispute-status").inner_text() == "open"
    assert "90 s against a buffer of 60 s" in page.locator("#evidence-duration").inner_text()
    charged = Decimal(page.locator("#evidence-charged").inner_text().split(" ", 1)[0])
    page.get_by_label("Note to the buyer (optional)").fill("wrong number, per the carrier")
    screenshot(page, "finance-dispute", tmp_path)
    page.get_by_role("button", name="Accept (reverse the charge)").click()
    page.get_by_text("Dispute accepted").wait_for()
    assert page.locator("#dispute-status").inner_text() == "accepted"

    project(api_settings)  # the accounts page reads the projected journal
    after = _available(page, account)
    assert charged == Decimal("42.50")
    assert after - before == charged
    assert requests.outside(live_server) == []
