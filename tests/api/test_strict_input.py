"""Strict input through HTTP: money, shares, client times, phone numbers and geo, tags, and
the telephony and RTB parameters are taken exactly as documented or refused with 422 —
nothing is normalised, truncated, guessed or silently ignored, and a refusal records
nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from domain.clock import ManualClock
from ppcx.settings import Settings
from tests.api.conftest import (
    ADMIN_KEY,
    BASE_URL,
    TWILIO_TOKEN,
    Market,
    auth,
    build_market,
    event_count,
)
from tests.support.clock import START

pytestmark = pytest.mark.e2e


def _refused(response: Any, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    named = [e["field"] for e in response.json().get("errors", [])]
    assert any(f == field or f.startswith(field + ".") for f in named), response.json()


# -- money --------------------------------------------------------------------------------

REFUSED_AMOUNTS = [
    "１０.００",  # fullwidth digits: int() and Decimal() read them as 10.00
    "١٠.٠٠",  # Arabic-Indic digits
    "10.0０",  # one fullwidth digit among ASCII ones
    "1_000.00",  # int() reads underscores
    " 10.00",
    "10.00 ",
    "10.00\n",
    "+10.00",
    "10.",
    ".50",
    "10.000",
    "1e3",
    "NaN",
    "10,00",
    "0x10",
]


@pytest.mark.parametrize("amount", REFUSED_AMOUNTS)
def test_a_deposit_of_anything_but_ascii_decimal_is_refused_and_changes_nothing(
    client: TestClient, api_settings: Settings, amount: str
) -> None:
    market = build_market(client)
    buyer_id = next(iter(market.buyers))
    before = event_count(api_settings)
    response = client.post(
        f"/v1/buyers/{buyer_id}/deposits",
        json={"amount": amount, "reference": "wire"},
        headers=auth(market.finance_key),
    )
    _refused(response, "amount")
    assert event_count(api_settings) == before
    balance = client.get(f"/v1/buyers/{buyer_id}", headers=auth(market.finance_key)).json()
    assert balance["posted"] == "1000.00"


@pytest.mark.parametrize(("amount", "posted"), [("10", "1010.00"), ("10.5", "1010.50")])
def test_ascii_decimal_deposits_are_booked(client: TestClient, amount: str, posted: str) -> None:
    market = build_market(client)
    buyer_id = next(iter(market.buyers))
    response = client.post(
        f"/v1/buyers/{buyer_id}/deposits",
        json={"amount": amount, "reference": "wire"},
        headers=auth(market.finance_key),
    )
    assert response.status_code == 201, response.text
    balance = client.get(f"/v1/buyers/{buyer_id}", headers=auth(market.finance_key)).json()
    assert balance["posted"] == posted


def test_a_bid_in_fullwidth_digits_is_refused(client: TestClient, api_settings: Settings) -> None:
    market = build_market(client)
    target_id, buyer_id = next(iter(market.targets.items()))
    before = event_count(api_settings)
    response = client.put(
        f"/v1/targets/{target_id}/bid",
        json={"amount": "６０.００"},
        headers=auth(market.buyers[buyer_id]),
    )
    _refused(response, "amount")
    assert event_count(api_settings) == before


@pytest.mark.parametrize(
    "share", ["０.７０", "0.７", "0.7_0", "7E-1", "NaN", " 0.70", "0.70\n", "1.0000001", ".7"]
)
def test_a_share_is_an_ascii_decimal_between_zero_and_one(
    client: TestClient, api_settings: Settings, share: str
) -> None:
    before = event_count(api_settings)
    response = client.post(
        "/v1/campaigns",
        json={"name": "x", "vertical": "legal", "publisher_payout": {"share": share}},
        headers=auth(ADMIN_KEY),
    )
    _refused(response, "publisher_payout")
    assert event_count(api_settings) == before


# -- the client's time on call events ---------------------------------------------------------


def _posted_call(client: TestClient, clock: ManualClock) -> tuple[Market, str, str]:
    market = build_market(client)
    _, key = market.publisher
    offer = market.ping(key).json()
    clock.advance(timedelta(seconds=5))
    posted = client.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(key))
    assert posted.status_code == 200, posted.text
    return market, key, posted.json()["call_id"]


def _events(client: TestClient, call_id: str) -> list[dict[str, Any]]:
    timeline = client.get(f"/v1/calls/{call_id}", headers=auth(ADMIN_KEY))
    assert timeline.status_code == 200, timeline.text
    events: list[dict[str, Any]] = timeline.json()["events"]
    return events


def _times(client: TestClient, call_id: str) -> dict[str, datetime]:
    """Each event type's time in the call's timeline (the last one of each type)."""
    return {e["type"]: datetime.fromisoformat(e["timestamp"]) for e in _events(client, call_id)}


def _z(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


BAD_TIMES = [
    "2026-13-45T99:99:99Z",
    "99999-03-02T15:00:30Z",
    "2026-02-30T15:00:30Z",
    "2026-03-02T24:00:00Z",
    "2026-03-02T15:00:60Z",
    "2026-03-02T15:00:30",  # no offset: local to whom?
    "2026-03-02 15:00:30Z",
    "2026-03-02T15:00:30+0000",
    "2026-03-02T15:00Z",
    "2026-03-02",
    "1772463630",
    "2026-03-02T15:00:30.Z",
    "２０２６-03-02T15:00:30Z",
    "2026-03-02T15:00:30+24:00",
    " 2026-03-02T15:00:30Z",
    "2026-03-02T15:00:30Z\n",
]


@pytest.mark.parametrize("at", BAD_TIMES)
def test_a_malformed_event_time_is_refused_and_records_nothing(
    client: TestClient, clock: ManualClock, api_settings: Settings, at: str
) -> None:
    _, key, call_id = _posted_call(client, clock)
    clock.advance(timedelta(seconds=60))
    before = event_count(api_settings)
    response = client.post(
        f"/v1/calls/{call_id}/events", json={"type": "answered", "at": at}, headers=auth(key)
    )
    _refused(response, "at")
    assert event_count(api_settings) == before


@pytest.mark.parametrize(
    ("kind", "offset"),
    [
        ("answered", timedelta(minutes=-5, seconds=-1)),  # older than the 5 minutes allowed
        ("answered", timedelta(seconds=6)),  # more than 5 s ahead of the server's clock
        ("no_answer", timedelta(hours=-3)),
        ("completed", timedelta(days=1)),
    ],
)
def test_an_event_time_outside_the_tolerance_is_refused_and_records_nothing(
    client: TestClient, clock: ManualClock, api_settings: Settings, kind: str, offset: timedelta
) -> None:
    _, key, call_id = _posted_call(client, clock)
    now = clock.advance(timedelta(minutes=10))
    before = event_count(api_settings)
    body: dict[str, Any] = {"type": kind, "at": _z(now + offset)}
    if kind == "completed":
        body["duration_s"] = 120
    response = client.post(f"/v1/calls/{call_id}/events", json=body, headers=auth(key))
    _refused(response, "at")
    assert event_count(api_settings) == before


def test_the_reported_time_is_the_time_of_the_events_it_causes(
    client: TestClient, clock: ManualClock
) -> None:
    _, key, call_id = _posted_call(client, clock)
    posted_at = START + timedelta(seconds=5)
    now = clock.advance(timedelta(seconds=60))
    answered_at = now - timedelta(seconds=30)
    answered = client.post(
        f"/v1/calls/{call_id}/events",
        json={"type": "answered", "at": _z(answered_at)},
        headers=auth(key),
    )
    assert answered.status_code == 200, answered.text
    now = clock.advance(timedelta(seconds=120))
    ended_at = now - timedelta(seconds=10)
    # the same instant written with an offset
    local = (ended_at + timedelta(hours=-7)).replace(tzinfo=None).isoformat() + "-07:00"
    completed = client.post(
        f"/v1/calls/{call_id}/events",
        json={"type": "completed", "at": local, "duration_s": 100},
        headers=auth(key),
    )
    assert completed.status_code == 200, completed.text
    times = _times(client, call_id)
    assert times["CallPosted"] == posted_at
    assert times["CallAnswered"] == answered_at
    assert times["CallCompleted"] == ended_at
    assert times["CallBilled"] == ended_at


def test_a_reported_time_before_the_calls_last_event_is_moved_up_to_it(
    client: TestClient, clock: ManualClock
) -> None:
    """Within the tolerance but before the call was posted: the answer is recorded at the
    post's time, so the call's events stay in time order."""
    _, key, call_id = _posted_call(client, clock)
    posted_at = START + timedelta(seconds=5)
    clock.advance(timedelta(seconds=30))
    answered = client.post(
        f"/v1/calls/{call_id}/events",
        json={"type": "answered", "at": _z(START)},
        headers=auth(key),
    )
    assert answered.status_code == 200, answered.text
    times = _times(client, call_id)
    assert times["CallAnswered"] == posted_at


def test_a_failover_at_the_reported_time(client: TestClient, clock: ManualClock) -> None:
    _, key, call_id = _posted_call(client, clock)
    now = clock.advance(timedelta(seconds=40))
    failed = client.post(
        f"/v1/calls/{call_id}/events",
        json={"type": "no_answer", "at": _z(now - timedelta(seconds=20))},
        headers=auth(key),
    )
    assert failed.status_code == 200, failed.text
    times = _times(client, call_id)
    assert times["CallFailedOver"] == now - timedelta(seconds=20)


# -- phone numbers and geo -------------------------------------------------------------------

REFUSED_CALLERS: list[tuple[str, dict[str, Any]]] = [
    ("fullwidth digit", {"number": "+1３105550123"}),
    ("formatted", {"number": "+1 (310) 555-0123"}),
    ("dashes", {"number": "+1-310-555-0123"}),
    ("no plus", {"number": "13105550123"}),
    # (a number outside the numbering plan — an unassigned exchange or area code — is no
    # longer bad input: it is screened before the auction, tests/api/test_screening.py)
    ("trailing newline", {"number": "+13105550123\n"}),
    ("lower-case state", {"number": "+13105550123", "state": "ca"}),
    ("padded state", {"number": "+13105550123", "state": " CA"}),
    ("ZIP+4", {"number": "+13105550123", "zip": "90210-1234"}),
    ("fullwidth ZIP", {"number": "+13105550123", "zip": "９0210"}),
    ("padded area code", {"number": "+13105550123", "area_code": "310 "}),
]


@pytest.mark.parametrize(
    ("name", "caller"), REFUSED_CALLERS, ids=[name for name, _ in REFUSED_CALLERS]
)
def test_a_caller_is_taken_as_written_or_refused(
    client: TestClient, api_settings: Settings, name: str, caller: dict[str, Any]
) -> None:
    market = build_market(client)
    _, key = market.publisher
    before = event_count(api_settings)
    response = client.post(
        "/v1/pings", json={"campaign_id": market.campaign_id, "caller": caller}, headers=auth(key)
    )
    _refused(response, "caller")
    assert event_count(api_settings) == before


@pytest.mark.parametrize(
    ("number", "state", "area_code"),
    [
        ("+12125551234", "NY", "212"),  # "New York, NY" in the library's geocoder
        ("+13105550123", "CA", "310"),  # "California"
        ("+12025550123", "DC", "202"),  # "Washington D.C."
        ("+17875550123", "PR", "787"),  # a territory: its own region
        ("+14165550123", None, "416"),  # Toronto: a Canadian province is not a US state
        ("+442071234567", None, None),
    ],
)
def test_a_ping_without_state_gets_the_state_of_the_number(
    client: TestClient, number: str, state: str | None, area_code: str | None
) -> None:
    market = build_market(client)
    _, key = market.publisher
    offer = client.post(
        "/v1/pings",
        json={"campaign_id": market.campaign_id, "caller": {"number": number}},
        headers=auth(key),
    )
    assert offer.status_code == 200, offer.text
    ping = _events(client, offer.json()["ping_id"])[0]
    assert ping["type"] == "PingReceived"
    assert ping["geo"] == {"state": state, "zip": None, "area_code": area_code}


def test_a_given_state_is_kept(client: TestClient) -> None:
    market = build_market(client)
    _, key = market.publisher
    offer = client.post(
        "/v1/pings",
        json={
            "campaign_id": market.campaign_id,
            "caller": {"number": "+12125551234", "state": "NJ", "zip": "07030"},
        },
        headers=auth(key),
    ).json()
    ping = _events(client, offer["ping_id"])[0]
    assert ping["geo"] == {"state": "NJ", "zip": "07030", "area_code": "212"}


# -- tags, attribution and other free text ---------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"tags": {"k" * 65: "v"}}, "tags"),
        ({"tags": {"": "v"}}, "tags"),
        ({"tags": {"ok": "v" * 201}}, "tags"),
        ({"tags": {"bad key": "v"}}, "tags"),
        ({"attribution": {"source": "x" * 201}}, "attribution.source"),
        ({"attribution": {"tracking_number": "800-555-0100"}}, "attribution.tracking_number"),
    ],
)
def test_tags_and_attribution_are_bounded(
    client: TestClient, api_settings: Settings, extra: dict[str, Any], field: str
) -> None:
    market = build_market(client)
    _, key = market.publisher
    before = event_count(api_settings)
    _refused(market.ping(key, **extra), field)
    assert event_count(api_settings) == before


# -- Twilio and the RTB ping -----------------------------------------------------------------------


def _twilio_post(client: TestClient, path: str, params: dict[str, str]) -> Any:
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(BASE_URL + path, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


@pytest.mark.parametrize("duration", ["abc", "", "-5", "９5", "95.5", " 95"])
def test_a_twilio_dial_duration_that_is_not_a_whole_number_is_refused(
    client: TestClient, api_settings: Settings, duration: str
) -> None:
    market = build_market(client)
    market.tracking_number("+18005550100", source="tv")
    inbound = {"CallSid": "CA0009", "From": "+13105550123", "To": "+18005550100"}
    dialled = _twilio_post(client, "/v1/voice/inbound", inbound)
    assert dialled.status_code == 200, dialled.text
    action = dialled.text.split('action="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    split = urlsplit(action)
    call_id = parse_qs(split.query)["call_id"][0]
    before = event_count(api_settings)
    done = _twilio_post(
        client,
        f"{split.path}?{split.query}",
        {"CallSid": "CA0009", "DialCallStatus": "completed", "DialCallDuration": duration},
    )
    _refused(done, "DialCallDuration")
    assert event_count(api_settings) == before
    types = [e["type"] for e in _events(client, call_id)]
    assert "CallCompleted" not in types


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"CID": "３１０５５５０１２３"}, "CID"),
        ({"CID": " 3105550123"}, "CID"),
        ({"CID": "310-555-0123"}, "CID"),
        ({"CID": "3105550123", "SubID": "s" * 201}, "SubID"),
        ({"CID": "3105550123", "zipcode": "90210-1234"}, "zipcode"),
        ({"CID": "3105550123", "exposeCallerId": "maybe"}, "exposeCallerId"),
    ],
)
def test_an_rtb_ping_with_lenient_parameters_is_refused(
    client: TestClient, api_settings: Settings, params: dict[str, str], field: str
) -> None:
    market = build_market(client)
    _, key = market.publisher
    before = event_count(api_settings)
    response = client.post(f"/v1/rtb/{market.campaign_id}.json", json=params, headers=auth(key))
    _refused(response, field)
    assert event_count(api_settings) == before


def test_an_rtb_caller_id_of_ten_or_eleven_digits_is_a_us_number(client: TestClient) -> None:
    market = build_market(client)
    _, key = market.publisher
    market.tracking_number("+18005550180", source="rtb")
    for cid in ("2125551234", "12125551235", "+12125551236"):
        bid = client.post(
            f"/v1/rtb/{market.campaign_id}.json", json={"CID": cid}, headers=auth(key)
        )
        assert bid.status_code == 200, bid.text
        ping = _events(client, bid.json()["bidId"])[0]
        assert ping["geo"] == {"state": "NY", "zip": None, "area_code": "212"}


# -- query parameters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/calls?limit=1_0", "limit"),
        ("/v1/calls?limit=+10", "limit"),
        ("/v1/calls?limit=10.0", "limit"),
        ("/v1/ledger/accounts?as_of=2026-03-02", "as_of"),
        ("/v1/ledger/accounts?as_of=1772463630", "as_of"),
        ("/v1/ledger/transfers?cursor=１２", "cursor"),
        ("/v1/blocklist?limit=1_0", "limit"),
        ("/v1/blocklist?limit=10.0", "limit"),
    ],
)
def test_query_numbers_and_times_are_strict(client: TestClient, path: str, field: str) -> None:
    market = build_market(client)
    _refused(client.get(path, headers=auth(market.finance_key)), field)
