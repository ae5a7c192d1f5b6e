"""Buyer auto-pause through HTTP (real Redis, NATS, SQLite): a target that leaves calls
unanswered is paused by its rules, stops winning at once, resumes through the API, and its
buyer's webhook receiver (real, on loopback) gets `target.auto_paused`. The replay audit
derives the pause again from the log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.clock import ManualClock
from eventstore.chain import chain_key
from eventstore.deliveries import FILE_NAME, DeliveryStore
from ppcx.bootstrap import Domain
from ppcx.settings import Settings
from ppcx.web import create_app
from replay.verify import verify
from tests.api.conftest import ADMIN_KEY, BASE_URL, Market, auth, build_market, project
from tests.support.waiting import until
from tests.webhooks.test_delivery import Receiver, receivers, relay, start  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def api_hook_settings(hook_settings: Settings) -> Settings:
    return hook_settings.model_copy(
        update={"bootstrap_admin_key": ADMIN_KEY, "public_base_url": BASE_URL}
    )


@pytest.fixture
def http(
    api_hook_settings: Settings, now_clock: ManualClock, redis_client: object
) -> Iterator[TestClient]:
    app = create_app(api_hook_settings, clock=now_clock)
    with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DeliveryStore]:
    opened = DeliveryStore(tmp_path / FILE_NAME)
    try:
        yield opened
    finally:
        opened.close()


def unanswered_call(market: Market, clock: ManualClock, number: str) -> dict[str, Any]:
    """A ping, posted, that ends without being answered → (the post's answer, the billing)."""
    client = market.client
    _, key = market.publisher
    offer = market.ping(key, number=number).json()
    assert offer["accepted"] is True, offer
    posted = client.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(key))
    assert posted.status_code == 200, posted.text
    clock.advance(timedelta(seconds=30))
    done = client.post(
        f"/v1/calls/{posted.json()['call_id']}/events",
        json={"type": "completed", "duration_s": 0},
        headers=auth(key),
    )
    assert done.status_code == 200, done.text
    assert done.json()["reason"] == "not_answered"
    return {"call_id": posted.json()["call_id"], "destination": posted.json()["destination"]}


def target_of(market: Market, buyer_index: int) -> tuple[str, str, str]:
    """(target id, buyer id, buyer key) of the buyer that bid `build_market`'s nth bid."""
    target_id, buyer_id = list(market.targets.items())[buyer_index]
    return target_id, buyer_id, market.buyers[buyer_id]


def get_target(market: Market, target_id: str, key: str) -> dict[str, Any]:
    found = market.client.get(f"/v1/targets/{target_id}", headers=auth(key))
    assert found.status_code == 200, found.text
    body: dict[str, Any] = found.json()
    return body


async def test_three_unanswered_calls_pause_the_target_and_its_buyer_hears(
    http: TestClient,
    domain: Domain,
    api_hook_settings: Settings,
    now_clock: ManualClock,
    store: DeliveryStore,
    receivers: list[Receiver],  # noqa: F811
) -> None:
    market = build_market(http)
    target_id, buyer_id, buyer_key = target_of(market, 0)  # the 50.00 bidder: it wins
    other_target, _, other_key = target_of(market, 1)
    buyer_rx, other_rx, admin_rx = receivers[:3]
    for rx, key in ((buyer_rx, buyer_key), (other_rx, other_key), (admin_rx, ADMIN_KEY)):
        made = http.post(
            "/v1/webhooks",
            json={"url": rx.url + "/hook", "events": ["target.auto_paused", "call.completed"]},
            headers=auth(key),
        )
        assert made.status_code == 201, made.text
    assert get_target(market, target_id, buyer_key)["auto_pause"] == [
        {"unanswered": 3, "window_s": 3600},
        {"unanswered": 5, "window_s": 86400},
    ]

    calls = [unanswered_call(market, now_clock, f"+1310555{n:04d}") for n in range(3)]
    assert {c["destination"] for c in calls} == {"+13105550200"}  # all three went to it
    assert get_target(market, target_id, buyer_key)["status"] == "paused"
    assert get_target(market, other_target, other_key)["status"] == "active"

    # the 4th ping is not won by it: the other buyer's 45.00 wins, at once
    _, publisher_key = market.publisher
    offer = market.ping(publisher_key, number="+13105559999").json()
    assert offer["accepted"] is True
    posted = http.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(publisher_key))
    assert posted.json()["destination"] == "+13105550201"

    await relay(domain, api_hook_settings)
    running = start(domain, api_hook_settings, now_clock, store)
    try:
        await until(
            lambda: (
                any(r.json()["type"] == "target.auto_paused" for r in buyer_rx.delivered())
                and any(r.json()["type"] == "target.auto_paused" for r in admin_rx.delivered())
            ),
            "the buyer's and the admin's auto-pause webhooks",
        )
    finally:
        await running.halt()
    paused = [r.json() for r in buyer_rx.delivered() if r.json()["type"] == "target.auto_paused"]
    assert len(paused) == 1
    data = paused[0]["data"]
    assert data["target_id"] == target_id
    assert data["call_ids"] == [c["call_id"] for c in calls]
    assert data["rule"] == {"unanswered": 3, "window_s": 3600}
    assert data["rule_version"] == 1
    assert "by" not in data  # the owner's fields only
    admin_paused = [
        r.json() for r in admin_rx.delivered() if r.json()["type"] == "target.auto_paused"
    ]
    assert admin_paused[0]["data"]["by"] == "system"
    assert not [r for r in other_rx.requests if r.json()["type"] == "target.auto_paused"]
    assert buyer_id.encode() not in b"".join(r.body for r in other_rx.requests)

    # its buyer resumes it; it wins again
    resumed = http.post(f"/v1/targets/{target_id}/resume", headers=auth(buyer_key))
    assert resumed.status_code == 204, resumed.text
    again = unanswered_call(market, now_clock, "+13105558888")
    assert again["destination"] == "+13105550200"
    assert get_target(market, target_id, buyer_key)["status"] == "active"  # counting afresh

    assert api_hook_settings.audit_key is not None
    report = verify(domain.app.store.read_chained, chain_key(api_hook_settings.audit_key))
    assert report.ok, report.failures
    assert report.checked["auto_pauses"] == 1


