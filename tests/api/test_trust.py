"""Trust repairs, through HTTP with real Redis, NATS and SQLite: a cached bid belongs to one
publisher; the block list takes effect at once; honest reasons; the RTB answer's number is a
tracking number from the first ping; configuration changes are honoured by the very next
ping on every worker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from fastapi.testclient import TestClient

from domain.clock import ManualClock
from eventstore.chain import chain_key
from exchange.caller_hash import CallerHasher
from ppcx.bootstrap import build_application
from ppcx.secrets import secret_key
from ppcx.settings import Settings
from ppcx.web import create_app
from replay.verify import verify
from tests.api.conftest import (
    ADMIN_KEY,
    BASE_URL,
    Market,
    auth,
    build_market,
    event_count,
    market_over_http,
    project,
)
from tests.api.test_telephony import _dial_of, _twilio_post
from tools.market import BuyerSpec, MarketSpec
from tools.sim.rtb_server import Bidder, RtbServer

pytestmark = pytest.mark.e2e
CALLER = "+13105550123"


def _verified(settings: Settings) -> None:
    app = build_application(settings)
    try:
        assert settings.audit_key is not None
        report = verify(app.store.read_chained, chain_key(settings.audit_key), parallel=False)
        assert report.ok, report.failures[:5]
    finally:
        app.close()


def _number(market: Market, number: str, publisher_id: str) -> None:
    market.tracking_number(number, source="tv")


# -- a cached bid belongs to one publisher --------------------------------------------------------


def test_another_publishers_ping_for_the_same_caller_runs_its_own_auction(
    client: TestClient,
) -> None:
    market = build_market(client)
    (a_id, a_key), (b_id, b_key) = list(market.publishers.items())
    first = market.ping(a_key, CALLER).json()
    assert first["accepted"] is True
    # A pings again: its own unexpired bid comes back, no second auction
    assert market.ping(a_key, CALLER).json()["ping_id"] == first["ping_id"]
    other = market.ping(b_key, CALLER).json()
    assert other["accepted"] is True
    assert other["ping_id"] != first["ping_id"]  # never A's ping
    # B cannot post A's ping, and posts its own
    assert client.post(f"/v1/pings/{first['ping_id']}/post", headers=auth(b_key)).status_code == 404
    posted = client.post(f"/v1/pings/{other['ping_id']}/post", headers=auth(b_key))
    assert posted.status_code == 200, posted.text
    timeline = client.get(f"/v1/calls/{other['ping_id']}", headers=auth(ADMIN_KEY)).json()
    assert timeline["events"][0]["publisher_id"] == b_id
    # A's bid is still A's to post
    posted_a = client.post(f"/v1/pings/{first['ping_id']}/post", headers=auth(a_key))
    assert posted_a.status_code == 200, posted_a.text
    assert a_id != b_id


def test_a_twilio_call_to_b_connects_after_a_pinged_the_caller(client: TestClient) -> None:
    market = build_market(client)
    (_, a_key), (b_id, _) = list(market.publishers.items())
    _number(market, "+18005550177", b_id)
    assert market.ping(a_key, CALLER).json()["accepted"] is True
    inbound = {"CallSid": "CA-B-1", "From": CALLER, "To": "+18005550177"}
    destination, _ = _dial_of(_twilio_post(client, "/v1/voice/inbound", inbound))
    assert destination == "+13105550200"


# -- the block list takes effect at once ----------------------------------------------------------


def _block(market: Market, number: str, reason: str = "asked not to be called") -> None:
    market.admin("POST", "/v1/blocklist", json={"number": number, "reason": reason})


def test_a_caller_blocked_after_the_ping_is_neither_posted_nor_billed(
    client: TestClient, api_settings: Settings
) -> None:
    market = build_market(client)
    _, key = market.publisher
    offer = market.ping(key, CALLER).json()
    assert offer["accepted"] is True
    winner = next(iter(market.buyers))
    held = client.get(f"/v1/buyers/{winner}", headers=auth(market.finance_key)).json()
    assert held["pending"] == "50.00"
    _block(market, CALLER)

    refused = client.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(key))
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["reason"] == "blocked"
    again = client.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(key))
    assert (again.status_code, again.json()["reason"]) == (409, "blocked")
    # nothing routed; the winner's hold is given back at once
    timeline = client.get(f"/v1/calls/{offer['ping_id']}", headers=auth(ADMIN_KEY)).json()
    types = [e["type"] for e in timeline["events"]]
    assert "PostRefused" in types
    assert "CallPosted" not in types
    assert "CallRouted" not in types
    assert timeline["status"] == "refused"
    after = client.get(f"/v1/buyers/{winner}", headers=auth(market.finance_key)).json()
    assert after["pending"] == "0.00"
    # the cached bid is not handed out again either
    repeat = market.ping(key, CALLER).json()
    assert (repeat["accepted"], repeat["reason"]) == (False, "blocked")
    _verified(api_settings)


def test_a_blocked_caller_is_refused_by_twilio_and_rtb(client: TestClient) -> None:
    market = build_market(client)
    publisher_id, key = market.publisher
    _number(market, "+18005550178", publisher_id)
    _block(market, CALLER)
    before = event_count_of(client)
    inbound = _twilio_post(
        client, "/v1/voice/inbound", {"CallSid": "CA-BLK", "From": CALLER, "To": "+18005550178"}
    )
    assert inbound.status_code == 200
    twiml = ET.fromstring(inbound.text)
    assert twiml.find("Dial") is None, inbound.text
    assert twiml.find("Reject") is not None, inbound.text  # never answered, never connected
    rtb = client.post(
        f"/v1/rtb/{market.campaign_id}.json", json={"CID": CALLER[2:]}, headers=auth(key)
    )
    assert rtb.status_code == 200, rtb.text
    assert rtb.json()["rejectReason"] == "blocked"
    assert rtb.json()["bidAmount"] == 0
    assert event_count_of(client) > before  # both refusals are in the log (no buyer found)


def event_count_of(client: TestClient) -> int:
    app = client.app
    services: Any = app.state.services  # type: ignore[attr-defined]
    return int(services.app.store.head())


def test_the_block_list_is_listed_by_hash_with_who_and_when(
    client: TestClient, api_settings: Settings
) -> None:
    market = build_market(client)
    _block(market, CALLER, "DNC request")
    _block(market, "+13105550124", "abusive")
    market.admin("DELETE", "/v1/blocklist/+13105550124")
    project(api_settings)
    hasher = CallerHasher(secret_key(api_settings))
    listed = client.get("/v1/blocklist", headers=auth(market.finance_key))
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [i["caller_hash"] for i in items] == [hasher(CALLER)]
    entry = items[0]
    assert entry["blocked"] is True
    assert entry["reason"] == "DNC request"
    assert entry["blocked_by"] == "bootstrap"
    assert entry["blocked_at"].endswith("Z")
    assert CALLER not in listed.text
    assert "5550123" not in listed.text
    everything = client.get(
        "/v1/blocklist", params={"status": "all", "limit": 1}, headers=auth(ADMIN_KEY)
    ).json()
    assert len(everything["items"]) == 1
    rest = client.get(
        "/v1/blocklist",
        params={"status": "all", "cursor": everything["next_cursor"]},
        headers=auth(ADMIN_KEY),
    ).json()
    assert {i["caller_hash"] for i in everything["items"] + rest["items"]} == {
        hasher(CALLER),
        hasher("+13105550124"),
    }
    _, publisher_key = market.publisher
    assert client.get("/v1/blocklist", headers=auth(publisher_key)).status_code == 403


# -- honest reasons and outputs ----------------------------------------------------------------


def _rtb_market(client: TestClient, urls: list[str]) -> Market:
    return market_over_http(
        client,
        MarketSpec(
            publishers=[{"name": "RTB Leads"}],
            campaign={
                "name": "RTB only",
                "vertical": "legal",
                "publisher_payout": {"fixed": "10.00"},
                "rtb_deadline_ms": 100,
            },
            buyers=[
                BuyerSpec(
                    {"name": f"RTB {n}", "time_zone": "UTC", "credit_limit": "1000.00"},
                    targets=[
                        {"destination": f"+1310555030{n}", "rtb_url": url, "rtb_timeout_ms": 100}
                    ],
                )
                for n, url in enumerate(urls)
            ],
        ),
    )


def test_when_every_bidder_times_out_or_declines_the_reason_says_so(
    client: TestClient,
) -> None:
    # the late bidders answer 30x after the deadline; the others decline at once
    bidders = {
        "late": Bidder(bid="60.00", delay_ms=3000),
        "late2": Bidder(bid="60.00", delay_ms=3000),
        "none": Bidder(bid=None),
    }
    with RtbServer(bidders) as server:
        late = _rtb_market(client, [server.url("late"), server.url("late2")])
        answer = late.ping(next(iter(late.publishers.values())), CALLER).json()
        assert (answer["accepted"], answer["reason"]) == (False, "timed_out")
        mixed = _rtb_market(client, [server.url("late"), server.url("none")])
        answer = mixed.ping(next(iter(mixed.publishers.values())), CALLER).json()
        assert (answer["accepted"], answer["reason"]) == (False, "no_bid")
        declined = _rtb_market(client, [server.url("none")])
        answer = declined.ping(next(iter(declined.publishers.values())), CALLER).json()
        assert (answer["accepted"], answer["reason"]) == (False, "no_bid")


def test_the_rtb_answer_is_a_tracking_number_from_the_first_ping(
    client: TestClient, api_settings: Settings
) -> None:
    market = build_market(client)
    (a_id, a_key), (_, b_key) = list(market.publishers.items())
    _number(market, "+18005550179", a_id)
    # no projection has run: the number comes from the exchange's own configuration
    answer = client.post(
        f"/v1/rtb/{market.campaign_id}.json", json={"CID": "3105550123"}, headers=auth(a_key)
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["phoneNumber"] == "+18005550179"
    assert body["phoneNumberNoPlus"] == "18005550179"
    assert body["bidAmount"] == 30.0
    assert "+1310555020" not in answer.text  # never a buyer's own line
    # the transferred call comes back on the tracking number and finds its bid
    destination, _ = _dial_of(
        _twilio_post(
            client,
            "/v1/voice/inbound",
            {"CallSid": "CA-RTB", "From": CALLER, "To": "+18005550179"},
        )
    )
    assert destination == "+13105550200"
    timeline = client.get(f"/v1/calls/{body['bidId']}", headers=auth(ADMIN_KEY)).json()
    assert "CallRouted" in [e["type"] for e in timeline["events"]]
    # a publisher with no tracking number on the campaign gets no bid, and no auction runs
    before = event_count(api_settings)
    none = client.post(
        f"/v1/rtb/{market.campaign_id}.json", json={"CID": "3105550124"}, headers=auth(b_key)
    ).json()
    assert (none["bidAmount"], none["rejectReason"]) == (0, "no_tracking_number")
    assert event_count(api_settings) == before


# -- configuration is read-your-writes --------------------------------------------------------------


@pytest.fixture
def second_worker(
    api_settings: Settings, clock: ManualClock, client: TestClient
) -> Iterator[TestClient]:
    """Another worker of the same deployment: its own process state (caches, writer), the
    same store and Redis."""
    with TestClient(
        create_app(api_settings, clock=clock), base_url=BASE_URL, raise_server_exceptions=False
    ) as other:
        yield other


def _ping(worker: TestClient, market: Market, key: str, number: str = CALLER) -> Any:
    return worker.post(
        "/v1/pings",
        json={
            "campaign_id": market.campaign_id,
            "caller": {"number": number, "state": "CA", "zip": "90210"},
        },
        headers=auth(key),
    ).json()


def test_a_publisher_allowed_a_moment_ago_is_honoured_by_another_worker(
    client: TestClient, second_worker: TestClient
) -> None:
    market = build_market(client)
    _, key = market.publisher
    # the other worker has just read the campaign for an auction
    assert _ping(second_worker, market, key, "+13105550130")["accepted"] is True
    newcomer = market.admin("POST", "/v1/publishers", json={"name": "Newcomer"})
    market.admin(
        "POST",
        f"/v1/campaigns/{market.campaign_id}/publishers",
        json={"publisher_id": newcomer["id"]},
    )
    answer = _ping(second_worker, market, newcomer["api_key"], "+13105550131")
    assert answer.get("accepted") is True, answer


def test_target_changes_are_honoured_by_the_next_ping_on_another_worker(
    client: TestClient, second_worker: TestClient
) -> None:
    market = build_market(client, bids=("50.00",))
    _, key = market.publisher
    ((target_id, buyer_id),) = market.targets.items()
    buyer_key = market.buyers[buyer_id]
    numbers = iter(f"+1310555014{n}" for n in range(10))
    assert _ping(second_worker, market, key, next(numbers))["payout"] == "30.00"
    # a new target bidding more wins the very next ping
    richer = market.admin(
        "POST",
        "/v1/buyers",
        json={"name": "Richer", "time_zone": "UTC", "credit_limit": "500.00"},
    )
    new_target = market.admin(
        "POST",
        "/v1/targets",
        json={
            "buyer_id": richer["id"],
            "campaign_id": market.campaign_id,
            "destination": "+13105550299",
            "bid": "80.00",
        },
    )["id"]
    offer = _ping(second_worker, market, key, next(numbers))
    posted = second_worker.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(key))
    assert posted.json()["destination"] == "+13105550299"
    # paused: the next ping goes elsewhere; resumed: it comes back
    market.admin("POST", f"/v1/targets/{new_target}/pause")
    offer = _ping(second_worker, market, key, next(numbers))
    posted = second_worker.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(key))
    assert posted.json()["destination"] == "+13105550200"
    market.admin("POST", f"/v1/targets/{new_target}/resume")
    offer = _ping(second_worker, market, key, next(numbers))
    posted = second_worker.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(key))
    assert posted.json()["destination"] == "+13105550299"
    # re-bid above the newcomer: the first buyer wins again at once
    rebid = client.put(
        f"/v1/targets/{target_id}/bid", json={"amount": "90.00"}, headers=auth(buyer_key)
    )
    assert rebid.status_code == 204
    offer = _ping(second_worker, market, key, next(numbers))
    posted = second_worker.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(key))
    assert posted.json()["destination"] == "+13105550200"


def test_a_deposit_is_honoured_by_the_next_ping_on_another_worker(
    client: TestClient, second_worker: TestClient
) -> None:
    market = build_market(client, bids=("50.00",))
    _, key = market.publisher
    (buyer_id,) = market.buyers
    # spend the buyer's funds down to nothing (1000.00 = 20 wins at 50.00)
    for n in range(20):
        assert _ping(second_worker, market, key, f"+131055502{n:02d}")["accepted"] is True
    broke = _ping(second_worker, market, key, "+13105550260")
    assert broke["accepted"] is False  # the other worker has just read the buyer's funds
    deposit = client.post(
        f"/v1/buyers/{buyer_id}/deposits",
        json={"amount": "100.00", "reference": "top-up"},
        headers=auth(market.finance_key),
    )
    assert deposit.status_code == 201, deposit.text
    answer = _ping(second_worker, market, key, "+13105550261")
    assert answer["accepted"] is True, answer


def test_pnl_by_target_and_caller_state_is_reported(
    client: TestClient, clock: ManualClock, api_settings: Settings
) -> None:
    market = build_market(client)
    _, key = market.publisher
    for n, state in enumerate(("CA", "NV")):
        offer = client.post(
            "/v1/pings",
            json={
                "campaign_id": market.campaign_id,
                "caller": {"number": f"+1310555015{n}", "state": state, "zip": "90210"},
            },
            headers=auth(key),
        ).json()
        call = client.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(key)).json()
        client.post(
            f"/v1/calls/{call['call_id']}/events", json={"type": "answered"}, headers=auth(key)
        )
        done = client.post(
            f"/v1/calls/{call['call_id']}/events",
            json={"type": "completed", "duration_s": 90},
            headers=auth(key),
        )
        assert done.json()["billable"] is True
    project(api_settings)
    by_target = client.get(
        "/v1/reports/pnl", params={"group_by": "target,state"}, headers=auth(ADMIN_KEY)
    )
    assert by_target.status_code == 200, by_target.text
    rows = by_target.json()["rows"]
    assert sorted(r["state"] for r in rows) == ["CA", "NV"]
    by_campaign = client.get(
        "/v1/reports/pnl", params={"group_by": "campaign"}, headers=auth(ADMIN_KEY)
    ).json()
    campaign_rows = by_campaign["rows"]
    assert sum(int(r["billable"]) for r in rows) == sum(int(r["billable"]) for r in campaign_rows)
    assert {r["revenue"] for r in campaign_rows} == {"100.00"}
