"""A buyer edits its targets in the portal: the editor posts through the API's own PATCH, so
the next ping obeys; bad input shows the API's messages and changes nothing; another buyer's
target is the not-found page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain.clock import ManualClock
from domain.schedule import DAYS
from domain.target import Target
from tests.api.conftest import auth, build_market
from tests.portal.conftest import Browser, accept, invite_user

pytestmark = pytest.mark.integration


def _form(browser: Browser, target_id: str) -> dict[str, str]:
    """The editor's current values, as the page fills its inputs."""
    html = browser.get(f"/buyer/targets/{target_id}").text
    values: dict[str, str] = {}
    for name in (
        "name",
        "destination",
        "bid",
        "buffer_s",
        "priority",
        "weight",
        "caps.concurrency",
        "caps.hourly",
        "caps.daily",
        "caps.monthly",
        "caps.daily_budget",
        "geo.states",
        "geo.zips",
        "geo.area_codes",
        "schedule.time_zone",
        *(f"schedule.hours.{d}" for d in DAYS),
    ):
        marker = f'name="{name}" type="text" value="'
        start = html.index(marker) + len(marker)
        values[name] = html[start : html.index('"', start)]
    values["geo.mode"] = "allow"
    if 'name="schedule.always" checked' in html:
        values["schedule.always"] = "on"
    return values


def _buyer_browser(portal_app: Any, browser_factory: Any, buyer_id: str) -> Browser:
    browser = browser_factory()
    accept(browser, invite_user(portal_app, f"media@{buyer_id}.example", "buyer", buyer_id))
    return browser


def test_a_buyer_edits_bid_and_schedule_and_the_next_ping_obeys(
    portal_app: Any, browser_factory: Any, clock: ManualClock
) -> None:
    market = build_market(portal_app, bids=("50.00",))
    target_id, buyer_id = next(iter(market.targets.items()))
    _, publisher_key = market.publisher
    browser = _buyer_browser(portal_app, browser_factory, buyer_id)

    form = _form(browser, target_id)
    assert form["bid"] == "50.00"
    assert form["schedule.time_zone"] == "America/Los_Angeles"  # the buyer's own zone
    today = DAYS[clock.now().astimezone(ZoneInfo("America/Los_Angeles")).weekday()]
    other_day = DAYS[(DAYS.index(today) + 3) % 7]
    form.pop("schedule.always", None)
    form[f"schedule.hours.{other_day}"] = "09:00-17:00"
    saved = browser.post_form(f"/buyer/targets/{target_id}", f"/buyer/targets/{target_id}", form)
    assert saved.status_code == 200
    assert "Saved." in saved.text
    closed = market.ping(publisher_key, number="+13105550101").json()
    assert closed["accepted"] is False  # open only on another day

    form = _form(browser, target_id)
    form["schedule.always"] = "on"
    form["bid"] = "47.25"
    browser.post_form(f"/buyer/targets/{target_id}", f"/buyer/targets/{target_id}", form)
    offer = market.ping(publisher_key, number="+13105550102").json()
    assert offer["accepted"] is True
    timeline = portal_app.get(
        f"/v1/calls/{offer['ping_id']}", headers=auth(market.buyers[buyer_id])
    ).json()
    bid = next(e for e in timeline["events"] if e["type"] == "BidReceived")
    assert bid["amount"] == "47.25"
    # the change is an event naming the signed-in user
    target = portal_app.app.state.services.app.find(Target, target_id)
    assert target.bid_cents == 4725
    events = list(portal_app.app.state.services.app.store.read_aggregate(target_id))
    assert events[-1][2].endswith("RulesChanged")
    assert b'"by":"usr_' in events[-1][3].replace(b" ", b"")


