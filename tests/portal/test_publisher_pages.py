"""A publisher's pages: its campaigns and payout, its pings and calls with every refusal and
non-billing in words, one call's timeline, its statement (and CSV), its numbers and the DNI
snippet — and never a buyer's name, id, bid, price or revenue; another's call is not found."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from markupsafe import escape

from domain.call_state import BillingReason, NoBuyerReason, PostRefusal
from domain.clock import ManualClock
from portal.routers.publisher import (
    NO_BUYER_WORDS,
    NOT_BILLED_WORDS,
    POST_REFUSED_WORDS,
    outcome_of,
)
from ppcx.settings import Settings
from tests.api.conftest import Market, auth, build_market, project
from tests.portal.conftest import Browser, accept, invite_user

pytestmark = pytest.mark.integration
CALLER = "+13105550123"
PAGES = (
    "/publisher/campaigns",
    "/publisher/calls",
    "/publisher/statements",
    "/publisher/numbers",
)


@dataclass
class Scene:
    market: Market
    browser: Browser
    publisher_id: str
    billed: str
    refused: str
    unbilled: str
    others: str  # a call of the other publisher
    pool_id: str


def _call(market: Market, key: str, number: str, clock: ManualClock, seconds: int) -> str:
    """A ping posted, answered and completed after `seconds` → its call id."""
    client = market.client
    offer = market.ping(key, number)
    assert offer.json()["accepted"] is True, offer.text
    posted = client.post(f"/v1/pings/{offer.json()['ping_id']}/post", headers=auth(key))
    call_id: str = posted.json()["call_id"]
    events = f"/v1/calls/{call_id}/events"
    client.post(events, json={"type": "answered"}, headers=auth(key)).raise_for_status()
    clock.advance(timedelta(seconds=seconds))
    done = client.post(events, json={"type": "completed", "duration_s": seconds}, headers=auth(key))
    done.raise_for_status()
    return call_id


@pytest.fixture
def scene(
    portal_app: Any, browser_factory: Any, clock: ManualClock, api_settings: Settings
) -> Scene:
    market = build_market(portal_app, bids=("50.00",))  # one buyer: a repeat caller is refused
    (publisher_id, key), (_, other_key) = market.publishers.items()
    billed = _call(market, key, CALLER, clock, 75)
    refused = market.ping(key, CALLER)  # the buyer already paid for this caller
    assert refused.json()["accepted"] is False
    assert refused.json()["reason"] == "duplicate"
    unbilled = _call(market, key, "+13105550777", clock, 10)  # under the 60 s buffer
    others = _call(market, other_key, "+13105550888", clock, 75)
    pool_id = market.admin(
        "POST",
        "/v1/number-pools",
        json={
            "name": "Landing site",
            "campaign_id": market.campaign_id,
            "publisher_id": publisher_id,
            "numbers": ["+18005550201", "+18005550202"],
            "lease_ttl_s": 600,
        },
    )["id"]
    project(api_settings)
    browser = browser_factory()
    answer = accept(browser, invite_user(portal_app, "pat@example.com", "publisher", publisher_id))
    assert answer.status_code == 303
    return Scene(
        market,
        browser,
        publisher_id,
        billed,
        refused.json()["ping_id"],
        unbilled,
        others,
        pool_id,
    )


def _html(text: str) -> str:
    return str(escape(text))


def _secrets(market: Market) -> list[str]:
    """What a publisher must never read: buyers' names and ids, targets, bids, holds."""
    return [
        "Buyer 0",
        *market.buyers,
        *market.targets,
        "50.00",  # the bid, the price and the revenue
        "hold_",
        "+13105550200",  # the buyer's destination
    ]


def test_campaigns_list_the_campaign_and_its_payout(scene: Scene) -> None:
    page = scene.browser.get("/publisher/campaigns")
    assert page.status_code == 200
    assert "LA car accidents" in page.text
    assert scene.market.campaign_id in page.text
    assert "30.00 (fixed)" in page.text


def test_calls_show_refusals_and_non_billing_in_words(scene: Scene) -> None:
    page = scene.browser.get("/publisher/calls")
    assert page.status_code == 200
    assert scene.billed in page.text
    assert scene.refused in page.text
    assert scene.unbilled in page.text
    assert scene.others not in page.text
    assert _html(NO_BUYER_WORDS[NoBuyerReason.DUPLICATE]) in page.text
    assert _html(NOT_BILLED_WORDS[BillingReason.BELOW_BUFFER]) in page.text
    assert "Billed</td>" in page.text
    assert '<th scope="col">Outcome</th>' in page.text
    assert '<label for="f-outcome">' in page.text


@pytest.mark.parametrize(
    ("outcome", "shown", "hidden"),
    [
        ("refused", "refused", ("billed", "unbilled")),
        ("billed", "billed", ("refused", "unbilled")),
        ("not_billed", "unbilled", ("billed", "refused")),
    ],
)
def test_calls_filter_by_outcome(
    scene: Scene, outcome: str, shown: str, hidden: tuple[str, ...]
) -> None:
    page = scene.browser.get("/publisher/calls", params={"outcome": outcome})
    assert page.status_code == 200
    assert getattr(scene, shown) in page.text
    for name in hidden:
        assert getattr(scene, name) not in page.text, name


