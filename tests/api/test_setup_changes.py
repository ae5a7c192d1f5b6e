"""Changing the set-up over HTTP, with real services: a buyer edits its own target and the next
ping obeys each change; bad changes name every field and record nothing; an archived target
takes no new call while the live one finishes under its original rules; a suspended
publisher is refused."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.clock import ManualClock
from ppcx.settings import Settings
from tests.api.conftest import ADMIN_KEY, Market, auth, build_market, event_count

pytestmark = pytest.mark.e2e


class Caller:
    """A new caller number for each ping (a repeated caller would get its earlier bid back)."""

    def __init__(self) -> None:
        self.n = 0

    def ping(self, market: Market, key: str) -> Any:
        self.n += 1
        response = market.ping(key, number=f"+1310555{self.n:04d}")
        assert response.status_code == 200, response.text
        return response.json()


def _patch(client: TestClient, target_id: str, key: str, body: dict[str, Any]) -> Any:
    response = client.patch(f"/v1/targets/{target_id}", json=body, headers=auth(key))
    assert response.status_code == 200, response.text
    return response.json()


def test_a_buyer_edits_its_target_and_the_next_ping_obeys_each_change(
    client: TestClient,
) -> None:
    market = build_market(client, bids=("50.00",))
    target_id, buyer_id = next(iter(market.targets.items()))
    key = market.buyers[buyer_id]
    _, publisher_key = market.publisher
    caller = Caller()
    assert caller.ping(market, publisher_key)["accepted"] is True

    shown = _patch(client, target_id, key, {"geo": {"mode": "allow", "states": ["NV"]}})
    assert shown["geo"]["states"] == ["NV"]
    assert shown["version"] == 2
    assert caller.ping(market, publisher_key)["accepted"] is False  # a CA caller
    _patch(client, target_id, key, {"geo": {"mode": "deny", "states": ["NV"]}})
    assert caller.ping(market, publisher_key)["accepted"] is True

    closed = {"time_zone": "UTC", "hours": {"sun": [["00:00", "00:01"]]}}
    shown = _patch(client, target_id, key, {"schedule": closed})
    assert shown["schedule"] == closed
    assert caller.ping(market, publisher_key)["accepted"] is False
    _patch(client, target_id, key, {"schedule": {"time_zone": "UTC", "hours": {}}})
    assert caller.ping(market, publisher_key)["accepted"] is True

    shown = _patch(client, target_id, key, {"caps": {"hourly": 3}})  # three accepted so far
    assert shown["caps"]["hourly"] == 3
    assert shown["caps"]["daily"] is None
    assert caller.ping(market, publisher_key)["accepted"] is False
    assert _patch(client, target_id, key, {"caps": {"hourly": None}})["caps"]["hourly"] is None
    assert caller.ping(market, publisher_key)["accepted"] is True

    assert _patch(client, target_id, key, {"bid": "41.50"})["bid"] == "41.50"
    offer = caller.ping(market, publisher_key)
    timeline = client.get(f"/v1/calls/{offer['ping_id']}", headers=auth(key)).json()
    bid = next(e for e in timeline["events"] if e["type"] == "BidReceived")
    assert bid["amount"] == "41.50"
    assert bid["target_version"] == 8

    shown = _patch(client, target_id, key, {"status": "paused"})
    assert shown["status"] == "paused"
    assert caller.ping(market, publisher_key)["accepted"] is False


def test_another_buyers_patch_is_404_and_bad_fields_are_named_together(
    client: TestClient, api_settings: Settings
) -> None:
    market = build_market(client)
    (first, first_buyer), (second, _) = list(market.targets.items())
    other_key = market.buyers[market.targets[second]]
    before = event_count(api_settings)

    stranger = client.patch(f"/v1/targets/{first}", json={"bid": "60.00"}, headers=auth(other_key))
    assert stranger.status_code == 404, stranger.text
    assert stranger.json()["errors"] == [
        {"field": "target_id", "message": f"target_id {first!r} does not exist"}
    ]

    key = market.buyers[first_buyer]
    shape = client.patch(
        f"/v1/targets/{first}",
        json={"buffer_s": 99999, "priority": 5000, "colour": "red"},
        headers=auth(key),
    )
    assert shape.status_code == 422, shape.text
    assert {e["field"] for e in shape.json()["errors"]} == {"buffer_s", "priority", "colour"}

    rules = client.patch(
        f"/v1/targets/{first}",
        json={
            "destination": "not a number",
            "schedule": {"time_zone": "Mars/Olympus", "hours": {}},
            "caps": {"daily": 5},
            "geo": {"states": ["ZZ"]},
        },
        headers=auth(key),
    )
    assert rules.status_code == 422, rules.text
    fields = {e["field"] for e in rules.json()["errors"]}
    assert {"destination", "schedule.time_zone"} <= fields
    assert any(f.startswith("geo") for f in fields)

    both = client.patch(  # shape and rule errors in one answer
        f"/v1/targets/{first}",
        json={
            "priority": 5000,
            "destination": "not a number",
            "schedule": {"time_zone": "Mars/Olympus", "hours": {}},
        },
        headers=auth(key),
    )
    assert both.status_code == 422, both.text
    named = {e["field"] for e in both.json()["errors"]}
    assert {"priority", "destination", "schedule.time_zone"} <= named
    publisher_id, _ = market.publisher
    for path, body, fields in (
        (f"/v1/publishers/{publisher_id}", {"name": "", "suspended": "yes"}, {"name"}),
        (
            f"/v1/campaigns/{market.campaign_id}",
            {"max_attempts": 99, "distribution": "nonsense"},
            {"max_attempts", "distribution"},
        ),
    ):
        answer = client.patch(path, json=body, headers=auth(ADMIN_KEY))
        assert answer.status_code == 422, answer.text
        assert fields <= {e["field"] for e in answer.json()["errors"]}, answer.text

    below = client.patch(f"/v1/targets/{first}", json={"bid": "20.00"}, headers=auth(key))
    assert below.status_code == 422
    assert below.json()["errors"][0]["field"] == "bid"
    assert event_count(api_settings) == before  # nothing recorded on any error

    same = client.patch(f"/v1/targets/{first}", json={"buffer_s": 60}, headers=auth(key))
    assert same.status_code == 200
    assert same.json()["version"] == 1
    empty = client.patch(f"/v1/targets/{first}", json={}, headers=auth(key))
    assert empty.status_code == 200
    assert empty.json()["status"] == "active"
    assert event_count(api_settings) == before


def test_a_target_archived_during_a_live_call_bills_it_under_its_original_rules(
    client: TestClient, clock: ManualClock
) -> None:
    market = build_market(client)
    (first, first_buyer), (_, _) = list(market.targets.items())
    _, key = market.publisher
    caller = Caller()
    offer = caller.ping(market, key)
    posted = client.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(key)).json()
    assert posted["destination"] == "+13105550200"
    call_id = posted["call_id"]
    client.post(f"/v1/calls/{call_id}/events", json={"type": "answered"}, headers=auth(key))

    buyer_key = market.buyers[first_buyer]
    assert _patch(client, first, buyer_key, {"buffer_s": 600, "bid": "70.00"})["buffer_s"] == 600
    archived = client.request("DELETE", f"/v1/targets/{first}", headers=auth(ADMIN_KEY))
    assert archived.status_code == 200, archived.text
    assert archived.json()["status"] == "archived"
    again = client.request("DELETE", f"/v1/targets/{first}", headers=auth(ADMIN_KEY))
    assert again.status_code == 200
    assert again.json()["version"] == archived.json()["version"]
    refused = client.patch(f"/v1/targets/{first}", json={"bid": "80.00"}, headers=auth(buyer_key))
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/archived")

    clock.advance(timedelta(seconds=75))
    done = client.post(
        f"/v1/calls/{call_id}/events",
        json={"type": "completed", "duration_s": 75},
        headers=auth(key),
    )
    assert done.status_code == 200, done.text
    # the ping's rules: a 50.00 bid and a 60 s buffer (not the 70.00 and 600 s set since)
    assert done.json() == {
        "billable": True,
        "reason": "billable",
        "revenue": "50.00",
        "payout": "30.00",
    }

    offer = caller.ping(market, key)
    assert offer["accepted"] is True
    nxt = client.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(key)).json()
    assert nxt["destination"] == "+13105550201"  # the archived target took no new call


def test_a_suspended_publisher_is_refused_until_reinstated(client: TestClient) -> None:
    market = build_market(client)
    publisher_id, key = market.publisher
    caller = Caller()
    offer = caller.ping(market, key)
    suspended = client.patch(
        f"/v1/publishers/{publisher_id}",
        json={"suspended": True, "reason": "fraud review"},
        headers=auth(ADMIN_KEY),
    )
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["status"] == "suspended"

    ping = market.ping(key, number="+13105559999")
    assert ping.status_code == 403
    assert ping.json()["reason"] == "suspended"
    post = client.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(key))
    assert post.status_code == 403
    assert post.json()["reason"] == "suspended"
    rtb = client.post(
        f"/v1/rtb/{market.campaign_id}.json", json={"CID": "3105558888"}, headers=auth(key)
    )
    assert rtb.json().get("rejectReason") == "suspended", rtb.text

    reinstated = client.patch(
        f"/v1/publishers/{publisher_id}", json={"suspended": False}, headers=auth(ADMIN_KEY)
    )
    assert reinstated.json()["status"] == "active"
    assert caller.ping(market, key)["accepted"] is True

    # an admin stops the publisher sending for the campaign: its next ping is refused
    stopped = client.delete(
        f"/v1/campaigns/{market.campaign_id}/publishers/{publisher_id}", headers=auth(ADMIN_KEY)
    )
    assert stopped.status_code == 204, stopped.text
    assert market.ping(key, number="+13105557777").status_code == 404  # not its campaign now


def test_admin_and_finance_change_campaigns_and_buyers(client: TestClient) -> None:
    market = build_market(client)
    changed = client.patch(
        f"/v1/campaigns/{market.campaign_id}",
        json={
            "publisher_payout": {"fixed": "33.00"},
            "min_bid": "40.00",
            "duplicate_window_days": 7,
        },
        headers=auth(ADMIN_KEY),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["publisher_payout"] == {"fixed": "33.00"}
    _, key = market.publisher
    assert Caller().ping(market, key)["payout"] == "33.00"
    bad = client.patch(
        f"/v1/campaigns/{market.campaign_id}",
        json={"publisher_payout": {"fixed": "60.00"}},
        headers=auth(ADMIN_KEY),
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "min_bid"

    buyer_id = next(iter(market.buyers))
    profile = client.patch(
        f"/v1/buyers/{buyer_id}",
        json={"time_zone": "America/Chicago", "credit_limit": "100.00"},
        headers=auth(market.finance_key),
    )
    assert profile.status_code == 200, profile.text
    assert profile.json()["time_zone"] == "America/Chicago"
    assert profile.json()["credit_limit"] == "100.00"
    own = client.patch(
        f"/v1/buyers/{buyer_id}", json={"name": "x"}, headers=auth(market.buyers[buyer_id])
    )
    assert own.status_code == 403


@pytest.mark.parametrize("stop", ["archive", "pause", "none"])
def test_failover_skips_a_target_archived_or_paused_after_the_auction(
    client: TestClient, stop: str
) -> None:
    market = build_market(client)
    (_, _), (second, second_buyer) = list(market.targets.items())
    _, key = market.publisher
    offer = Caller().ping(market, key)
    posted = client.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(key)).json()
    assert posted["destination"] == "+13105550200"
    if stop == "archive":
        archived = client.request("DELETE", f"/v1/targets/{second}", headers=auth(ADMIN_KEY))
        assert archived.status_code == 200, archived.text
    elif stop == "pause":
        _patch(client, second, market.buyers[second_buyer], {"status": "paused"})
    failed = client.post(
        f"/v1/calls/{posted['call_id']}/events", json={"type": "no_answer"}, headers=auth(key)
    )
    assert failed.status_code == 200, failed.text
    # the runner-up was ranked, but stopped since: no new call goes to it
    expected = "+13105550201" if stop == "none" else None
    assert failed.json()["destination"] == expected


def test_a_market_created_after_a_suspension_or_a_block_starts_with_them(
    client: TestClient,
) -> None:
    """Suspensions and the block list hold in every market, also one that did not exist
    when they were recorded (it starts from what every market holds)."""
    market = build_market(client)
    publisher_id, key = market.publisher
    blocked = "+13105550142"
    assert client.post(
        "/v1/blocklist", json={"number": blocked}, headers=auth(ADMIN_KEY)
    ).is_success
    suspended = client.patch(
        f"/v1/publishers/{publisher_id}", json={"suspended": True}, headers=auth(ADMIN_KEY)
    )
    assert suspended.status_code == 200, suspended.text
    other_publisher = next(p for p in market.publishers if p != publisher_id)
    other_key = market.publishers[other_publisher]
    campaign = market.admin(
        "POST",
        "/v1/campaigns",
        json={
            "name": "East",
            "vertical": "legal",
            "market": "east",
            "publisher_payout": {"fixed": "10.00"},
        },
    )["id"]
    buyer = market.admin(
        "POST",
        "/v1/buyers",
        json={"name": "East buyer", "time_zone": "UTC", "credit_limit": "0.00", "market": "east"},
    )["id"]
    market.admin("POST", f"/v1/buyers/{buyer}/deposits", json={"amount": "100.00"})
    market.admin(
        "POST",
        "/v1/targets",
        json={
            "buyer_id": buyer,
            "campaign_id": campaign,
            "destination": "+13105550300",
            "bid": "20.00",
        },
    )
    for publisher in (publisher_id, other_publisher):
        market.admin(
            "POST", f"/v1/campaigns/{campaign}/publishers", json={"publisher_id": publisher}
        )

    def ping(with_key: str, number: str) -> Any:
        body = {"campaign_id": campaign, "caller": {"number": number, "state": "CA"}}
        return client.post("/v1/pings", json=body, headers=auth(with_key))

    refused = ping(key, "+13105550143")
    assert refused.status_code == 403, refused.text
    assert refused.json()["reason"] == "suspended"
    assert ping(other_key, "+13105550144").json()["accepted"] is True
    blocked_ping = ping(other_key, blocked)
    assert blocked_ping.json()["accepted"] is False, blocked_ping.text
