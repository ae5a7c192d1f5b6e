"""Live calls lists (`portal.live`): the first page of a buyer's and a publisher's calls shows
the calls the projections have not reached yet, read from the log, redacted as the projected
rows are, filtered as the SQL filters them; polls are bounded per session."""

from __future__ import annotations

from typing import Any

import pytest

from domain.clock import ManualClock
from portal import live
from ppcx.settings import Settings
from tests.api.conftest import Market, auth, build_market, project
from tests.portal.conftest import Browser, accept, invite_user

pytestmark = pytest.mark.integration


def _signed_in(portal_app: Any, browser_factory: Any, email: str, role: str, owner: str) -> Browser:
    browser: Browser = browser_factory()
    answer = accept(browser, invite_user(portal_app, email, role, owner))
    assert answer.status_code == 303
    return browser


def _pause_all(market: Market, action: str) -> None:
    for target_id, buyer_id in market.targets.items():
        answer = market.client.post(
            f"/v1/targets/{target_id}/{action}", headers=auth(market.buyers[buyer_id])
        )
        assert answer.is_success, answer.text


@pytest.fixture
def market(portal_app: Any, api_settings: Settings) -> Market:
    market = build_market(portal_app)  # two buyers: 50.00 wins, 45.00 is second
    project(api_settings)  # a snapshot exists: what follows is past it
    return market


def test_a_call_past_the_snapshot_is_on_the_buyers_first_page_and_only_the_winners(
    portal_app: Any, browser_factory: Any, market: Market, clock: ManualClock
) -> None:
    (winner, _), (loser, _) = market.buyers.items()
    key = next(iter(market.publishers.values()))
    offer = market.ping(key, "+13105550140").json()
    assert offer["accepted"] is True
    call_id = offer["ping_id"]
    mine = _signed_in(portal_app, browser_factory, "w@example.com", "buyer", winner)
    other = _signed_in(portal_app, browser_factory, "l@example.com", "buyer", loser)

    page = mine.get("/buyer/calls")
    assert f"/buyer/calls/{call_id}" in page.text  # not projected, yet listed
    assert "50.00" in page.text  # its price, from the auction's event
    assert 'hx-get="/buyer/calls/live?' in page.text  # the first page polls
    assert call_id not in other.get("/buyer/calls").text
    assert call_id not in mine.get("/buyer/calls?billed=yes").text  # not billed yet
    assert call_id in mine.get("/buyer/calls?billed=no").text  # as coalesce(billed, false)
    partial = mine.get("/buyer/calls/live")
    assert partial.status_code == 200
    assert partial.text.lstrip().startswith('<div id="calls"')  # the list alone
    assert call_id in partial.text


def test_a_refused_ping_past_the_snapshot_is_on_the_publishers_first_page_with_its_reason(
    portal_app: Any, browser_factory: Any, market: Market
) -> None:
    (publisher_id, key), (other_id, _) = market.publishers.items()
    _pause_all(market, "pause")  # no buyer: refused
    outside = market.ping(key, "+13105550141")
    assert outside.json()["accepted"] is False, outside.text
    _pause_all(market, "resume")
    offer = market.ping(key, "+13105550142").json()
    assert offer["accepted"] is True
    me = _signed_in(portal_app, browser_factory, "p@example.com", "publisher", publisher_id)
    them = _signed_in(portal_app, browser_factory, "q@example.com", "publisher", other_id)

    page = me.get("/publisher/calls/live").text
    refused_id = outside.json()["ping_id"]
    assert refused_id in page
    assert offer["ping_id"] in page
    assert "Refused" in page
    assert "50.00" not in page  # the buyer's price is not the publisher's to see
    assert not any(buyer in page for buyer in market.buyers)
    refused_only = me.get("/publisher/calls?outcome=refused").text
    assert refused_id in refused_only
    assert offer["ping_id"] not in refused_only
    assert refused_id not in them.get("/publisher/calls/live").text


def test_polls_sooner_than_the_bound_are_answered_with_nothing(
    portal_app: Any, browser_factory: Any, market: Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "LIVE_POLL_MIN_MS", 60_000)  # no slow machine reaches it
    buyer_id = next(iter(market.buyers))
    browser = _signed_in(portal_app, browser_factory, "b@example.com", "buyer", buyer_id)
    assert browser.get("/buyer/calls/live").status_code == 200
    again = browser.get("/buyer/calls/live")
    assert again.status_code == 204
    assert again.content == b""
    # another session has its own bound
    second = _signed_in(portal_app, browser_factory, "c@example.com", "buyer", buyer_id)
    assert second.get("/buyer/calls/live").status_code == 200


def test_calls_the_snapshot_holds_are_listed_once(
    portal_app: Any, browser_factory: Any, market: Market, api_settings: Settings
) -> None:
    key = next(iter(market.publishers.values()))
    call_id = market.ping(key, "+13105550143").json()["ping_id"]
    project(api_settings)
    buyer_id = next(iter(market.buyers))
    browser = _signed_in(portal_app, browser_factory, "d@example.com", "buyer", buyer_id)
    assert browser.get("/buyer/calls").text.count(f'href="/buyer/calls/{call_id}"') == 1
