"""IVR qualification through HTTP (Twilio webhooks signed as Twilio signs them, the real app
over real Redis, NATS and SQLite): a campaign's questions are asked with `<Gather>` before its
auction; the answers become the ping's tags, and a target requiring a tag wins only a ping
carrying it; a caller who fails is hung up on politely or sent to the fallback number, and the
decision is a `QualificationFailed` event; `replay verify` judges each failure again and catches
one edited in the log."""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from fastapi.testclient import TestClient

from domain.ids import derived_id
from ppcx.settings import Settings
from replay.log import event_name
from tests.api.conftest import ADMIN_KEY, Market, auth, event_count, market_over_http, project
from tests.api.test_consent import _rewrite, _verify
from tests.api.test_telephony import _dial_of, _twilio_post
from tools.market import BuyerSpec, MarketSpec

pytestmark = pytest.mark.e2e
NUMBER = "+18005550166"
INJURED = {
    "id": "injured",
    "prompt": "Press 1 if you were injured in an accident in the last two years.",
    "accept": ["1"],
    "tag": "injured",
}
LAWYER = {
    "id": "lawyer",
    "prompt": "Do you have a lawyer already? Say no if you do not.",
    "input": "speech",
    "accept": ["no", "not yet"],
    "tag": "has_lawyer",
    "tag_value": "no",
}
GOODBYE = "Thanks for calling. This line is for recent accidents only. Goodbye."


def _market(client: TestClient, ivr: dict[str, Any] | None = None) -> tuple[Market, str, str]:
    """Buyer 0 bids 50.00 and requires the tag injured=yes; buyer 1 bids 45.00 and requires
    nothing; a tracking number of the publisher on the campaign. → the market, the strict
    buyer's target, the other's."""
    campaign: dict[str, Any] = {
        "name": "LA car accidents",
        "vertical": "legal",
        "publisher_payout": {"fixed": "30.00"},
        "duplicate_window_days": 30,
    }
    if ivr is not None:
        campaign["ivr"] = ivr
    spec = MarketSpec(
        publishers=[{"name": "Acme Leads"}],
        campaign=campaign,
        buyers=[
            BuyerSpec(
                {"name": f"Buyer {n}", "time_zone": "America/Los_Angeles", "credit_limit": "0.00"},
                deposit={"amount": "1000.00", "reference": "wire"},
                targets=[{"destination": f"+1310555020{n}", "bid": bid, "buffer_s": 60}],
            )
            for n, bid in enumerate(("50.00", "45.00"))
        ],
    )
    market = market_over_http(client, spec)
    by_buyer = {buyer: target for target, buyer in market.targets.items()}
    strict, lax = (by_buyer[buyer] for buyer in market.buyers)
    market.admin("PATCH", f"/v1/targets/{strict}", json={"requires_tags": {"injured": "yes"}})
    market.tracking_number(NUMBER, source="tv")
    return market, strict, lax


def _inbound(sid: str) -> dict[str, str]:
    return {"CallSid": sid, "From": "+13105550123", "To": NUMBER, "FromState": "CA"}


def _gather_of(response: Any) -> tuple[ET.Element, str]:
    """The `<Gather>` of a TwiML answer, and the path (with its query) of its action."""
    assert response.status_code == 200, response.text
    gather = ET.fromstring(response.text).find("Gather")
    assert gather is not None, response.text
    action = urlsplit(gather.attrib["action"])
    assert gather.attrib["actionOnEmptyResult"] == "true"
    return gather, f"{action.path}?{action.query}"


def _events(client: TestClient, call_id: str, key: str = ADMIN_KEY) -> list[dict[str, Any]]:
    response = client.get(f"/v1/calls/{call_id}", headers=auth(key))
    assert response.status_code == 200, response.text
    return list(response.json()["events"])