def test_bad_values_show_the_apis_messages_and_change_nothing(
    portal_app: Any, browser_factory: Any, clock: ManualClock
) -> None:
    market = build_market(portal_app, bids=("50.00",))
    target_id, buyer_id = next(iter(market.targets.items()))
    browser = _buyer_browser(portal_app, browser_factory, buyer_id)
    before = portal_app.app.state.services.app.find(Target, target_id).version
    form = _form(browser, target_id)
    form.update(
        {
            "bid": "12.345",
            "caps.daily": "0",
            "schedule.time_zone": "Mars/Olympus",
            "schedule.always": "",
        }
    )
    form["schedule.hours.mon"] = "9 to 5"
    answer = browser.post_form(f"/buyer/targets/{target_id}", f"/buyer/targets/{target_id}", form)
    assert answer.status_code == 422
    assert 'id="e-schedule-hours-mon"' in answer.text
    form["schedule.hours.mon"] = "09:00-17:00"
    answer = browser.post_form(f"/buyer/targets/{target_id}", f"/buyer/targets/{target_id}", form)
    assert answer.status_code == 422
    assert 'id="e-bid"' in answer.text
    assert 'id="e-caps-daily"' in answer.text
    assert portal_app.app.state.services.app.find(Target, target_id).version == before
    clock.advance(timedelta(seconds=1))


def test_another_buyers_target_is_the_not_found_page(portal_app: Any, browser_factory: Any) -> None:
    market = build_market(portal_app)
    (mine, me), (theirs, _) = list(market.targets.items())[:2]
    browser = _buyer_browser(portal_app, browser_factory, me)
    assert browser.get(f"/buyer/targets/{mine}").status_code == 200
    for path in (f"/buyer/targets/{theirs}", "/buyer/targets/tgt_nonsense"):
        page = browser.get(path)
        assert page.status_code == 404
        assert "Not found" in page.text
    version = portal_app.app.state.services.app.find(Target, theirs).version
    paused = browser.post_form(f"/buyer/targets/{mine}", f"/buyer/targets/{theirs}/pause", {})
    assert paused.status_code == 404
    assert portal_app.app.state.services.app.find(Target, theirs).version == version


def test_a_buyer_requires_consent_and_pings_without_it_pass_it_by(
    portal_app: Any, browser_factory: Any
) -> None:
    market = build_market(portal_app, bids=("50.00",))
    target_id, buyer_id = next(iter(market.targets.items()))
    _, publisher_key = market.publisher
    browser = _buyer_browser(portal_app, browser_factory, buyer_id)
    assert 'name="requires_consent" checked' not in browser.get(f"/buyer/targets/{target_id}").text

    form = {**_form(browser, target_id), "requires_consent": "on"}
    saved = browser.post_form(f"/buyer/targets/{target_id}", f"/buyer/targets/{target_id}", form)
    assert "Saved." in saved.text
    assert 'name="requires_consent" checked' in saved.text
    without = market.ping(publisher_key, number="+13105550101").json()
    assert (without["accepted"], without["reason"]) == (False, "no_eligible_buyer")
    leadid = {"jornaya_leadid": "3F2504E0-4F89-11D3-9A0C-0305E82C3301"}
    assert market.ping(publisher_key, number="+13105550102", consent=leadid).json()["accepted"]

    browser.post_form(
        f"/buyer/targets/{target_id}", f"/buyer/targets/{target_id}", _form(browser, target_id)
    )
    assert market.ping(publisher_key, number="+13105550103").json()["accepted"] is True


def test_a_buyer_sets_and_removes_the_whisper_its_agents_hear(
    portal_app: Any, browser_factory: Any
) -> None:
    market = build_market(portal_app, bids=("50.00",))
    target_id, buyer_id = next(iter(market.targets.items()))
    browser = _buyer_browser(portal_app, browser_factory, buyer_id)
    whisper = "Call from PPCX: legal, California, qualified"
    form = {**_form(browser, target_id), "whisper": whisper}
    saved = browser.post_form(f"/buyer/targets/{target_id}", f"/buyer/targets/{target_id}", form)
    assert "Saved." in saved.text
    assert f'value="{whisper}"' in saved.text
    assert market.admin("GET", f"/v1/targets/{target_id}")["whisper"] == whisper
    cleared = {**_form(browser, target_id), "whisper": ""}
    browser.post_form(f"/buyer/targets/{target_id}", f"/buyer/targets/{target_id}", cleared)
    assert market.admin("GET", f"/v1/targets/{target_id}")["whisper"] is None