def test_calls_filter_by_campaign(scene: Scene) -> None:
    mine = scene.browser.get("/publisher/calls", params={"campaign_id": scene.market.campaign_id})
    assert scene.billed in mine.text
    none = scene.browser.get("/publisher/calls", params={"campaign_id": "cmp_nothing"})
    assert scene.billed not in none.text
    assert "No pings match." in none.text


def test_a_calls_timeline_shows_its_steps_and_no_buyer(scene: Scene) -> None:
    page = scene.browser.get(f"/publisher/calls/{scene.unbilled}")
    assert page.status_code == 200
    assert "Ping received" in page.text
    assert "Call not billed" in page.text
    assert _html(NOT_BILLED_WORDS[BillingReason.BELOW_BUFFER]) in page.text
    assert "Bid received" not in page.text
    refused = scene.browser.get(f"/publisher/calls/{scene.refused}")
    assert _html(NO_BUYER_WORDS[NoBuyerReason.DUPLICATE]) in refused.text


@pytest.mark.parametrize("whose", ["others", "unknown"])
def test_another_publishers_call_or_an_unknown_one_is_not_found(scene: Scene, whose: str) -> None:
    call_id = scene.others if whose == "others" else "call_0000000000000000"
    page = scene.browser.get(f"/publisher/calls/{call_id}")
    assert page.status_code == 404
    assert "<h1>Not found</h1>" in page.text
    assert "Ping received" not in page.text


def test_the_statement_and_its_csv_carry_the_payout(scene: Scene) -> None:
    page = scene.browser.get("/publisher/statements")
    assert page.status_code == 200
    assert "30.00 USD" in page.text
    assert scene.billed in page.text
    download = scene.browser.get("/publisher/statements.csv")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert download.headers["content-disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert [(r["kind"], r["call_id"], r["credit"], r["debit"]) for r in rows] == [
        ("post", scene.billed, "30.00", "0.00")
    ]


def test_a_statement_period_in_the_past_is_empty_and_a_bad_date_is_explained(
    scene: Scene,
) -> None:
    past = scene.browser.get(
        "/publisher/statements", params={"from": "2020-01-01", "to": "2020-01-31"}
    )
    assert "Nothing in this period." in past.text
    bad = scene.browser.get("/publisher/statements", params={"from": "yesterday"})
    assert bad.status_code == 422
    assert "YYYY-MM-DD" in bad.text


def test_numbers_show_the_pool_and_its_snippet_escaped(scene: Scene) -> None:
    page = scene.browser.get("/publisher/numbers")
    assert page.status_code == 200
    assert "+18005550201" in page.text
    assert '<pre class="snippet"' in page.text
    assert "&lt;script src=&#34;https://ppcx.test/dni.js&#34;" in page.text
    assert f"data-pool=&#34;{scene.pool_id}&#34;" in page.text
    assert '<script src="https://ppcx.test/dni.js"' not in page.text


def test_no_page_shows_a_buyers_identity_or_money(scene: Scene) -> None:
    paths = [
        *PAGES,
        "/publisher/statements.csv",
        f"/publisher/calls/{scene.billed}",
        f"/publisher/calls/{scene.unbilled}",
        f"/publisher/calls/{scene.refused}",
    ]
    for path in paths:
        text = scene.browser.get(path).text
        for secret in _secrets(scene.market):
            assert secret not in text, (path, secret)


def test_pages_have_no_external_urls(scene: Scene) -> None:
    for path in PAGES:
        text = scene.browser.get(path).text
        assert 'src="http' not in text
        assert 'href="http' not in text


def test_a_buyer_user_may_not_open_publisher_pages(scene: Scene, browser_factory: Any) -> None:
    buyer_id = next(iter(scene.market.buyers))
    browser = browser_factory()
    accept(browser, invite_user(scene.market.client, "bea@example.com", "buyer", buyer_id))
    page = browser.get("/publisher/calls")
    assert page.status_code == 403


def test_a_visitor_is_sent_to_sign_in(browser_factory: Any) -> None:
    page = browser_factory().get("/publisher/calls", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login")


@pytest.mark.parametrize("reason", list(NoBuyerReason))
def test_every_no_buyer_reason_has_words(reason: NoBuyerReason) -> None:
    assert (
        outcome_of({"accepted": False, "no_buyer_reason": reason.value})[1]
        == (NO_BUYER_WORDS[reason])
    )


def test_a_disqualified_call_shows_the_question_it_failed() -> None:
    outcome, why, css = outcome_of(
        {"disqualified_question_id": "injured", "disqualified_action": "fallback"}
    )
    assert (outcome, css) == ("Disqualified", "status-refused")
    assert why == "failed the IVR question 'injured' (sent to the fallback number)"


@pytest.mark.parametrize("reason", list(BillingReason))
def test_every_billing_reason_has_words(reason: BillingReason) -> None:
    assert reason in NOT_BILLED_WORDS


def test_a_post_refused_after_a_block_shows_its_reason(
    scene: Scene, api_settings: Settings
) -> None:
    market = scene.market
    key = market.publishers[scene.publisher_id]
    number = "+13105550999"
    offer = market.ping(key, number).json()
    assert offer["accepted"] is True
    market.admin("POST", "/v1/blocklist", json={"number": number})
    posted = market.client.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(key))
    assert posted.status_code >= 400
    project(api_settings)
    page = scene.browser.get("/publisher/calls").text
    row = page[page.index(offer["ping_id"]) :].split("</tr>", 1)[0]
    assert "Post refused" in row
    assert _html(POST_REFUSED_WORDS[PostRefusal.BLOCKED]) in row