def _said(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [child.tag for child in ET.fromstring(response.text)]


def test_an_ivr_answered_right_is_auctioned_with_its_tags_and_dialled(
    client: TestClient, api_settings: Settings
) -> None:
    market, strict, lax = _market(client, {"questions": [INJURED]})
    assert market.admin("GET", f"/v1/targets/{strict}")["requires_tags"] == {"injured": "yes"}
    assert (
        market.admin("GET", f"/v1/campaigns/{market.campaign_id}")["ivr"]["questions"][0][
            "tag_value"
        ]
        == "yes"
    )
    before = event_count(api_settings)
    gather, action = _gather_of(_twilio_post(client, "/v1/voice/inbound", _inbound("CA-IVR-1")))
    assert event_count(api_settings) == before  # nothing recorded while the caller answers
    assert gather.attrib["input"] == "dtmf"
    assert gather.attrib["numDigits"] == "1"
    assert gather.findtext("Say") == INJURED["prompt"]

    answered = _twilio_post(client, action, {**_inbound("CA-IVR-1"), "Digits": "1"})
    destination, dial_action = _dial_of(answered)
    assert destination == "+13105550200"  # the higher bid, which requires injured=yes
    call_id = derived_id("call", "twilio", "CA-IVR-1")
    events = _events(client, call_id)
    assert events[0]["tags"] == {"injured": "yes"}
    decided = next(e for e in events if e["type"] == "AuctionDecided")
    assert decided["winner_target_id"] == strict
    # Twilio retries the answer's webhook: the same call, dialled to the same buyer
    assert _dial_of(_twilio_post(client, action, {**_inbound("CA-IVR-1"), "Digits": "1"}))[0] == (
        destination
    )
    # the rest of the journey as for any Twilio call: the dial completes, the call is billed
    split = urlsplit(dial_action)
    done = _twilio_post(
        client,
        f"{split.path}?{split.query}",
        {"CallSid": "CA-IVR-1", "DialCallStatus": "completed", "DialCallDuration": "95"},
    )
    assert _said(done) == ["Hangup"]
    billed = next(e for e in _events(client, call_id) if e["type"] == "CallBilled")
    assert (billed["revenue"], billed["buyer_id"]) == ("50.00", market.targets[strict])

    # an API ping without the tag: the target requiring it is excluded, the other one wins
    _, key = market.publisher
    plain = market.ping(key, "+13105550124").json()
    assert plain["accepted"] is True
    decided = next(e for e in _events(client, plain["ping_id"]) if e["type"] == "AuctionDecided")
    assert decided["winner_target_id"] == lax
    assert decided["excluded"] == {strict: "tags_missing"}
    tagged = market.ping(key, "+13105550125", tags={"injured": "yes"}).json()
    decided = next(e for e in _events(client, tagged["ping_id"]) if e["type"] == "AuctionDecided")
    assert decided["winner_target_id"] == strict

    project(api_settings)
    listed = market.admin("GET", "/v1/targets", params={"campaign_id": market.campaign_id})
    assert {t["id"]: t["requires_tags"] for t in listed["items"]} == {
        strict: {"injured": "yes"},
        lax: None,
    }
    assert _verify(api_settings).ok


def test_a_wrong_answer_hangs_up_politely_and_is_recorded(
    client: TestClient, api_settings: Settings
) -> None:
    market, _, _ = _market(
        client, {"questions": [INJURED, LAWYER], "on_fail": {"message": GOODBYE}}
    )
    _, action = _gather_of(_twilio_post(client, "/v1/voice/inbound", _inbound("CA-IVR-2")))
    before = event_count(api_settings)
    failed = _twilio_post(client, action, {**_inbound("CA-IVR-2"), "Digits": "2"})
    assert _said(failed) == ["Say", "Hangup"]
    assert ET.fromstring(failed.text).findtext("Say") == GOODBYE
    assert event_count(api_settings) == before + 2  # the ping and its failure, no auction
    call_id = derived_id("call", "twilio", "CA-IVR-2")
    events = _events(client, call_id)
    assert [e["type"] for e in events] == ["PingReceived", "QualificationFailed"]
    assert events[0]["tags"] == {}
    failure = events[1]
    assert (failure["question_id"], failure["answer"], failure["action"]) == (
        "injured",
        "2",
        "hangup",
    )
    assert failure["rule_version"] == 1
    assert (
        failure["campaign_version"]
        == market.admin("GET", f"/v1/campaigns/{market.campaign_id}")["version"]
    )
    _, key = market.publisher
    assert [e["type"] for e in _events(client, call_id, key)] == [
        "PingReceived",
        "QualificationFailed",
    ]
    # Twilio retries: the same answer, nothing recorded twice
    again = _twilio_post(client, action, {**_inbound("CA-IVR-2"), "Digits": "2"})
    assert _said(again) == ["Say", "Hangup"]
    assert event_count(api_settings) == before + 2

    # the second question, by speech: its failure keeps the first answer's tag, not the words
    _, action = _gather_of(_twilio_post(client, "/v1/voice/inbound", _inbound("CA-IVR-3")))
    gather, second = _gather_of(
        _twilio_post(client, action, {**_inbound("CA-IVR-3"), "Digits": "1"})
    )
    assert (gather.attrib["input"], gather.findtext("Say")) == ("speech", LAWYER["prompt"])
    spoken = {
        **_inbound("CA-IVR-3"),
        "SpeechResult": "Yes, Jane Doe at 12 Main St.",
        "Confidence": "0.9",
    }
    assert _said(_twilio_post(client, second, spoken)) == ["Say", "Hangup"]
    events = _events(client, derived_id("call", "twilio", "CA-IVR-3"))
    assert events[0]["tags"] == {"injured": "yes"}
    assert (events[1]["question_id"], events[1]["answer"]) == ("lawyer", None)
    assert "Jane" not in orjson.dumps(events).decode()

    project(api_settings)
    rows = client.get("/v1/calls", headers=auth(key)).json()["items"]
    row = next(r for r in rows if r["call_id"] == call_id)
    assert (row["disqualified_question_id"], row["disqualified_action"]) == ("injured", "hangup")
    assert row["accepted"] is None  # no auction
    report = _verify(api_settings)
    assert report.ok, report.failures[:5]
    assert report.checked["qualifications"] == 2


def test_a_failed_caller_goes_to_the_fallback_number(
    client: TestClient, api_settings: Settings
) -> None:
    _market(
        client,
        {
            "questions": [INJURED],
            "on_fail": {"action": "fallback", "fallback_number": "+18005550199"},
        },
    )
    _, action = _gather_of(_twilio_post(client, "/v1/voice/inbound", _inbound("CA-IVR-4")))
    silent = _twilio_post(client, action, _inbound("CA-IVR-4"))  # no Digits: it timed out
    assert _said(silent) == ["Dial"]
    assert ET.fromstring(silent.text).findtext("Dial") == "+18005550199"
    failure = _events(client, derived_id("call", "twilio", "CA-IVR-4"))[1]
    assert (failure["answer"], failure["action"]) == (None, "fallback")


def test_the_state_between_questions_is_the_exchanges_own(
    client: TestClient, api_settings: Settings
) -> None:
    _market(client, {"questions": [INJURED, LAWYER]})
    _, action = _gather_of(_twilio_post(client, "/v1/voice/inbound", _inbound("CA-IVR-5")))
    _, second = _gather_of(_twilio_post(client, action, {**_inbound("CA-IVR-5"), "Digits": "1"}))
    before = event_count(api_settings)
    # another call's state, for this call; a state edited (skip to the end, tags added)
    assert _twilio_post(client, action, {**_inbound("CA-IVR-6"), "Digits": "1"}).status_code == 403
    token = parse_qs(urlsplit(second).query)["state"][0]
    body, _, mac = token.rpartition(".")
    forged = f"/v1/voice/ivr?state={body[:-2]}xx.{mac}"
    assert _twilio_post(client, forged, _inbound("CA-IVR-5")).status_code == 403
    assert _twilio_post(client, "/v1/voice/ivr", _inbound("CA-IVR-5")).status_code == 403
    # and Twilio's signature is checked as on every voice route
    unsigned = client.post(second, data={**_inbound("CA-IVR-5"), "SpeechResult": "no"})
    assert unsigned.status_code == 403
    assert event_count(api_settings) == before
    done = _twilio_post(client, second, {**_inbound("CA-IVR-5"), "SpeechResult": "Not yet."})
    assert _dial_of(done)[0] == "+13105550200"
    ping = _events(client, derived_id("call", "twilio", "CA-IVR-5"))[0]
    assert ping["tags"] == {"injured": "yes", "has_lawyer": "no"}


def test_consent_rides_through_the_questions_and_a_blocked_caller_is_asked_nothing(
    client: TestClient, api_settings: Settings
) -> None:
    market, _, _ = _market(client, {"questions": [INJURED]})
    leadid = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"
    inbound = {**_inbound("CA-IVR-10"), "jornaya_leadid": leadid}
    _, action = _gather_of(_twilio_post(client, "/v1/voice/inbound", inbound))
    # the answer's webhook carries Twilio's parameters only: the consent is in the state
    _dial_of(_twilio_post(client, action, {**_inbound("CA-IVR-10"), "Digits": "1"}))
    ping = _events(client, derived_id("call", "twilio", "CA-IVR-10"))[0]
    assert ping["consent"]["jornaya_leadid"] == leadid

    market.admin("POST", "/v1/blocklist", json={"number": "+13105550666", "reason": "abuse"})
    blocked = {**_inbound("CA-IVR-11"), "From": "+13105550666"}
    assert _said(_twilio_post(client, "/v1/voice/inbound", blocked)) == ["Reject"]


def test_the_settings_are_checked_naming_the_field_and_nothing_changes(
    client: TestClient, api_settings: Settings
) -> None:
    market, strict, _ = _market(client)
    campaign = f"/v1/campaigns/{market.campaign_id}"
    assert market.admin("GET", campaign)["ivr"] is None
    before = event_count(api_settings)
    cases = [
        ({"ivr": {"questions": [{**INJURED, "accept": ["x"]}]}}, "ivr.questions.0.accept.0"),
        (
            {"ivr": {"questions": [INJURED], "on_fail": {"action": "fallback"}}},
            "ivr.on_fail.fallback_number",
        ),
        ({"ivr": {"questions": [INJURED, INJURED]}}, "ivr.questions"),
    ]
    for body, field in cases:
        refused = client.patch(campaign, json=body, headers=auth(ADMIN_KEY))
        assert refused.status_code == 422, refused.text
        assert field in {e["field"] for e in refused.json()["errors"]}, refused.text
    refused = client.patch(
        f"/v1/targets/{strict}", json={"requires_tags": {"bad tag": "x"}}, headers=auth(ADMIN_KEY)
    )
    assert refused.status_code == 422, refused.text
    assert event_count(api_settings) == before

    market.admin("PATCH", campaign, json={"ivr": {"questions": [INJURED]}})
    assert market.admin("GET", campaign)["ivr"]["questions"][0]["id"] == "injured"
    _, action = _gather_of(_twilio_post(client, "/v1/voice/inbound", _inbound("CA-IVR-7")))
    # the questions change while the caller answers: the call is judged by those it was asked
    market.admin("PATCH", campaign, json={"ivr": {"questions": [LAWYER]}})
    answered = _twilio_post(client, action, {**_inbound("CA-IVR-7"), "Digits": "1"})
    assert _dial_of(answered)[0] == "+13105550200"
    market.admin("PATCH", campaign, json={"ivr": {"questions": []}})  # removed
    assert market.admin("GET", campaign)["ivr"] is None
    assert _dial_of(_twilio_post(client, "/v1/voice/inbound", _inbound("CA-IVR-8")))[0] == (
        "+13105550201"  # no tags: the target requiring one is excluded
    )


def _failure_row(db: Path, call_id: str) -> tuple[int, bytes]:
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "SELECT rowid, topic, state FROM stored_events WHERE originator_id = ?", (call_id,)
        ).fetchall()
    return next(
        (rowid, state)
        for rowid, topic, state in rows
        if event_name(topic) == "Call.QualificationFailed"
    )


def test_verify_catches_an_edited_qualification_failure(
    client: TestClient, api_settings: Settings
) -> None:
    _market(client, {"questions": [INJURED]})
    _, action = _gather_of(_twilio_post(client, "/v1/voice/inbound", _inbound("CA-IVR-9")))
    _twilio_post(client, action, {**_inbound("CA-IVR-9"), "Digits": "2"})
    assert _verify(api_settings).ok
    call_id = derived_id("call", "twilio", "CA-IVR-9")
    rowid, state = _failure_row(Path(str(api_settings.sqlite_dbname)), call_id)
    data = orjson.loads(state)
    data["answer"] = "1"  # as if the caller had qualified: the rule says otherwise
    _rewrite(api_settings, rowid, data)
    report = _verify(api_settings)
    assert not report.ok
    assert {f.check for f in report.failures} == {"qualifications"}
