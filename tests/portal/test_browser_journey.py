"""The portal in a real browser (Playwright driving Debian's Chromium) against a real server on
loopback: an admin invites a buyer user and a publisher user; the buyer edits a target's
schedule and bid and the next ping (sent through the API) obeys them; the publisher sees a
refused ping with its reason, a call's outcome and its statement; cross-tenant URLs fail; no
page asks for anything outside the server."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

import tools.market
from domain.call_state import NoBuyerReason
from domain.schedule import DAYS
from portal.routers.publisher import NO_BUYER_WORDS
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
BUYER_TZ = "America/New_York"


def _market(api: httpx.Client) -> tools.market.Market:
    spec = MarketSpec(
        publishers=[{"name": "Acme Leads"}, {"name": "Beta Media"}],
        campaign={
            "name": "Car accidents",
            "vertical": "legal",
            "publisher_payout": {"fixed": "30.00"},
            "duplicate_window_days": 30,
        },
        buyers=[
            BuyerSpec(
                {"name": name, "time_zone": BUYER_TZ, "credit_limit": "0.00"},
                deposit={"amount": "1000.00", "reference": "wire"},
                targets=[
                    {"name": target, "destination": f"+1310555020{n}", "bid": bid, "buffer_s": 60}
                ],
            )
            for n, (name, target, bid) in enumerate(
                (("Lawyers United", "NY intake", "50.00"), ("Other Firm", "Other intake", "45.00"))
            )
        ],
    )
    return tools.market.build_market(OverHttp(api, ADMIN_KEY), spec)


def _ping(api: httpx.Client, key: object, campaign_id: str, number: str) -> dict[str, Any]:
    body = {"campaign_id": campaign_id, "caller": {"number": number, "state": "CA"}}
    answer = api.post("/v1/pings", json=body, headers=bearer(key))
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def _billed_call(api: httpx.Client, key: object, ping_id: str) -> str:
    call_id = str(api.post(f"/v1/pings/{ping_id}/post", headers=bearer(key)).json()["call_id"])
    for event in ({"type": "answered"}, {"type": "completed", "duration_s": 120}):
        answer = api.post(f"/v1/calls/{call_id}/events", json=event, headers=bearer(key))
        assert answer.status_code < 300, answer.text
    return call_id


def _first_admin(api_settings: Settings, base_url: str) -> str:
    """`ppcx users invite` from the shell, against the server's own store → the link."""
    link = cli_invite(api_settings, base_url, "root@example.com", "admin")
    assert link.startswith(f"{base_url}/invite?token=inv_")
    return link


def _set_password(page: Any, link: str) -> None:
    page.goto(link)
    page.get_by_label("Password (at least 12 characters)").fill(PASSWORD)
    page.get_by_label("The same password again").fill(PASSWORD)
    page.get_by_role("button", name="Set password and sign in").click()


def _invite_on_page(page: Any, email: str, role: str, owner_id: str) -> str:
    page.goto("/admin/users")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Role").select_option(role)
    page.get_by_label("Publisher or buyer id (publisher and buyer staff only)").fill(owner_id)
    page.get_by_role("button", name="Invite").click()
    link = str(page.locator("#invite-link").input_value())
    assert "/invite?token=inv_" in link
    return link


