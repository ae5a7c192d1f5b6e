"""Live calls lists in a real browser (Playwright driving Debian's Chromium) against a real
server on loopback: with a buyer's and a publisher's calls pages open, a ping sent through the
API appears on both within 2 s of its answer, without a reload (no projector runs here: the
rows come from the log's tail, `portal.live`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from portal.live import LIVE_POLL_MS
from ppcx.settings import Settings
from tests.api.conftest import live_server
from tests.portal.browser import (
    Requests,
    api,
    api_settings,
    chromium,
    cli_invite,
    screenshot,
)
from tests.portal.test_browser_journey import _market, _ping, _set_password

__all__ = ["api", "api_settings", "chromium", "live_server"]  # the fixtures used
pytestmark = [pytest.mark.integration, pytest.mark.browser]
SHOWN_WITHIN_S = 2.0  # the promise, from the ping's answer to the row on the page
WAIT_MS_MAX = 60_000  # how long the test waits before it gives up (then measures anyway)


def test_a_new_call_shows_on_open_calls_pages_within_two_seconds_of_its_ping(
    live_server: str, api: httpx.Client, api_settings: Settings, chromium: Any, tmp_path: Path
) -> None:
    assert LIVE_POLL_MS <= 1_000  # the poll leaves room for the page's own request
    market = _market(api)
    buyer_id = market.buyers[0].id  # the higher bid: it wins
    publisher = market.publishers[0]
    requests = Requests()

    def signed_in(email: str, role: str, owner: str, home: str) -> Any:
        context = chromium.new_context(base_url=live_server)
        context.on("request", lambda request: requests.urls.append(request.url))
        page = context.new_page()
        _set_password(page, cli_invite(api_settings, live_server, email, role, owner))
        page.wait_for_url(f"**{home}")
        return page

    buyer = signed_in("media@lawyers.example", "buyer", buyer_id, "/buyer/targets")
    pub = signed_in("ops@acme.example", "publisher", publisher.id, "/publisher/campaigns")
    buyer.goto("/buyer/calls")
    pub.goto("/publisher/calls")
    buyer.wait_for_timeout(3000)
    for page in (buyer, pub):  # each page has polled once: its list is live
        with page.expect_response(lambda r: "/calls/live" in r.url, timeout=WAIT_MS_MAX):
            pass

    offer = _ping(api, publisher.api_key, market.campaign_id, "+13105550160")
    answered = time.monotonic()
    assert offer["accepted"] is True
    row = f'a[href="/buyer/calls/{offer["ping_id"]}"]'
    buyer.wait_for_selector(row, timeout=WAIT_MS_MAX)
    buyer_s = time.monotonic() - answered
    pub.wait_for_selector(f'a[href="/publisher/calls/{offer["ping_id"]}"]', timeout=WAIT_MS_MAX)
    publisher_s = time.monotonic() - answered
    assert buyer_s <= SHOWN_WITHIN_S, f"the buyer's list showed the call after {buyer_s:.2f} s"
    assert publisher_s <= SHOWN_WITHIN_S, f"the publisher's after {publisher_s:.2f} s"
    assert buyer.url.endswith("/buyer/calls")  # no reload, no navigation
    assert "50.00" in buyer.locator("tr", has_text=offer["ping_id"]).inner_text()
    assert "50.00" not in pub.locator("tr", has_text=offer["ping_id"]).inner_text()
    screenshot(buyer, "buyer-calls-live", tmp_path)
    assert requests.outside(live_server) == []
