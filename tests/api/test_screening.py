"""Screening before the auction, through HTTP with real Redis, NATS and SQLite: a caller pinged
too often across campaigns is refused on the ping after the campaign's limit, with its reason,
and recorded; a toll-free or premium-rate caller is refused only where the campaign excludes
them; a number outside the numbering plan is refused everywhere (a malformed one stays a 422);
the publisher sees the refusals in its calls and timelines; `replay verify` re-runs every
screen and agrees, and catches a log edited to change one."""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from fastapi.testclient import TestClient

from domain.clock import ManualClock, to_ms
from domain.screening import SCREENING_RULES_VERSION
from ppcx.bootstrap import build_application
from ppcx.settings import Settings
from replay.log import event_name
from replay.rehydrate import rehydrate
from tests.api.conftest import (
    ADMIN_KEY,
    BASE_URL,
    Market,
    auth,
    build_market,
    create_app,
    event_count,
    project,
)
from tests.api.test_consent import _rewrite, _verify
from tests.api.test_telephony import _twilio_post

pytestmark = pytest.mark.e2e
VELOCITY = {"calls": 3, "window_s": 600}


def _second_campaign(market: Market, **screening: Any) -> str:
    """Another campaign the market's publishers may send to (no buyer: a ping that passes
    its screens finds nobody, `no_eligible_buyer`), created with `screening`."""
    created = market.admin(
        "POST",
        "/v1/campaigns",
        json={
            "name": "LA injuries",
            "vertical": "legal",
            "publisher_payout": {"fixed": "30.00"},
            "duplicate_window_days": 30,
            **screening,
        },
    )
    for publisher_id in market.publishers:
        market.admin(
            "POST",
            f"/v1/campaigns/{created['id']}/publishers",
            json={"publisher_id": publisher_id},
        )
    return str(created["id"])


