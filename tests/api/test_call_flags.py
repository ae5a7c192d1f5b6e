"""Buzzer-beaters and short calls through HTTP (real Redis, NATS, SQLite): a call the buyer
ends 5 s before a 60 s buffer is flagged and not billed, unless its campaign bills such calls
(billing rules version 2); the flags are on the call's timeline, in the calls list, in the
buyer performance report per target (with answer rate and auto-pauses), and on Twilio calls
from the dial callback; `replay verify` re-runs every flag and bill and catches a tampered
flag."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from fastapi.testclient import TestClient

from eventstore.chain import GENESIS, ChainHasher, chain_key
from ppcx.bootstrap import build_application
from ppcx.settings import Settings
from replay.log import event_name
from replay.verify import Report, verify
from tests.api.conftest import ADMIN_KEY, Market, auth, build_market, project
from tests.api.test_telephony import _dial_of, _twilio_post

pytestmark = pytest.mark.e2e
BUFFER_S = 60  # build_market's targets


def routed_call(market: Market, number: str, *, key: str | None = None) -> str:
    """A ping won and posted (by the first publisher unless `key`) → the call id."""
    key = key or market.publisher[1]
    offer = market.ping(key, number=number).json()
    assert offer["accepted"] is True, offer
    posted = market.client.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(key))
    assert posted.status_code == 200, posted.text
    return str(posted.json()["call_id"])


def event(market: Market, call_id: str, body: dict[str, Any], key: str | None = None) -> Any:
    key = key or market.publisher[1]
    done = market.client.post(f"/v1/calls/{call_id}/events", json=body, headers=auth(key))
    assert done.status_code == 200, done.text
    return done.json()


def answered_call(
    market: Market, number: str, duration_s: int, ended_by: str | None, key: str | None = None
) -> tuple[str, dict[str, Any]]:
    """A routed call, answered, completed → (call id, the billing decision)."""
    call_id = routed_call(market, number, key=key)
    event(market, call_id, {"type": "answered"}, key)
    body: dict[str, Any] = {"type": "completed", "duration_s": duration_s}
    if ended_by is not None:
        body["ended_by"] = ended_by
    return call_id, event(market, call_id, body, key)


def timeline(market: Market, call_id: str, key: str = ADMIN_KEY) -> list[dict[str, Any]]:
    found = market.client.get(f"/v1/calls/{call_id}", headers=auth(key))
    assert found.status_code == 200, found.text
    return list(found.json()["events"])


def of_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind]


def audit(settings: Settings, *, parallel: bool = False) -> Report:
    """`replay verify` of the test's log (in this process, or with the calls' half in a
    worker process as the CLI runs it)."""
    app = build_application(settings)
    try:
        assert settings.audit_key is not None
        return verify(app.store.read_chained, chain_key(settings.audit_key), parallel=parallel)
    finally:
        app.close()


def test_a_call_the_buyer_ends_5_s_before_the_buffer_is_a_buzzer_beater_not_billed(
    client: TestClient, api_settings: Settings
) -> None:
    market = build_market(client)
    buyer_id, buyer_key = next(iter(market.buyers.items()))  # the 50.00 bidder wins
    call_id, billing = answered_call(market, "+13105550101", BUFFER_S - 5, "buyer")
    assert billing == {"billable": False, "reason": "below_buffer", "revenue": "0.00",
                       "payout": "0.00"}  # fmt: skip
    events = timeline(market, call_id)
    types = [e["type"] for e in events]
    assert types[-3:] == ["CallCompleted", "CallFlagged", "CallNotBilled"]
    assert of_type(events, "CallCompleted")[0]["ended_by"] == "buyer"
    flagged = of_type(events, "CallFlagged")[0]
    assert flagged["flags"] == ["buzzer_beater"]
    assert (flagged["rule_version"], flagged["duration_s"], flagged["buffer_s"]) == (1, 55, 60)
    assert (flagged["margin_s"], flagged["short_call_s"]) == (10, 10)
    assert of_type(events, "CallNotBilled")[0]["rules_version"] == 2
    # both parties see the flag (the buyer's buffer only to the buyer)
    for key in (buyer_key, market.publisher[1]):
        seen = of_type(timeline(market, call_id, key), "CallFlagged")
        assert [e["flags"] for e in seen] == [["buzzer_beater"]]
    assert (
        "buffer_s" not in of_type(timeline(market, call_id, market.publisher[1]), "CallFlagged")[0]
    )

    # the caller hung up: no flag; unknown: no flag either; outside the margin: no flag
    for number, duration_s, ended_by in (
        ("+13105550102", 55, "caller"),
        ("+13105550103", 55, None),
        ("+13105550104", 49, "buyer"),
        ("+13105550105", 60, "buyer"),  # reached the buffer: billed, no flag
    ):
        other, _ = answered_call(market, number, duration_s, ended_by)
        assert not of_type(timeline(market, other), "CallFlagged"), (number, duration_s)
    # an answered call shorter than the campaign's short_call_s
    short, _ = answered_call(market, "+13105550106", 4, "caller")
    assert of_type(timeline(market, short), "CallFlagged")[0]["flags"] == ["short_call"]

    project(api_settings)
    rows = client.get("/v1/calls", headers=auth(buyer_key)).json()["items"]
    by_call = {r["call_id"]: r for r in rows}
    assert (by_call[call_id]["flags"], by_call[call_id]["ended_by"]) == ("buzzer_beater", "buyer")
    assert by_call[short]["flags"] == "short_call"
    assert buyer_id == by_call[call_id].get("buyer_id", buyer_id)

    report = audit(api_settings)
    assert report.ok, report.failures[:5]
    assert report.checked["flags"] == 6


def test_a_campaign_may_bill_buzzer_beaters(client: TestClient, api_settings: Settings) -> None:
    market = build_market(client)
    refused = client.patch(
        f"/v1/campaigns/{market.campaign_id}",
        json={"buzzer_margin_s": 601, "short_call_s": -1, "bill_buzzer_beaters": "yes"},
        headers=auth(ADMIN_KEY),
    )
    assert refused.status_code == 422, refused.text
    fields = {e["field"] for e in refused.json()["errors"]}
    assert {"buzzer_margin_s", "short_call_s", "bill_buzzer_beaters"} <= fields
    changed = market.admin(
        "PATCH",
        f"/v1/campaigns/{market.campaign_id}",
        json={"bill_buzzer_beaters": True, "buzzer_margin_s": 15},
    )
    assert (changed["bill_buzzer_beaters"], changed["buzzer_margin_s"]) == (True, 15)
    assert changed["short_call_s"] == 10

    call_id, billing = answered_call(market, "+13105550201", BUFFER_S - 5, "buyer")
    assert billing["billable"] is True, billing
    assert billing["revenue"] == "50.00"
    events = timeline(market, call_id)
    assert of_type(events, "CallFlagged")[0]["margin_s"] == 15
    assert of_type(events, "CallBilled")[0]["rules_version"] == 2
    # outside the margin it is still below the buffer; the caller's hang-up is never billed
    _, early = answered_call(market, "+13105550202", BUFFER_S - 16, "buyer")
    assert early["reason"] == "below_buffer"
    _, callers = answered_call(market, "+13105550203", BUFFER_S - 5, "caller")
    assert callers["reason"] == "below_buffer"

    # a campaign created with the rules records them in the same save as its creation
    created = market.admin(
        "POST",
        "/v1/campaigns",
        json={
            "name": "Solar",
            "vertical": "solar",
            "publisher_payout": {"fixed": "20.00"},
            "buzzer_margin_s": 20,
            "short_call_s": 5,
            "bill_buzzer_beaters": True,
        },
    )
    got = market.admin("GET", f"/v1/campaigns/{created['id']}")
    assert (got["buzzer_margin_s"], got["short_call_s"], got["bill_buzzer_beaters"]) == (
        20,
        5,
        True,
    )
    assert got["version"] == 2
    project(api_settings)
    listed = market.admin("GET", "/v1/campaigns")["items"]
    assert {c["id"]: (c["buzzer_margin_s"], c["bill_buzzer_beaters"]) for c in listed} == {
        market.campaign_id: (15, True),
        created["id"]: (20, True),
    }

    report = audit(api_settings)
    assert report.ok, report.failures[:5]


def test_the_buyer_performance_report_per_target(
    client: TestClient, api_settings: Settings
) -> None:
    market = build_market(client)
    (winner, winner_key), (runner_up, runner_key) = list(market.buyers.items())
    target_of = {buyer: target for target, buyer in market.targets.items()}
    answered_call(market, "+13105550301", BUFFER_S - 5, "buyer")  # buzzer-beater
    answered_call(market, "+13105550302", 90, "caller")
    answered_call(market, "+13105550303", 90, "buyer")
    answered_call(market, "+13105550304", 3, "caller")  # short call
    for n in range(3):  # 3 unanswered: the winner's target is paused (its default rule)
        call_id = routed_call(market, f"+1310555031{n}")
        event(market, call_id, {"type": "completed", "duration_s": 0})
    answered_call(market, "+13105550320", 120, "caller")  # the runner-up takes it now

    project(api_settings)
    per_target = client.get(
        "/v1/reports/buyers", params={"group_by": "target"}, headers=auth(ADMIN_KEY)
    )
    assert per_target.status_code == 200, per_target.text
    rows = {r["target_id"]: r for r in per_target.json()["rows"]}
    first = rows[target_of[winner]]
    assert (first["routed"], first["answers"], first["answer_rate"]) == (7, 4, 0.5714)
    assert (first["buzzer_beaters"], first["buzzer_beater_rate"]) == (1, 0.25)
    assert (first["short_calls"], first["auto_pauses"]) == (1, 1)
    second = rows[target_of[runner_up]]
    assert (second["routed"], second["answer_rate"], second["buzzer_beater_rate"]) == (
        1,
        1.0,
        0.0,
    )
    assert second["auto_pauses"] == 0
    # a buyer sees its own targets only; the per-buyer report keeps its columns and adds these
    mine = client.get(
        "/v1/reports/buyers", params={"group_by": "target"}, headers=auth(winner_key)
    ).json()["rows"]
    assert [r["target_id"] for r in mine] == [target_of[winner]]
    per_buyer = client.get("/v1/reports/buyers", headers=auth(runner_key)).json()["rows"]
    assert len(per_buyer) == 1
    assert {"bid_rate", "win_rate", "answer_rate", "average_handle_s"} <= set(per_buyer[0])
    overall = {
        r["buyer_id"]: r
        for r in client.get("/v1/reports/buyers", headers=auth(ADMIN_KEY)).json()["rows"]
    }
    assert (overall[winner]["buzzer_beaters"], overall[winner]["auto_pauses"]) == (1, 1)
    assert overall[winner]["buzzer_beater_rate"] == 0.25
    bad = client.get("/v1/reports/buyers", params={"group_by": "campaign"}, headers=auth(ADMIN_KEY))
    assert bad.status_code == 422, bad.text


def test_a_twilio_dial_ended_by_the_buyer_is_flagged(
    client: TestClient, api_settings: Settings
) -> None:
    market = build_market(client)
    market.tracking_number("+18005550100", source="tv")
    ended = {}
    for sid, caller, parent_status in (
        ("CA-F-1", "+13105550401", "in-progress"),  # the caller is still on: the buyer hung up
        ("CA-F-2", "+13105550402", "completed"),  # the caller hung up
    ):
        inbound = {"CallSid": sid, "From": caller, "To": "+18005550100"}
        _, action = _dial_of(_twilio_post(client, "/v1/voice/inbound", inbound))
        split = urlsplit(action)
        call_id = split.query.split("call_id=")[1].split("&")[0]
        done = _twilio_post(
            client,
            f"{split.path}?{split.query}",
            {
                "CallSid": sid,
                "CallStatus": parent_status,
                "DialCallStatus": "completed",
                "DialCallDuration": "52",
            },
        )
        assert done.status_code == 200, done.text
        ended[parent_status] = timeline(market, call_id)
    buyer_ended = ended["in-progress"]
    assert of_type(buyer_ended, "CallCompleted")[0]["ended_by"] == "buyer"
    assert of_type(buyer_ended, "CallFlagged")[0]["flags"] == ["buzzer_beater"]
    caller_ended = ended["completed"]
    assert of_type(caller_ended, "CallCompleted")[0]["ended_by"] == "caller"
    assert not of_type(caller_ended, "CallFlagged")
    assert audit(api_settings).ok


def test_ended_by_is_for_a_completed_call_only(client: TestClient) -> None:
    market = build_market(client)
    call_id = routed_call(market, "+13105550501")
    _, key = market.publisher
    refused = client.post(
        f"/v1/calls/{call_id}/events",
        json={"type": "answered", "ended_by": "buyer"},
        headers=auth(key),
    )
    assert refused.status_code == 422, refused.text
    unknown = client.post(
        f"/v1/calls/{call_id}/events",
        json={"type": "completed", "duration_s": 5, "ended_by": "nobody"},
        headers=auth(key),
    )
    assert unknown.status_code == 422, unknown.text


# -- replay verify catches a tampered flag ---------------------------------------------------------


def _rows_of(db: Path, call_id: str) -> dict[str, tuple[int, bytes]]:
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "SELECT rowid, topic, state FROM stored_events WHERE originator_id = ?", (call_id,)
        ).fetchall()
    return {event_name(topic): (rowid, state) for rowid, topic, state in rows}


def rewrite(settings: Settings, rowid: int, data: dict[str, Any]) -> None:
    """Edit one event and re-chain the log, as an insider holding the audit key could."""
    assert settings.audit_key is not None
    hasher, previous = ChainHasher(chain_key(settings.audit_key)), GENESIS
    with sqlite3.connect(Path(str(settings.sqlite_dbname))) as con:
        con.execute(
            "UPDATE stored_events SET state = ? WHERE rowid = ?", (orjson.dumps(data), rowid)
        )
        rows = con.execute(
            "SELECT rowid, originator_id, originator_version, topic, state "
            "FROM stored_events ORDER BY rowid"
        ).fetchall()
        for row, originator_id, version, topic, state in rows:
            previous = hasher.link(previous, row, originator_id, version, topic, state)
            con.execute("UPDATE stored_events SET chain = ? WHERE rowid = ?", (previous, row))


@pytest.mark.parametrize("edit", ["flag_changed", "ended_by_changed", "margin_changed"])
def test_verify_catches_a_tampered_flag(
    client: TestClient, api_settings: Settings, edit: str
) -> None:
    market = build_market(client)
    call_id, _ = answered_call(market, "+13105550601", BUFFER_S - 5, "buyer")
    answered_call(market, "+13105550602", 90, "caller")
    assert audit(api_settings).ok
    rows = _rows_of(Path(str(api_settings.sqlite_dbname)), call_id)
    name = "Call.CallCompleted" if edit == "ended_by_changed" else "Call.CallFlagged"
    rowid, state = rows[name]
    data = orjson.loads(state)
    if edit == "flag_changed":
        data["flags"] = ["short_call"]
    elif edit == "ended_by_changed":
        data["ended_by"] = "caller"  # as if the caller had hung up: no flag was due
    else:
        data["margin_s"] = 3
    rewrite(api_settings, rowid, data)
    report = audit(api_settings)
    assert not report.ok
    assert {f.check for f in report.failures} == {"flags"}, report.failures


def test_verify_catches_an_emptied_flag(client: TestClient, api_settings: Settings) -> None:
    """A short call's flag emptied: the flags disagree with the rule."""
    market = build_market(client)
    call_id, _ = answered_call(market, "+13105550701", 3, "caller")
    rows = _rows_of(Path(str(api_settings.sqlite_dbname)), call_id)
    rowid, state = rows["Call.CallFlagged"]
    data = orjson.loads(state)
    data["flags"] = []
    rewrite(api_settings, rowid, data)
    report = audit(api_settings)
    assert not report.ok
    assert {f.check for f in report.failures} == {"flags"}, report.failures
