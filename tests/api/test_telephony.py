"""Twilio webhooks (signature, TwiML, failover through <Dial> callbacks), DNI and the
Ringba-style RTB ping, through HTTP against the real app."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from api import twilio
from ppcx.settings import Settings
from tests.api.conftest import (
    ADMIN_KEY,
    BASE_URL,
    TWILIO_TOKEN,
    auth,
    build_market,
    event_count,
    project,
)

pytestmark = pytest.mark.e2e


def sign(url: str, params: dict[str, str], token: str = TWILIO_TOKEN) -> str:
    """The X-Twilio-Signature Twilio sends, computed by Twilio's own library."""
    return str(RequestValidator(token).compute_signature(url, params))


def test_signature_matches_twilios_documented_vector() -> None:
    # https://www.twilio.com/docs/usage/security#validating-requests
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    assert twilio.valid("12345", url, params, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    # Twilio may sign the URL with its default port: both forms are the same request
    port_url = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    assert twilio.valid("12345", port_url, params, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert twilio.valid("12345", url, params, sign(port_url, params, "12345"))
    assert not twilio.valid(
        "12345", url, {**params, "Digits": "1235"}, "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    )
    assert not twilio.valid("12346", url, params, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert not twilio.valid("12345", url, params, None)


def test_twiml_is_what_twilio_expects() -> None:
    dial = ET.fromstring(
        twilio.dial(
            "+13105550100",
            action="https://x/s?a=1&b=2",
            answered_callback="https://x/s?leg=answered",
        )
    )
    assert dial.tag == "Response"
    verb = dial.find("Dial")
    assert verb is not None
    assert verb.attrib == {
        "action": "https://x/s?a=1&b=2",
        "method": "POST",
        "timeout": str(twilio.DIAL_TIMEOUT_S),
    }
    number = verb.find("Number")
    assert number is not None
    assert number.text == "+13105550100"
    assert number.attrib == {
        "statusCallbackEvent": "answered",
        "statusCallback": "https://x/s?leg=answered",
        "statusCallbackMethod": "POST",
    }
    sip = ET.fromstring(twilio.dial("sip:buyer@example.com", action="a", answered_callback="b"))
    assert sip.findtext("Dial/Sip") == "sip:buyer@example.com"
    assert sip.find("Dial/Number") is None
    say = ET.fromstring(twilio.reject("Tom & Jerry <3"))
    assert [child.tag for child in say] == ["Say", "Hangup"]
    assert say.findtext("Say") == "Tom & Jerry <3"
    assert [child.tag for child in ET.fromstring(twilio.hangup())] == ["Hangup"]
    empty = ET.fromstring(twilio.empty())
    assert empty.tag == "Response"
    assert list(empty) == []
    # exactly what Twilio's own library writes for the same instructions
    expected = VoiceResponse()
    expected.say("Tom & Jerry <3")
    expected.hangup()
    assert twilio.reject("Tom & Jerry <3") == expected.to_xml()


def _twilio_post(
    client: TestClient, path: str, params: dict[str, str], token: str = TWILIO_TOKEN
) -> Any:
    return client.post(
        path, data=params, headers={"X-Twilio-Signature": sign(BASE_URL + path, params, token)}
    )


def _dial_of(response: Any) -> tuple[str, str]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.text)
    number = root.find("Dial/Number")
    assert number is not None, response.text
    action = root.find("Dial").get("action")  # type: ignore[union-attr]
    assert action is not None
    return str(number.text), action


def test_inbound_call_is_auctioned_dialled_failed_over_and_billed(
    client: TestClient, api_settings: Settings
) -> None:
    market = build_market(client)
    publisher_id, _ = market.publisher
    market.admin(
        "POST",
        "/v1/numbers",
        json={
            "number": "+18005550100",
            "campaign_id": market.campaign_id,
            "publisher_id": publisher_id,
            "source": "tv",
            "medium": "offline",
        },
    )
    inbound = {
        "CallSid": "CA0001",
        "From": "+13105550123",
        "To": "+18005550100",
        "FromState": "CA",
        "FromZip": "90210",
    }
    destination, action = _dial_of(_twilio_post(client, "/v1/voice/inbound", inbound))
    assert destination == "+13105550200"
    # Twilio retries the webhook: the same call, dialled to the same buyer, no second auction
    retried = _twilio_post(client, "/v1/voice/inbound", inbound)
    assert _dial_of(retried)[0] == destination
    split = urlsplit(action)
    query = {k: v[0] for k, v in parse_qs(split.query).items()}
    call_id = query["call_id"]
    status_path = f"{split.path}?{split.query}"
    nobody = _twilio_post(client, status_path, {"CallSid": "CA0001", "DialCallStatus": "no-answer"})
    second, action_2 = _dial_of(nobody)
    assert second == "+13105550201"
    split_2 = urlsplit(action_2)
    done = _twilio_post(
        client,
        f"{split_2.path}?{split_2.query}",
        {"CallSid": "CA0001", "DialCallStatus": "completed", "DialCallDuration": "95"},
    )
    assert done.status_code == 200
    assert ET.fromstring(done.text).find("Hangup") is not None
    timeline = client.get(f"/v1/calls/{call_id}", headers=auth(ADMIN_KEY)).json()
    types = [e["type"] for e in timeline["events"]]
    assert types.count("AuctionDecided") == 1
    assert "CallFailedOver" in types
    billed = next(e for e in timeline["events"] if e["type"] == "CallBilled")
    assert billed["revenue"] == "45.00"
    ping = timeline["events"][0]
    assert ping["attribution"] == {
        "source": "tv",
        "medium": "offline",
        "tracking_number": "+18005550100",
    }


def test_forged_or_missing_signature_is_403_and_records_nothing(
    client: TestClient, api_settings: Settings
) -> None:
    market = build_market(client)
    market.tracking_number("+18005550100", source="tv")
    before = event_count(api_settings)
    params = {"CallSid": "CA0002", "From": "+13105550123", "To": "+18005550100"}
    forged = _twilio_post(client, "/v1/voice/inbound", params, token="not-the-token")
    assert forged.status_code == 403
    assert forged.headers["content-type"] == "application/problem+json"
    missing = client.post("/v1/voice/inbound", data=params)
    assert missing.status_code == 403
    tampered = client.post(
        "/v1/voice/inbound",
        data={**params, "To": "+18005550101"},
        headers={"X-Twilio-Signature": sign(BASE_URL + "/v1/voice/inbound", params)},
    )
    assert tampered.status_code == 403
    assert event_count(api_settings) == before
    unknown = _twilio_post(client, "/v1/voice/inbound", {**params, "To": "+18005559999"})
    assert unknown.status_code == 200
    assert ET.fromstring(unknown.text).find("Say") is not None


def test_signatures_over_the_default_port_and_over_a_json_body_hash_are_accepted(
    client: TestClient, api_settings: Settings
) -> None:
    market = build_market(client)
    market.tracking_number("+18005550100", source="tv")
    inbound = {"CallSid": "CA0005", "From": "+13105550123", "To": "+18005550100"}
    port_url = "https://ppcx.test:443/v1/voice/inbound"  # Twilio signs this form too
    wrong = client.post(
        "/v1/voice/inbound",
        data=inbound,
        headers={"X-Twilio-Signature": sign(port_url, inbound, token="not-the-token")},
    )
    assert wrong.status_code == 403
    assert wrong.headers["content-type"] == "application/problem+json"
    accepted = client.post(
        "/v1/voice/inbound", data=inbound, headers={"X-Twilio-Signature": sign(port_url, inbound)}
    )
    destination, action = _dial_of(accepted)
    assert destination == "+13105550200"
    call_id = parse_qs(urlsplit(action).query)["call_id"][0]

    # a JSON body: Twilio puts its SHA-256 in the URL and signs the URL alone
    body = orjson.dumps({"CallSid": "CA0005", "CallStatus": "in-progress"})
    path = (
        f"/v1/voice/status?call_id={call_id}&leg=answered"
        f"&bodySHA256={hashlib.sha256(body).hexdigest()}"
    )
    headers = {"X-Twilio-Signature": sign(BASE_URL + path, {}), "Content-Type": "application/json"}
    tampered = client.post(path, content=body.replace(b"CA0005", b"CA0006"), headers=headers)
    assert tampered.status_code == 403
    answered = client.post(path, content=body, headers=headers)
    assert answered.status_code == 200, answered.text
    root = ET.fromstring(answered.text)
    assert root.tag == "Response"
    assert list(root) == []
    timeline = client.get(f"/v1/calls/{call_id}", headers=auth(ADMIN_KEY)).json()
    assert "CallAnswered" in [e["type"] for e in timeline["events"]]


def test_dni_leases_a_number_per_session_and_attributes_the_call(
    client: TestClient, api_settings: Settings
) -> None:
    market = build_market(client)
    publisher_id, _ = market.publisher
    pool_id = market.admin(
        "POST",
        "/v1/number-pools",
        json={
            "name": "site",
            "campaign_id": market.campaign_id,
            "publisher_id": publisher_id,
            "numbers": ["+18005550201", "+18005550202"],
            "lease_ttl_s": 600,
        },
    )["id"]

    def lease(session: str, **extra: str) -> dict[str, Any]:
        response = client.get(
            "/v1/dni/number", params={"pool": pool_id, "session": session, **extra}
        )
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    first = lease("session-one", source="bing", keyword="injury lawyer near me")
    assert lease("session-one", source="bing")["number"] == first["number"]
    second = lease("session-two", source="google")
    assert second["number"] != first["number"]
    assert not second["reused"]
    third = lease("session-three", source="facebook")
    assert third["reused"] is True  # the pool is exhausted: least recently used is taken
    assert (
        client.get(
            "/v1/dni/number", params={"pool": "pool_" + "0" * 32, "session": "session-x"}
        ).status_code
        == 404
    )
    script = client.get("/dni.js")
    assert script.status_code == 200
    assert "/v1/dni/number" in script.text

    # a call to session two's number is attributed to session two's source
    params = {"CallSid": "CA0003", "From": "+13105550124", "To": second["number"]}
    _, action = _dial_of(_twilio_post(client, "/v1/voice/inbound", params))
    call_id = parse_qs(urlsplit(action).query)["call_id"][0]
    ping = client.get(f"/v1/calls/{call_id}", headers=auth(ADMIN_KEY)).json()["events"][0]
    assert ping["attribution"]["source"] == "google"
    assert ping["attribution"]["dni_session"] == "session-two"
    assert ping["attribution"]["tracking_number"] == second["number"]


def test_ringba_style_rtb_ping_post_and_get(client: TestClient, api_settings: Settings) -> None:
    market = build_market(client)
    _, key = market.publisher
    market.tracking_number("+18005550100", source="rtb")
    project(api_settings)  # the RTB answer names a projected tracking number
    response = client.post(
        f"/v1/rtb/{market.campaign_id}.json",
        params={"api_key": key},
        json={
            "CID": "3105550123",
            "zipcode": "90210",
            "State": "CA",
            "SubID": "aff-7",
            "exposeCallerId": "yes",
        },
    )
    assert response.status_code == 200, response.text
    assert b'"bidAmount":30.00' in response.content  # a JSON number, written from cents
    bid = orjson.loads(response.content)
    assert bid["bidId"].startswith("call_")
    assert bid["phoneNumber"] == "+18005550100"
    assert bid["phoneNumberNoPlus"] == "18005550100"
    assert 0 < bid["expireInSeconds"] <= 60
    # GET with query parameters, another caller; a state nobody buys is rejected
    for target_id in market.targets:
        market.admin("POST", f"/v1/targets/{target_id}/pause")
    rejected = client.get(
        f"/v1/rtb/{market.campaign_id}.json",
        params={"api_key": key, "CID": "+13105550999", "State": "CA"},
    )
    assert rejected.status_code == 200
    assert rejected.json()["rejectReason"] == "no_eligible_buyer"
    assert b'"bidAmount":0.00' in rejected.content
    unauthenticated = client.get(f"/v1/rtb/{market.campaign_id}.json", params={"CID": "1"})
    assert unauthenticated.status_code == 401