def test_admin_buyer_and_publisher_run_their_business_in_the_browser(
    live_server: str, api: httpx.Client, api_settings: Settings, chromium: Any, tmp_path: Path
) -> None:
    market = _market(api)
    (buyer_id, buyer_key), (other_buyer, other_key) = ((b.id, b.api_key) for b in market.buyers)
    publisher, other_publisher = market.publishers
    target_id = next(t for t, b in market.targets if b == buyer_id)
    other_target = next(t for t, b in market.targets if b == other_buyer)
    # the other buyer stops bidding: the edited target is the only one left
    assert api.post(f"/v1/targets/{other_target}/pause", headers=bearer(other_key)).is_success
    requests = Requests()

    def new_page() -> Any:
        context = chromium.new_context(base_url=live_server)
        context.on("request", lambda request: requests.urls.append(request.url))
        return context.new_page()

    admin = new_page()
    _set_password(admin, _first_admin(api_settings, live_server))
    admin.wait_for_url("**/admin/health")
    buyer_link = _invite_on_page(admin, "media@lawyers.example", "buyer", buyer_id)
    screenshot(admin, "admin-users", tmp_path)
    publisher_link = _invite_on_page(admin, "ops@acme.example", "publisher", publisher.id)

    # the buyer signs in and edits its target: open only on another day, and a new bid
    project(api_settings)
    buyer = new_page()
    _set_password(buyer, buyer_link)
    buyer.wait_for_url("**/buyer/targets")
    screenshot(buyer, "buyer-targets", tmp_path)
    buyer.get_by_role("link", name="NY intake").click()
    buyer.wait_for_url(f"**/buyer/targets/{target_id}")
    assert buyer.get_by_label("Time zone").input_value() == BUYER_TZ  # the buyer's own zone
    today = DAYS[datetime.now(UTC).astimezone(ZoneInfo(BUYER_TZ)).weekday()]
    other_day = DAYS[(DAYS.index(today) + 3) % 7]
    buyer.get_by_label("Always open").uncheck()
    buyer.locator(f"#f-schedule-hours-{other_day}").fill("09:00-17:00")
    buyer.get_by_label("Standing bid (USD per call)").fill("47.25")
    buyer.get_by_role("button", name="Save changes").click()
    buyer.get_by_text("Saved. The next ping obeys the new rules.").wait_for()
    screenshot(buyer, "buyer-target-editor", tmp_path)
    refused = _ping(api, publisher.api_key, market.campaign_id, "+13105550111")
    assert refused["accepted"] is False  # closed today

    buyer.get_by_label("Always open").check()
    buyer.get_by_role("button", name="Save changes").click()
    buyer.get_by_text("Saved. The next ping obeys the new rules.").wait_for()
    offer = _ping(api, publisher.api_key, market.campaign_id, "+13105550112")
    assert offer["accepted"] is True
    timeline = api.get(f"/v1/calls/{offer['ping_id']}", headers=bearer(buyer_key)).json()
    bids = [e for e in timeline["events"] if e["type"] == "BidReceived"]
    assert [b["amount"] for b in bids] == ["47.25"]
    _billed_call(api, publisher.api_key, offer["ping_id"])
    elsewhere = _ping(api, other_publisher.api_key, market.campaign_id, "+13105550113")
    # another buyer's target, a call not routed to this buyer, by URL: the not-found page
    for path in (f"/buyer/targets/{other_target}", f"/buyer/calls/{refused['ping_id']}"):
        buyer.goto(path)
        assert buyer.get_by_role("heading", name="Not found").is_visible(), path
    buyer.goto(f"/buyer/calls/{offer['ping_id']}")
    assert buyer.get_by_role("heading", name="Not found").count() == 0

    # the publisher: the refused ping with its reason, the call's outcome, its statement
    project(api_settings)
    pub = new_page()
    _set_password(pub, publisher_link)
    pub.wait_for_url("**/publisher/campaigns")
    assert pub.get_by_text("Car accidents").first.is_visible()
    screenshot(pub, "publisher-campaigns", tmp_path)
    pub.goto("/publisher/calls")
    screenshot(pub, "publisher-calls", tmp_path)
    refused_row = pub.locator("tr", has_text=refused["ping_id"])
    assert "Refused" in refused_row.inner_text()
    assert NO_BUYER_WORDS[NoBuyerReason.NO_ELIGIBLE_BUYER] in refused_row.inner_text()
    assert "Billed" in pub.locator("tr", has_text=offer["ping_id"]).inner_text()
    assert elsewhere["ping_id"] not in pub.content()  # the other publisher's
    for secret in ("Lawyers United", "47.25", buyer_id, target_id):
        assert secret not in pub.content()
    pub.goto(f"/publisher/calls/{offer['ping_id']}")
    assert pub.get_by_role("heading", name="Not found").count() == 0
    pub.goto("/publisher/statements")
    assert "30.00" in pub.locator("main").inner_text()
    screenshot(pub, "publisher-statements", tmp_path)
    # cross-tenant and cross-role URLs
    pub.goto(f"/publisher/calls/{elsewhere['ping_id']}")
    assert pub.get_by_role("heading", name="Not found").is_visible()
    pub.goto(f"/buyer/targets/{target_id}")
    assert pub.get_by_role("heading", name="Not for your role").is_visible()
    buyer.goto("/publisher/calls")
    assert buyer.get_by_role("heading", name="Not for your role").is_visible()
    admin.goto(f"/buyer/targets/{target_id}")  # an admin is no buyer's staff
    assert admin.get_by_role("heading", name="Not for your role").is_visible()
    stranger = new_page()
    stranger.goto(f"/publisher/calls/{offer['ping_id']}")
    stranger.wait_for_url("**/login**")  # not signed in: the sign-in page first

    assert requests.outside(live_server) == []
