"""Redaction through the HTTP API, as a table: one call failed over from buyer A to buyer B,
answered, billed to B and converted by B with a value; its timeline, the calls list and the
reports read by every role — admin, finance, analyst, the publisher, A, B and a third buyer C
that bid and lost. Each row says who sees an event, a field or a column."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.clock import ManualClock
from ppcx.settings import Settings
from tests.api.conftest import ADMIN_KEY, Market, auth, build_market, project

pytestmark = pytest.mark.e2e

INTERNAL = ("admin", "finance", "analyst")
VIEWERS = (*INTERNAL, "publisher", "a", "b", "c")
EVERYONE = "internal publisher a b c"


def _who(spec: str) -> set[str]:
    names = set(spec.split())
    return (names - {"internal"}) | (set(INTERNAL) if "internal" in names else set())


# event type: the viewers who see it (A and B each see only the bids and legs that are theirs)
TIMELINE_EVENTS = {
    "PingReceived": "internal publisher a b",
    "BidReceived": "internal a b",
    "AuctionDecided": "internal publisher a",
    "CallPosted": "internal publisher a",
    "CallRouted": "internal publisher a b",
    "CallFailedOver": "internal publisher a",
    "CallAnswered": "internal publisher b",
    "CallCompleted": "internal publisher b",
    "CallBilled": "internal publisher b",
    "CallConverted": "internal publisher b",
}
# (event type, field): the viewers who see the field
TIMELINE_FIELDS = [
    ("PingReceived", "campaign_id", "internal publisher a b"),
    ("PingReceived", "geo", "internal publisher a b"),
    ("PingReceived", "publisher_id", "internal publisher"),
    ("PingReceived", "attribution", "internal publisher"),
    ("PingReceived", "tags", "internal publisher"),
    ("PingReceived", "market", "internal"),
    ("BidReceived", "buyer_id", "internal a b"),
    ("BidReceived", "amount", "internal a b"),
    ("AuctionDecided", "mode", "internal publisher a"),
    ("AuctionDecided", "winner_buyer_id", "internal a"),
    ("AuctionDecided", "winner_target_id", "internal a"),
    ("AuctionDecided", "price", "internal a"),
    ("AuctionDecided", "payout", "internal publisher"),
    ("AuctionDecided", "floor", "internal"),
    ("AuctionDecided", "seed", "internal"),
    ("AuctionDecided", "ranking", "internal"),
    ("AuctionDecided", "skipped", "internal"),
    ("CallRouted", "attempt", "internal publisher a b"),
    ("CallRouted", "buyer_id", "internal a b"),
    ("CallRouted", "target_id", "internal a b"),
    ("CallRouted", "destination", "internal a b"),
    ("CallRouted", "price", "internal a b"),
    ("CallRouted", "payout", "internal publisher"),
    ("CallRouted", "hold_id", "internal a b"),
    ("CallFailedOver", "reason", "internal publisher a"),
    ("CallFailedOver", "target_id", "internal a"),
    ("CallFailedOver", "next_target_id", "internal"),
    ("CallFailedOver", "skipped", "internal"),
    ("CallAnswered", "attempt", "internal publisher b"),
    ("CallCompleted", "duration_s", "internal publisher b"),
    ("CallBilled", "buyer_id", "internal b"),
    ("CallBilled", "revenue", "internal b"),
    ("CallBilled", "payout", "internal publisher"),
    ("CallBilled", "margin", "internal"),
    ("CallBilled", "duration_s", "internal publisher b"),
    ("CallConverted", "value", "internal b"),
    ("CallConverted", "by", "internal b"),
]
# GET /v1/calls: who lists the call, and each column's viewers
LIST_ROWS = "internal publisher b"  # the call's buyer is the one it was last routed to
LIST_FIELDS = [
    ("call_id", "internal publisher b"),
    ("duration_s", "internal publisher b"),
    ("converted", "internal publisher b"),
    ("publisher_id", "internal publisher"),
    ("source", "internal publisher"),
    ("keyword", "internal publisher"),
    ("payout_offer", "internal publisher"),
    ("payout", "internal publisher"),
    ("buyer_id", "internal b"),
    ("target_id", "internal b"),
    ("price", "internal b"),
    ("revenue", "internal b"),
    ("conversion_value", "internal b"),
    ("margin", "internal"),
]
# report: (who may run it, whose answer has rows)
REPORT_ACCESS = {
    "pnl": (EVERYONE, "internal publisher b"),
    "attribution": ("internal publisher", "internal publisher"),
    "funnel": (EVERYONE, EVERYONE),
    "buyers": ("internal a b c", "internal a b c"),
    "repeat_callers": ("internal publisher", "internal publisher"),
    "missed_calls": (EVERYONE, "internal publisher b"),
    "heatmap": (EVERYONE, "internal publisher b"),
}
REPORT_FIELDS = [
    ("pnl", "campaign_id", "internal publisher b"),
    ("pnl", "calls", "internal publisher b"),
    ("pnl", "revenue", "internal b"),
    ("pnl", "payout", "internal publisher"),
    ("pnl", "margin", "internal"),
    ("attribution", "source", "internal publisher"),
    ("attribution", "conversion_rate", "internal publisher"),
    ("attribution", "payout", "internal publisher"),
    ("attribution", "cost_per_call", "internal publisher"),
    ("attribution", "revenue", "internal"),
    ("attribution", "revenue_per_call", "internal"),
    ("attribution", "margin", "internal"),
    ("funnel", "bids", EVERYONE),
    ("buyers", "buyer_id", "internal a b c"),
    ("buyers", "win_rate", "internal a b c"),
    ("missed_calls", "missed", "internal publisher b"),
    ("heatmap", "calls", "internal publisher b"),
    ("heatmap", "revenue", "internal b"),
]


def _failed_over_and_converted(client: TestClient, clock: ManualClock) -> tuple[Market, str]:
    market = build_market(client, bids=("50.00", "45.00", "40.00"))
    _, key = market.publisher
    offer = market.ping(key).json()
    call_id = client.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(key)).json()["call_id"]
    events = f"/v1/calls/{call_id}/events"
    failed_over = client.post(events, json={"type": "no_answer"}, headers=auth(key))
    assert failed_over.json()["destination"] == "+13105550201", failed_over.text  # buyer B
    client.post(events, json={"type": "answered"}, headers=auth(key)).raise_for_status()
    clock.advance(timedelta(seconds=90))
    done = client.post(events, json={"type": "completed", "duration_s": 90}, headers=auth(key))
    assert done.json()["revenue"] == "45.00", done.text
    b_key = list(market.buyers.values())[1]
    converted = client.post(
        f"/v1/calls/{call_id}/conversion", json={"value": "250.00"}, headers=auth(b_key)
    )
    assert converted.status_code == 204, converted.text
    return market, call_id


def _keys(market: Market) -> dict[str, str]:
    (_, a_key), (_, b_key), (_, c_key) = market.buyers.items()
    return {
        "admin": ADMIN_KEY,
        "finance": market.finance_key,
        "analyst": market.analyst_key,
        "publisher": market.publisher[1],
        "a": a_key,
        "b": b_key,
        "c": c_key,
    }


def _strangers(market: Market, viewer: str) -> list[str]:
    """Ids and numbers a viewer must never find anywhere in what it reads."""
    buyers = list(market.buyers)
    targets = {buyer: target for target, buyer in market.targets.items()}
    by_viewer = {"a": buyers[0], "b": buyers[1], "c": buyers[2]}
    own = by_viewer.get(viewer)
    if viewer in INTERNAL:
        return []
    found = [market.publisher[0]] if own is not None else []
    for n, buyer in enumerate(buyers):
        if buyer != own:
            found += [buyer, targets[buyer], f"+1310555020{n}"]
    return found


def _timeline_mismatches(
    client: TestClient, market: Market, call_id: str, viewer: str, key: str
) -> list[str]:
    response = client.get(f"/v1/calls/{call_id}", headers=auth(key))
    if viewer == "c":  # bid and lost: no party to the call
        return [] if response.status_code == 404 else [f"c reads the timeline: {response.text}"]
    if response.status_code != 200:
        return [f"{viewer}: timeline {response.status_code} {response.text}"]
    wrong = [
        f"{viewer} finds {s} in the timeline"
        for s in _strangers(market, viewer)
        if s in response.text
    ]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in response.json()["events"]:
        by_type.setdefault(event["type"], []).append(event)
    for event_type, spec in TIMELINE_EVENTS.items():
        if (event_type in by_type) != (viewer in _who(spec)):
            wrong.append(f"{viewer} {'sees' if event_type in by_type else 'misses'} {event_type}")
    wrong += [
        f"{viewer} sees {t}, which has no row here" for t in by_type if t not in TIMELINE_EVENTS
    ]
    for event_type, field, spec in TIMELINE_FIELDS:
        shown = any(field in e for e in by_type.get(event_type, []))
        if shown != (viewer in _who(spec)):
            wrong.append(f"{viewer} {'sees' if shown else 'misses'} {event_type}.{field}")
    own = dict(zip("abc", market.buyers, strict=True)).get(viewer)
    for event_type in ("BidReceived", "CallRouted") if own else ():
        ids = [e.get("buyer_id") for e in by_type.get(event_type, [])]
        if ids != [own]:
            wrong.append(f"{viewer} sees {event_type} of buyers {ids}")
    return wrong


def _list_mismatches(
    client: TestClient, market: Market, call_id: str, viewer: str, key: str
) -> list[str]:
    listed = client.get("/v1/calls", headers=auth(key))
    if listed.status_code != 200:
        return [f"{viewer}: list {listed.status_code} {listed.text}"]
    wrong = [
        f"{viewer} finds {s} in the list" for s in _strangers(market, viewer) if s in listed.text
    ]
    rows = listed.json()["items"]
    expected = [call_id] if viewer in _who(LIST_ROWS) else []
    if [r["call_id"] for r in rows] != expected:
        wrong.append(f"{viewer} lists {[r['call_id'] for r in rows]}")
    for row in rows:
        for field, spec in LIST_FIELDS:
            if (field in row) != (viewer in _who(spec)):
                wrong.append(f"{viewer} {'sees' if field in row else 'misses'} list {field}")
        if row.get("conversion_value", "250.00") != "250.00":
            wrong.append(f"{viewer} reads conversion value {row['conversion_value']}")
    return wrong


def _report_mismatches(client: TestClient, market: Market, viewer: str, key: str) -> list[str]:
    wrong: list[str] = []
    for report, (may_run, has_rows) in REPORT_ACCESS.items():
        answer = client.get(f"/v1/reports/{report}", headers=auth(key))
        if viewer not in _who(may_run):
            if answer.status_code != 403:
                wrong.append(f"{viewer} runs {report}: {answer.status_code}")
            continue
        if answer.status_code != 200:
            wrong.append(f"{viewer}: {report} {answer.status_code} {answer.text}")
            continue
        wrong += [
            f"{viewer} finds {s} in {report}"
            for s in _strangers(market, viewer)
            if s in answer.text
        ]
        rows = answer.json()["rows"]
        if bool(rows) != (viewer in _who(has_rows)):
            wrong.append(f"{viewer} reads {len(rows)} rows of {report}")
        for name, field, spec in REPORT_FIELDS:
            if name == report and rows:
                shown = all(field in r for r in rows)
                if shown != (viewer in _who(spec)):
                    wrong.append(f"{viewer} {'sees' if shown else 'misses'} {report}.{field}")
    return wrong


def test_each_role_sees_the_fields_the_table_gives_it(
    client: TestClient, clock: ManualClock, api_settings: Settings
) -> None:
    market, call_id = _failed_over_and_converted(client, clock)
    project(api_settings)
    wrong: list[str] = []
    for viewer, key in _keys(market).items():
        wrong += _timeline_mismatches(client, market, call_id, viewer, key)
        wrong += _list_mismatches(client, market, call_id, viewer, key)
        wrong += _report_mismatches(client, market, viewer, key)
    assert not wrong, "\n".join(wrong)
    b_key = list(market.buyers.values())[1]
    converted = client.get(f"/v1/calls/{call_id}", headers=auth(b_key)).json()["events"][-1]
    assert converted["type"] == "CallConverted"
    assert converted["value"] == "250.00"


def test_tenants_cannot_group_reports_by_the_other_side(
    client: TestClient, clock: ManualClock, api_settings: Settings
) -> None:
    market, _ = _failed_over_and_converted(client, clock)
    project(api_settings)
    keys = _keys(market)
    for viewer, dimension, status in [
        ("publisher", "buyer", 403),
        ("publisher", "target", 403),
        ("publisher", "vertical", 200),
        ("publisher", "planet", 422),
        ("b", "publisher", 403),
        ("b", "buyer", 200),
        ("analyst", "publisher", 200),
    ]:
        answer = client.get(
            "/v1/reports/pnl", params={"group_by": dimension}, headers=auth(keys[viewer])
        )
        assert answer.status_code == status, (viewer, dimension, answer.text)
    own = client.get("/v1/reports/pnl", params={"group_by": "buyer"}, headers=auth(keys["b"]))
    assert own.json()["rows"] == [
        {"buyer_id": list(market.buyers)[1], "calls": 1, "billable": 1, "revenue": "45.00"}
    ]