async def test_a_custom_rule_and_bad_rules(
    http: TestClient,
    now_clock: ManualClock,
    api_hook_settings: Settings,
) -> None:
    market = build_market(http)
    target_id, _, buyer_key = target_of(market, 0)
    for bad, field in (
        ({"auto_pause": [{"unanswered": 0, "window_s": 3600}]}, "auto_pause.0.unanswered"),
        ({"auto_pause": [{"unanswered": 2, "window_s": 5}]}, "auto_pause.0.window_s"),
        ({"auto_pause": [{"unanswered": 2}]}, "auto_pause.0.window_s"),
        ({"auto_pause": [{"unanswered": 2, "window_s": 60}] * 6}, "auto_pause"),
        ({"auto_pause": {"unanswered": 2, "window_s": 60}}, "auto_pause"),
    ):
        refused = http.patch(f"/v1/targets/{target_id}", json=bad, headers=auth(buyer_key))
        assert refused.status_code == 422, (bad, refused.text)
        fields = {e["field"] for e in refused.json()["errors"]}
        assert field in fields, (bad, refused.json())
    assert get_target(market, target_id, buyer_key)["version"] == 1  # nothing recorded

    rule = [{"unanswered": 2, "window_s": 600}]
    changed = http.patch(
        f"/v1/targets/{target_id}", json={"auto_pause": rule}, headers=auth(buyer_key)
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["auto_pause"] == rule
    unanswered_call(market, now_clock, "+13105550001")
    now_clock.advance(timedelta(seconds=600))  # the first falls out of the window
    unanswered_call(market, now_clock, "+13105550002")
    assert get_target(market, target_id, buyer_key)["status"] == "active"
    unanswered_call(market, now_clock, "+13105550003")
    assert get_target(market, target_id, buyer_key)["status"] == "paused"
    project(api_hook_settings)  # the list (the projection) says so too
    listed = http.get("/v1/targets", headers=auth(buyer_key)).json()["items"]
    assert [(t["status"], t["auto_pause"]) for t in listed] == [("paused", rule)]

    never = http.patch(f"/v1/targets/{target_id}", json={"auto_pause": []}, headers=auth(ADMIN_KEY))
    assert never.status_code == 200, never.text
    assert never.json()["auto_pause"] == []
    http.post(f"/v1/targets/{target_id}/resume", headers=auth(ADMIN_KEY)).raise_for_status()
    for n in range(4):
        unanswered_call(market, now_clock, f"+1310555100{n}")
    assert get_target(market, target_id, buyer_key)["status"] == "active"


async def test_a_call_that_fails_over_to_its_end_counts_at_the_last_target(
    http: TestClient, now_clock: ManualClock
) -> None:
    market = build_market(http)
    first, _, first_key = target_of(market, 0)
    last, _, last_key = target_of(market, 1)
    one = [{"unanswered": 1, "window_s": 600}]
    for target_id, key in ((first, first_key), (last, last_key)):
        changed = http.patch(
            f"/v1/targets/{target_id}", json={"auto_pause": one}, headers=auth(key)
        )
        assert changed.status_code == 200, changed.text
    _, publisher_key = market.publisher
    offer = market.ping(publisher_key).json()
    posted = http.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(publisher_key))
    call_id = posted.json()["call_id"]
    for kind in ("no_answer", "busy"):  # to the second target, then no target left
        moved = http.post(
            f"/v1/calls/{call_id}/events", json={"type": kind}, headers=auth(publisher_key)
        )
        assert moved.status_code == 200, moved.text
    assert get_target(market, last, last_key)["status"] == "paused"
    assert get_target(market, first, first_key)["status"] == "active"  # it handed the call on