def _ping(market: Market, key: str, campaign_id: str, number: str) -> dict[str, Any]:
    response = market.client.post(
        "/v1/pings",
        json={"campaign_id": campaign_id, "caller": {"number": number, "state": "CA"}},
        headers=auth(key),
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def _burst(market: Market, clock: ManualClock, caller: str) -> tuple[list[dict[str, Any]], str]:
    """Both campaigns with velocity 3 in 600 s; four pings of `caller` 1 s apart, from both
    publishers on both campaigns (a publisher's second ping for a caller and campaign would
    get its unexpired bid back, no new ping) → the answers (the fourth is refused) and the
    second campaign."""
    market.admin("PATCH", f"/v1/campaigns/{market.campaign_id}", json={"velocity": VELOCITY})
    second = _second_campaign(market, velocity=VELOCITY)
    key, other_key = market.publishers.values()
    answers = []
    for campaign, sender in [
        (market.campaign_id, key),
        (second, other_key),
        (market.campaign_id, other_key),
        (second, key),
    ]:
        answers.append(_ping(market, sender, campaign, caller))
        clock.advance(timedelta(seconds=1))
    assert [a.get("screen") for a in answers] == [None, None, None, "velocity"]
    return answers, second


def _events(client: TestClient, key: str, call_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/calls/{call_id}", headers=auth(key))
    assert response.status_code == 200, response.text
    return list(response.json()["events"])


def _row(db: Path, call_id: str, name: str) -> tuple[int, dict[str, Any]]:
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "SELECT rowid, topic, state FROM stored_events WHERE originator_id = ?", (call_id,)
        ).fetchall()
    return next(
        (rowid, orjson.loads(state)) for rowid, topic, state in rows if event_name(topic) == name
    )


def test_a_velocity_burst_across_campaigns_is_refused_with_its_reason(
    client: TestClient, api_settings: Settings, clock: ManualClock
) -> None:
    market = build_market(client)
    key, other_key = market.publishers.values()
    first = market.campaign_id
    # the market's campaign turns velocity on with PATCH, the second is created with it
    changed = market.admin("PATCH", f"/v1/campaigns/{first}", json={"velocity": VELOCITY})
    assert changed["velocity"] == VELOCITY
    assert changed["exclude_toll_free"] is False
    second = _second_campaign(market, velocity=VELOCITY)
    assert market.admin("GET", f"/v1/campaigns/{second}")["velocity"] == VELOCITY

    caller = "+13105550142"
    answers = []
    for n, (campaign, sender) in enumerate(
        [(first, key), (second, other_key), (first, other_key), (second, key)]
    ):
        if n:
            clock.advance(timedelta(seconds=20))
        answers.append(_ping(market, sender, campaign, caller))
    assert answers[0]["accepted"] is True  # the market's buyers
    assert answers[1]["reason"] == "no_eligible_buyer"  # passed its screens: nobody there
    assert answers[2]["accepted"] is True
    refused = answers[3]
    assert refused == {
        "ping_id": refused["ping_id"],
        "accepted": False,
        "reason": "screened",
        "screen": "velocity",
    }
    # another caller is not held back; the same caller is again once the window has passed
    assert _ping(market, key, first, "+13105550143")["accepted"] is True
    clock.advance(timedelta(seconds=600))
    market.admin("POST", "/v1/ops/sweep")  # the unposted bids expire (their holds are voided)
    assert _ping(market, key, first, caller)["accepted"] is True

    # the refusal is recorded: the publisher's timeline has it, with the facts it used
    events = _events(client, key, refused["ping_id"])
    assert [e["type"] for e in events] == ["PingReceived", "PingScreened"]
    screened = events[1]
    assert screened["screen"] == "velocity"
    assert "3 times within 600 s" in screened["reason"]
    assert screened["rule_version"] == SCREENING_RULES_VERSION
    facts = screened["facts"]
    assert facts == events[0]["screening"]
    assert facts["line"] == {
        "possible": True,
        "valid": True,
        "line_type": "fixed_line_or_mobile",
        "region": "US",
    }
    assert facts["velocity"] == {
        "at_ms": to_ms(clock.now() - timedelta(seconds=600)),
        "count": 3,
        "calls": 3,
        "window_s": 600,
    }
    assert facts["campaign_version"] == market.admin("GET", f"/v1/campaigns/{second}")["version"]
    # no buyer sees a ping that reached none of them; the publisher's list shows it screened
    for buyer_key in market.buyers.values():
        assert (
            client.get(f"/v1/calls/{refused['ping_id']}", headers=auth(buyer_key)).status_code
            == 404
        )
    project(api_settings)
    listed = client.get("/v1/calls", headers=auth(key)).json()["items"]
    row = next(r for r in listed if r["call_id"] == refused["ping_id"])
    assert (row["accepted"], row["no_buyer_reason"]) == (False, "screened")

    report = _verify(api_settings)
    assert report.ok, report.failures[:5]
    assert report.checked["screening"] == 6  # every ping with a number was screened


def test_toll_free_and_premium_rate_callers_are_refused_only_where_excluded(
    client: TestClient, api_settings: Settings
) -> None:
    market = build_market(client)
    _, key = market.publisher
    strict = _second_campaign(market, exclude_toll_free=True)
    market.admin("PATCH", f"/v1/campaigns/{strict}", json={"exclude_premium_rate": True})
    shown = market.admin("GET", f"/v1/campaigns/{strict}")
    assert (shown["exclude_toll_free"], shown["exclude_premium_rate"]) == (True, True)

    toll_free, premium = "+18005550199", "+19005550123"
    assert _ping(market, key, market.campaign_id, toll_free)["accepted"] is True
    assert _ping(market, key, market.campaign_id, premium)["accepted"] is True
    assert _ping(market, key, strict, toll_free)["screen"] == "toll_free"
    assert _ping(market, key, strict, premium)["screen"] == "premium_rate"
    assert _ping(market, key, strict, "+13105550150")["reason"] == "no_eligible_buyer"

    report = _verify(api_settings)
    assert report.ok, report.failures[:5]
    assert report.checked["screening"] == 5
    project(api_settings)  # the list (from the projections) shows the settings too
    listed = client.get("/v1/campaigns", headers=auth(ADMIN_KEY)).json()["items"]
    item = next(c for c in listed if c["id"] == strict)
    assert {k: item[k] for k in ("exclude_toll_free", "exclude_premium_rate", "velocity")} == {
        "exclude_toll_free": True,
        "exclude_premium_rate": True,
        "velocity": {"calls": 0, "window_s": 600},
    }


@pytest.mark.parametrize(
    ("number", "screen"),
    [("+13101000000", "unassignable_number"), ("+1310555012345", "invalid_number")],
)
def test_a_number_outside_the_plan_is_refused_everywhere(
    client: TestClient, api_settings: Settings, number: str, screen: str
) -> None:
    market = build_market(client)
    _, key = market.publisher
    answer = _ping(market, key, market.campaign_id, number)
    assert (answer["accepted"], answer["reason"], answer["screen"]) == (False, "screened", screen)
    events = _events(client, ADMIN_KEY, answer["ping_id"])
    assert events[0]["screening"]["velocity"] is None  # refused before it was counted
    # a malformed number is still bad input: 422, nothing recorded
    before = event_count(api_settings)
    bad = client.post(
        "/v1/pings",
        json={"campaign_id": market.campaign_id, "caller": {"number": "+1 310 555 0123"}},
        headers=auth(key),
    )
    assert bad.status_code == 422, bad.text
    assert event_count(api_settings) == before
    assert _verify(api_settings).ok


def test_rtb_and_twilio_pings_are_screened(client: TestClient, api_settings: Settings) -> None:
    market = build_market(client)
    publisher_id, key = market.publisher
    for number, source in (("+18005550170", "rtb"), ("+18005550171", "tv")):
        market.admin(
            "POST",
            "/v1/numbers",
            json={
                "number": number,
                "campaign_id": market.campaign_id,
                "publisher_id": publisher_id,
                "source": source,
            },
        )
    answer = client.post(
        f"/v1/rtb/{market.campaign_id}.json", json={"CID": "3101000000"}, headers=auth(key)
    ).json()
    assert (answer["rejectReason"], answer["screen"]) == ("screened", "unassignable_number")

    inbound = {"CallSid": "CA-S-1", "From": "+13101000000", "To": "+18005550171"}
    rejected = _twilio_post(client, "/v1/voice/inbound", inbound)
    assert rejected.status_code == 200, rejected.text
    assert ET.fromstring(rejected.text).find("Reject") is not None  # not connected
    report = _verify(api_settings)
    assert report.ok, report.failures[:5]
    assert report.checked["screening"] == 2


def test_a_bad_screening_setting_is_refused_naming_it(client: TestClient) -> None:
    market = build_market(client)
    response = client.patch(
        f"/v1/campaigns/{market.campaign_id}",
        json={"velocity": {"calls": 1001, "window_s": 10}},
        headers=auth(ADMIN_KEY),
    )
    assert response.status_code == 422, response.text
    assert {e["field"] for e in response.json()["errors"]} == {
        "velocity.calls",
        "velocity.window_s",
    }


# -- replay verify catches an edited screen ------------------------------------------------------


@pytest.mark.parametrize("edit", ["screen_changed", "count_raised", "facts_differ"])
def test_verify_catches_an_edited_screening(
    client: TestClient, api_settings: Settings, clock: ManualClock, edit: str
) -> None:
    answers, _ = _burst(build_market(client), clock, "+13105550160")
    assert _verify(api_settings).ok

    db = Path(str(api_settings.sqlite_dbname))
    if edit == "screen_changed":  # the refusal claims another screen
        rowid, data = _row(db, answers[3]["ping_id"], "Call.PingScreened")
        data["screen"] = "toll_free"
    elif edit == "count_raised":  # an accepted ping's count raised: its screens refuse it
        rowid, data = _row(db, answers[1]["ping_id"], "Call.PingReceived")
        data["screening"]["velocity"]["count"] = 3
    else:  # the refusal names other facts than its ping recorded
        rowid, data = _row(db, answers[3]["ping_id"], "Call.PingScreened")
        data["facts"]["velocity"]["count"] = 2
    _rewrite(api_settings, rowid, data)

    report = _verify(api_settings)
    assert not report.ok
    assert {f.check for f in report.failures} == {"screening"}


def test_verify_catches_a_velocity_refusal_the_log_does_not_justify(
    client: TestClient, api_settings: Settings, clock: ManualClock
) -> None:
    """A refusal's recorded count and decision agree, but the log holds fewer pings of the
    caller than it counted: an earlier ping edited to another caller."""
    answers, _ = _burst(build_market(client), clock, "+13105550161")
    rowid, data = _row(
        Path(str(api_settings.sqlite_dbname)), answers[0]["ping_id"], "Call.PingReceived"
    )
    data["caller_hash"] = "0" * 32
    _rewrite(api_settings, rowid, data)
    report = _verify(api_settings)
    assert [f.check for f in report.failures] == ["screening"]
    assert "fewer than 3" in report.failures[0].message


def test_screening_off_records_no_facts(
    api_settings: Settings, clock: ManualClock, redis_client: object
) -> None:
    """`PPCX_SCREENING=false` (the benchmark's baseline): no screen, nothing counted, the
    ping is auctioned as before; replay has nothing to re-run."""
    off = api_settings.model_copy(update={"screening": False})
    with TestClient(
        create_app(off, clock=clock), base_url=BASE_URL, raise_server_exceptions=False
    ) as client:
        market = build_market(client)
        _, key = market.publisher
        answer = _ping(market, key, market.campaign_id, "+13101000000")
        assert answer["accepted"] is True
        events = _events(client, ADMIN_KEY, answer["ping_id"])
        assert events[0]["screening"] is None
    report = _verify(off)
    assert report.ok, report.failures[:5]
    assert "screening" not in report.checked


def test_velocity_counts_are_rebuilt_after_redis_is_lost(
    client: TestClient, api_settings: Settings, clock: ManualClock, redis_client: redis.Redis
) -> None:
    market = build_market(client)
    _, second = _burst(market, clock, "+13105550170")
    for key in redis_client.scan_iter(match=f"{api_settings.redis_prefix}*"):
        redis_client.delete(key)
    app = build_application(api_settings)
    try:
        rebuilt = rehydrate(app, redis_client, api_settings.redis_prefix, clock.now())
    finally:
        app.close()
    assert rebuilt["velocity_callers"] == 1
    _, other_key = market.publishers.values()
    again = _ping(market, other_key, second, "+13105550170")
    assert again.get("screen") == "velocity"  # four pings in the window, refused one included
    report = _verify(api_settings)
    assert report.ok, report.failures[:5]
