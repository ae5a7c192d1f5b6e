"""Each role's journey through HTTP, end to end, against real Redis, NATS and SQLite."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from domain.clock import ManualClock
from ppcx.settings import Settings
from tests.api.conftest import ADMIN_KEY, auth, build_market, event_count, project

pytestmark = pytest.mark.e2e


def test_publisher_pings_posts_and_the_call_is_billed(
    client: TestClient, clock: ManualClock, api_settings: Settings
) -> None:
    market = build_market(client)
    publisher_id, key = market.publisher
    ping = market.ping(key)
    assert ping.status_code == 200, ping.text
    offer = ping.json()
    assert offer["accepted"] is True
    assert offer["payout"] == "30.00"
    assert offer["bid_count"] == 2
    posted = client.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(key))
    assert posted.status_code == 200, posted.text
    assert posted.json()["destination"] == "+13105550200"  # the 50.00 bidder
    call_id = posted.json()["call_id"]
    again = client.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(key))
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"

    answered = client.post(
        f"/v1/calls/{call_id}/events", json={"type": "answered"}, headers=auth(key)
    )
    assert answered.status_code == 200, answered.text
    clock.advance(timedelta(seconds=75))
    done = client.post(
        f"/v1/calls/{call_id}/events",
        json={"type": "completed", "duration_s": 75},
        headers=auth(key),
    )
    assert done.status_code == 200, done.text
    assert done.json() == {
        "billable": True,
        "reason": "billable",
        "revenue": "50.00",
        "payout": "30.00",
    }

    timeline = client.get(f"/v1/calls/{call_id}", headers=auth(key)).json()
    types = [e["type"] for e in timeline["events"]]
    assert types[0] == "PingReceived"
    assert "CallBilled" in types
    assert not any(t.startswith("Bid") for t in types)  # a publisher never sees bids
    assert all("price" not in e and "revenue" not in e for e in timeline["events"])
    full = client.get(f"/v1/calls/{call_id}", headers=auth(ADMIN_KEY)).json()
    assert sum(e["type"] == "BidReceived" for e in full["events"]) == 2

    project(api_settings)
    calls = client.get("/v1/calls", headers=auth(key)).json()
    assert [c["call_id"] for c in calls["items"]] == [call_id]
    assert calls["items"][0]["payout"] == "30.00"
    assert "revenue" not in calls["items"][0]
    statement = client.get(
        f"/v1/statements/{publisher_id}",
        params={"from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"},
        headers=auth(key),
    )
    assert statement.status_code == 200, statement.text
    assert statement.json()["credits"] == "30.00"
    assert statement.json()["closing_balance"] == "30.00"
    assert statement.json()["billed_calls"] == 1


def test_failover_answers_the_next_destination_then_none(client: TestClient) -> None:
    market = build_market(client)
    _, key = market.publisher
    offer = market.ping(key).json()
    call_id = client.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(key)).json()["call_id"]
    first = client.post(
        f"/v1/calls/{call_id}/events", json={"type": "no_answer"}, headers=auth(key)
    )
    assert first.status_code == 200, first.text
    assert first.json()["destination"] == "+13105550201"
    assert first.json()["attempt"] == 2
    second = client.post(f"/v1/calls/{call_id}/events", json={"type": "busy"}, headers=auth(key))
    assert second.json()["destination"] is None


def test_buyer_bids_pauses_converts_disputes_and_finance_resolves(
    client: TestClient, clock: ManualClock, api_settings: Settings
) -> None:
    market = build_market(client)
    (low_target, low_buyer) = list(market.targets.items())[1]
    low_key = market.buyers[low_buyer]
    _, publisher_key = market.publisher
    # the 45.00 buyer outbids the 50.00 one through the API
    raised = client.put(
        f"/v1/targets/{low_target}/bid", json={"amount": "61.00"}, headers=auth(low_key)
    )
    assert raised.status_code == 204, raised.text
    offer = market.ping(publisher_key).json()
    call_id = client.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(publisher_key)).json()[
        "call_id"
    ]
    client.post(
        f"/v1/calls/{call_id}/events", json={"type": "answered"}, headers=auth(publisher_key)
    ).raise_for_status()
    billed = client.post(
        f"/v1/calls/{call_id}/events",
        json={"type": "completed", "duration_s": 300},
        headers=auth(publisher_key),
    ).json()
    assert billed["revenue"] == "61.00"
    account = client.get(f"/v1/buyers/{low_buyer}", headers=auth(low_key)).json()
    assert account["posted"] == "939.00"
    assert account["available"] == "939.00"

    converted = client.post(
        f"/v1/calls/{call_id}/conversion", json={"value": "250.00"}, headers=auth(low_key)
    )
    assert converted.status_code == 204, converted.text
    disputed = client.post(
        f"/v1/calls/{call_id}/dispute", json={"reason": "wrong number"}, headers=auth(low_key)
    )
    assert disputed.status_code == 201, disputed.text
    dispute_id = disputed.json()["dispute_id"]
    # a buyer cannot resolve its own dispute
    assert (
        client.post(
            f"/v1/disputes/{dispute_id}/resolve", json={"accept": True}, headers=auth(low_key)
        ).status_code
        == 403
    )
    resolved = client.post(
        f"/v1/disputes/{dispute_id}/resolve",
        json={"accept": True, "note": "checked the recording"},
        headers=auth(market.finance_key),
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["accepted"] is True
    assert (
        client.get(f"/v1/buyers/{low_buyer}", headers=auth(low_key)).json()["available"]
        == "1000.00"
    )

    paused = client.post(f"/v1/targets/{low_target}/pause", headers=auth(low_key))
    assert paused.status_code == 204, paused.text
    clock.advance(timedelta(minutes=5))
    offer = market.ping(publisher_key, number="+13105550999").json()
    call_2 = client.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(publisher_key)).json()
    assert call_2["destination"] == "+13105550200"  # the paused target gets nothing
    assert client.post(f"/v1/targets/{low_target}/resume", headers=auth(low_key)).status_code == 204

    project(api_settings)
    period = {"from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"}
    invoice = client.get(f"/v1/invoices/{low_buyer}", params=period, headers=auth(low_key))
    assert invoice.status_code == 200, invoice.text
    kinds = [line["kind"] for line in invoice.json()["lines"]]
    assert kinds == ["deposit", "post", "reversal"]
    assert invoice.json()["closing_balance"] == "1000.00"
    ledger = client.get("/v1/ledger/accounts", headers=auth(market.finance_key)).json()
    total = sum(
        int(a["debits_posted"].replace(".", "")) - int(a["credits_posted"].replace(".", ""))
        for a in ledger["accounts"]
    )
    assert total == 0  # double entry over every account
    mine = client.get("/v1/ledger/accounts", headers=auth(low_key)).json()
    assert [a["account"] for a in mine["accounts"]] == [f"buyer:{low_buyer}"]
    before = client.get(
        f"/v1/ledger/accounts/buyer:{low_buyer}",
        params={"as_of": "2026-03-02T15:00:00Z"},
        headers=auth(market.finance_key),
    )
    assert before.status_code == 200, before.text
    assert before.json()["posted"] == "1000.00"
    lines = client.get(
        "/v1/ledger/transfers", params={"limit": 2}, headers=auth(market.finance_key)
    ).json()
    assert len(lines["items"]) == 2
    assert lines["next_cursor"] is not None
    rest = client.get(
        "/v1/ledger/transfers",
        params={"cursor": lines["next_cursor"]},
        headers=auth(market.finance_key),
    ).json()
    assert rest["items"][0] != lines["items"][-1]


def test_analyst_reads_reports_and_tenants_see_their_own(
    client: TestClient, api_settings: Settings
) -> None:
    market = build_market(client)
    assert client.get("/v1/reports/pnl", headers=auth(market.analyst_key)).status_code == 503
    for publisher_id, key in market.publishers.items():
        offer = market.ping(key, number=f"+1310555{hash(publisher_id) % 10000:04d}").json()
        call_id = client.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(key)).json()[
            "call_id"
        ]
        client.post(
            f"/v1/calls/{call_id}/events", json={"type": "answered"}, headers=auth(key)
        ).raise_for_status()
        client.post(
            f"/v1/calls/{call_id}/events",
            json={"type": "completed", "duration_s": 120},
            headers=auth(key),
        ).raise_for_status()
    project(api_settings)
    pnl = client.get(
        "/v1/reports/pnl", params={"group_by": "publisher"}, headers=auth(market.analyst_key)
    )
    assert pnl.status_code == 200, pnl.text
    rows = pnl.json()["rows"]
    assert len(rows) == 2
    assert all(r["revenue"] == "50.00" and r["margin"] == "20.00" for r in rows)
    publisher_id, key = market.publisher
    own = client.get("/v1/reports/pnl", params={"group_by": "publisher"}, headers=auth(key)).json()[
        "rows"
    ]
    assert own == [{"publisher_id": publisher_id, "calls": 1, "billable": 1, "payout": "30.00"}]
    assert (
        client.get("/v1/reports/pnl", params={"group_by": "buyer"}, headers=auth(key)).status_code
        == 403
    )
    funnel = client.get("/v1/reports/funnel", headers=auth(market.analyst_key)).json()
    assert funnel["rows"][0]["pings"] == 2
    assert funnel["rows"][0]["billable"] == 2
    attribution = client.get(
        "/v1/reports/attribution",
        params={"group_by": "source,keyword"},
        headers=auth(market.analyst_key),
    ).json()
    assert attribution["rows"][0]["source"] == "google"
    bad = client.get(
        "/v1/reports/pnl", params={"group_by": "planet"}, headers=auth(market.analyst_key)
    )
    assert bad.status_code == 422
    assert event_count(api_settings) > 0


def test_operations_endpoints(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"event_store": "ok", "redis": "ok", "nats": "ok"}
    market = build_market(client)
    market.ping(market.publisher[1])
    metrics = client.get("/metrics").text
    assert 'ppcx_auctions_total{channel="api",outcome="accepted"} 1.0' in metrics
    assert "ppcx_event_append_seconds_count" in metrics
    assert "ppcx_ping_latency_seconds_bucket" in metrics
