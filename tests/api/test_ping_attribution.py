"""A ping that names a tracking number or a DNI session is attributed exactly as a Twilio call
to that number is; a number or session that is not the publisher's on the campaign is refused.
Through HTTP against the real app, with real Redis and a manual clock."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from domain.clock import ManualClock
from tests.api.conftest import ADMIN_KEY, BASE_URL, TWILIO_TOKEN, Market, auth, build_market

pytestmark = pytest.mark.e2e

STATIC = "+18005550100"
POOL_NUMBERS = ["+18005550201", "+18005550202"]


def _ping(market: Market, key: str, caller: str, attribution: dict[str, str]) -> Any:
    return market.client.post(
        "/v1/pings",
        json={
            "campaign_id": market.campaign_id,
            "caller": {"number": caller, "state": "CA", "zip": "90210"},
            "attribution": attribution,
        },
        headers=auth(key),
    )


def _attribution(client: TestClient, call_id: str) -> dict[str, Any]:
    timeline = client.get(f"/v1/calls/{call_id}", headers=auth(ADMIN_KEY)).json()
    ping = timeline["events"][0]
    assert ping["type"] == "PingReceived"
    found: dict[str, Any] = ping["attribution"]
    return found


def _pinged(market: Market, key: str, caller: str, attribution: dict[str, str]) -> dict[str, Any]:
    response = _ping(market, key, caller, attribution)
    assert response.status_code == 200, response.text
    return _attribution(market.client, response.json()["ping_id"])


def _twilio_call(client: TestClient, call_sid: str, caller: str, to: str) -> dict[str, Any]:
    params = {"CallSid": call_sid, "From": caller, "To": to}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(
        BASE_URL + "/v1/voice/inbound", params
    )
    answer = client.post(
        "/v1/voice/inbound", data=params, headers={"X-Twilio-Signature": signature}
    )
    assert answer.status_code == 200, answer.text
    action = ET.fromstring(answer.text).find("Dial").get("action")  # type: ignore[union-attr]
    assert action is not None, answer.text
    return _attribution(client, parse_qs(urlsplit(action).query)["call_id"][0])


def _setup(market: Market) -> str:
    """A static number and a DNI pool of the first publisher → the pool's id."""
    publisher_id, _ = market.publisher
    market.admin(
        "POST",
        "/v1/numbers",
        json={
            "number": STATIC,
            "campaign_id": market.campaign_id,
            "publisher_id": publisher_id,
            "source": "tv",
            "medium": "offline",
            "keyword": "injury ad",
        },
    )
    pool_id: str = market.admin(
        "POST",
        "/v1/number-pools",
        json={
            "name": "site",
            "campaign_id": market.campaign_id,
            "publisher_id": publisher_id,
            "numbers": POOL_NUMBERS,
            "lease_ttl_s": 600,
        },
    )["id"]
    return pool_id


def _lease(client: TestClient, pool_id: str, session: str, **attribution: str) -> str:
    response = client.get(
        "/v1/dni/number", params={"pool": pool_id, "session": session, **attribution}
    )
    assert response.status_code == 200, response.text
    number: str = response.json()["number"]
    return number


def test_a_ping_naming_a_static_number_is_attributed_like_a_call_to_it(
    client: TestClient,
) -> None:
    market = build_market(client)
    _setup(market)
    _, key = market.publisher
    pinged = _pinged(
        market,
        key,
        "+13105550123",
        {"tracking_number": STATIC, "source": "google", "keyword": "mine", "sub_id": "aff-7"},
    )
    called = _twilio_call(client, "CA0100", "+13105550124", STATIC)
    assert called == {
        "source": "tv",
        "medium": "offline",
        "keyword": "injury ad",
        "tracking_number": STATIC,
    }
    # the number's attribution wins; the ping's own fields fill only what it leaves empty
    assert pinged == {**called, "sub_id": "aff-7"}


def test_a_ping_naming_a_dni_number_or_session_is_attributed_like_a_call_to_it(
    client: TestClient,
) -> None:
    market = build_market(client)
    pool_id = _setup(market)
    _, key = market.publisher
    number = _lease(
        client,
        pool_id,
        "session-one",
        source="bing",
        medium="cpc",
        campaign="la-injury",
        keyword="injury lawyer near me",
        click_id="msclkid-1",
    )
    expected = {
        "source": "bing",
        "medium": "cpc",
        "campaign": "la-injury",
        "keyword": "injury lawyer near me",
        "click_id": "msclkid-1",
        "dni_session": "session-one",
        "tracking_number": number,
    }
    by_number = _pinged(market, key, "+13105550130", {"tracking_number": number})
    by_session = _pinged(market, key, "+13105550131", {"dni_session": "session-one"})
    both = _pinged(
        market, key, "+13105550132", {"dni_session": "session-one", "tracking_number": number}
    )
    called = _twilio_call(client, "CA0101", "+13105550133", number)
    assert called == expected
    assert by_number == expected
    assert by_session == expected
    assert both == expected


def test_a_number_or_session_that_is_not_the_publishers_on_the_campaign_is_refused(
    client: TestClient, clock: ManualClock
) -> None:
    market = build_market(client)
    pool_id = _setup(market)
    (_, key), (_, other_key) = list(market.publishers.items())
    number = _lease(client, pool_id, "session-one", source="bing")

    def refused(who: str, attribution: dict[str, str], field: str) -> None:
        response = _ping(market, who, "+13105550140", attribution)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == field

    tracking, session = "attribution.tracking_number", "attribution.dni_session"
    refused(other_key, {"tracking_number": STATIC}, tracking)  # another publisher's number
    refused(other_key, {"tracking_number": number}, tracking)
    refused(key, {"tracking_number": "+18005559999"}, tracking)  # not a tracking number
    refused(key, {"tracking_number": "not a number"}, tracking)
    refused(other_key, {"dni_session": "session-one"}, session)  # another publisher's session
    refused(key, {"dni_session": "session-unknown"}, session)
    refused(key, {"dni_session": "*"}, session)
    refused(key, {"tracking_number": STATIC, "dni_session": "session-one"}, session)

    # a number on another campaign of the same publisher
    publisher_id, _ = market.publisher
    other_campaign = market.admin(
        "POST",
        "/v1/campaigns",
        json={
            "name": "Solar",
            "vertical": "solar",
            "publisher_payout": {"fixed": "10.00"},
            "duplicate_window_days": 30,
        },
    )["id"]
    market.admin(
        "POST",
        "/v1/numbers",
        json={
            "number": "+18005550300",
            "campaign_id": other_campaign,
            "publisher_id": publisher_id,
            "source": "radio",
        },
    )
    refused(key, {"tracking_number": "+18005550300"}, tracking)

    # the session's number taken by another session (the pool is exhausted)
    clock.advance(timedelta(seconds=1))
    _lease(client, pool_id, "session-two", source="google")
    clock.advance(timedelta(seconds=1))
    assert _lease(client, pool_id, "session-three", source="yahoo") == number
    refused(key, {"dni_session": "session-one"}, session)
    # a lease past its time
    assert _pinged(market, key, "+13105550141", {"dni_session": "session-three"})["source"] == (
        "yahoo"
    )
    clock.advance(timedelta(seconds=601))
    refused(key, {"dni_session": "session-three"}, session)
