"""Reading the set-up over HTTP: each route's scopes (admin, finance, buyer, publisher; another
tenant's object is 404), list pagination, history rows naming their author and time, lists
showing current values after a change, an API key's expiry (401 from then on) and listing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.clock import ManualClock, format_rfc3339
from ppcx.settings import Settings
from tests.api.conftest import ADMIN_KEY, Market, auth, build_market, project

pytestmark = pytest.mark.integration


def _get(client: TestClient, key: str, path: str, expect: int = 200, **params: Any) -> Any:
    response = client.get(path, headers=auth(key), params=params)
    assert response.status_code == expect, (path, response.status_code, response.text)
    return response.json()


def _all(client: TestClient, key: str, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a list, a page of one at a time (the cursors are followed)."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        page = _get(client, key, path, limit=1, **({"cursor": cursor} if cursor else {}), **params)
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the pages never ended")


@pytest.fixture
def market(client: TestClient) -> Market:
    return build_market(client)


def test_targets_one_from_the_store_and_lists_scoped_to_their_buyer(
    client: TestClient, market: Market, api_settings: Settings
) -> None:
    (buyer_a, key_a), (buyer_b, _key_b) = market.buyers.items()
    target_a = next(t for t, b in market.targets.items() if b == buyer_a)
    target_b = next(t for t, b in market.targets.items() if b == buyer_b)
    one = _get(client, key_a, f"/v1/targets/{target_a}")
    assert (one["id"], one["buyer_id"], one["bid"], one["status"]) == (
        target_a,
        buyer_a,
        "50.00",
        "active",
    )
    _get(client, key_a, f"/v1/targets/{target_b}", 404)  # another buyer's
    _get(client, key_a, "/v1/targets/tgt_nonesuch", 404)
    _get(client, key_a, "/v1/targets/..%2F..", 404)
    assert _get(client, ADMIN_KEY, f"/v1/targets/{target_b}")["buyer_id"] == buyer_b
    publisher_key = next(iter(market.publishers.values()))
    _get(client, publisher_key, f"/v1/targets/{target_a}", 403)
    _get(client, market.finance_key, "/v1/targets", 403)

    project(api_settings)
    assert [t["id"] for t in _all(client, key_a, "/v1/targets")] == [target_a]
    assert [t["id"] for t in _all(client, key_a, "/v1/targets", buyer_id=buyer_b)] == []
    every = _all(client, ADMIN_KEY, "/v1/targets", campaign_id=market.campaign_id)
    assert sorted(t["id"] for t in every) == sorted(market.targets)
    listed = next(t for t in every if t["id"] == target_a)
    assert {k: v for k, v in listed.items() if k in one} == one  # the list item is the GET
    assert listed["created_at"] is not None
    assert _get(client, ADMIN_KEY, "/v1/targets", status="paused")["items"] == []
    _get(client, ADMIN_KEY, "/v1/targets", 422, status="gone")
    _get(client, ADMIN_KEY, "/v1/targets", 422, cursor="!!!")


def test_a_change_shows_in_the_list_and_the_history_names_who_and_when(
    client: TestClient, market: Market, api_settings: Settings, clock: ManualClock
) -> None:
    (buyer_a, key_a), (_, key_b) = market.buyers.items()
    target_a = next(t for t, b in market.targets.items() if b == buyer_a)
    clock.advance(timedelta(minutes=5))
    changed_at = format_rfc3339(clock.now())
    patch = client.patch(
        f"/v1/targets/{target_a}",
        json={"buffer_s": 120, "caps": {"daily": 40}},
        headers=auth(key_a),
    )
    assert patch.status_code == 200, patch.text
    assert _get(client, key_a, f"/v1/targets/{target_a}") == patch.json()
    project(api_settings)
    (listed,) = _get(client, key_a, "/v1/targets")["items"]
    assert (listed["buffer_s"], listed["caps"]["daily"]) == (120, 40)
    assert listed["version"] == patch.json()["version"]
    assert listed["changed_at"] == changed_at
    history = _all(client, key_a, f"/v1/targets/{target_a}/history")
    assert [h["event"] for h in history] == ["Created", "RulesChanged"]
    assert history[1]["changes"] == {"buffer_s": 120, "caps": history[1]["changes"]["caps"]}
    assert history[1]["changes"]["caps"]["daily"] == 40
    assert history[1]["at"] == changed_at
    assert history[1]["by"].startswith("key_")  # the buyer's key id, never the key
    assert history[0]["by"] == "bootstrap"
    _get(client, key_b, f"/v1/targets/{target_a}/history", 404)
    campaign_history = _get(client, ADMIN_KEY, f"/v1/campaigns/{market.campaign_id}/history")
    assert campaign_history["items"][0]["event"] == "Created"
    _get(client, key_a, f"/v1/campaigns/{market.campaign_id}/history", 403)


def test_publishers_and_buyers_read_themselves_admin_reads_all(
    client: TestClient, market: Market, api_settings: Settings
) -> None:
    (pub_a, pkey_a), (pub_b, _) = market.publishers.items()
    (buyer_a, bkey_a), (buyer_b, _) = market.buyers.items()
    assert _get(client, pkey_a, f"/v1/publishers/{pub_a}")["name"] == "Acme Leads"
    _get(client, pkey_a, f"/v1/publishers/{pub_b}", 404)
    _get(client, bkey_a, f"/v1/publishers/{pub_a}", 403)
    buyer = _get(client, bkey_a, f"/v1/buyers/{buyer_a}")
    assert (buyer["time_zone"], buyer["posted"]) == ("America/Los_Angeles", "1000.00")
    _get(client, bkey_a, f"/v1/buyers/{buyer_b}", 404)
    project(api_settings)
    assert [p["id"] for p in _all(client, pkey_a, "/v1/publishers")] == [pub_a]
    assert sorted(p["id"] for p in _all(client, ADMIN_KEY, "/v1/publishers")) == sorted(
        market.publishers
    )
    assert [b["id"] for b in _all(client, bkey_a, "/v1/buyers")] == [buyer_a]
    finance = _all(client, market.finance_key, "/v1/buyers")
    assert sorted(b["id"] for b in finance) == sorted(market.buyers)
    assert {b["credit_limit"] for b in finance} == {"0.00"}
    _get(client, pkey_a, "/v1/buyers", 403)
    _get(client, market.analyst_key, "/v1/publishers", 403)


def test_publishers_read_the_campaigns_they_may_send_to(
    client: TestClient, market: Market, api_settings: Settings
) -> None:
    (pub_a, pkey_a), (pub_b, _) = market.publishers.items()
    other = market.admin(
        "POST",
        "/v1/campaigns",
        json={"name": "Solar", "vertical": "solar", "publisher_payout": {"fixed": "10.00"}},
    )["id"]
    seen = _get(client, pkey_a, f"/v1/campaigns/{market.campaign_id}")
    assert seen["allowed_publishers"] == [pub_a]  # not the other publishers' allow list
    _get(client, pkey_a, f"/v1/campaigns/{other}", 404)
    admin_view = _get(client, ADMIN_KEY, f"/v1/campaigns/{market.campaign_id}")
    assert admin_view["allowed_publishers"] == sorted([pub_a, pub_b])
    _get(client, next(iter(market.buyers.values())), "/v1/campaigns", 403)
    project(api_settings)
    (listed,) = _get(client, pkey_a, "/v1/campaigns")["items"]
    assert listed["id"] == market.campaign_id
    assert listed["allowed_publishers"] == [pub_a]
    every = _all(client, ADMIN_KEY, "/v1/campaigns")
    assert sorted(c["id"] for c in every) == sorted([market.campaign_id, other])
    mine = next(c for c in every if c["id"] == market.campaign_id)
    assert {k: v for k, v in mine.items() if k in admin_view} == admin_view


def test_numbers_and_pools_are_their_publishers(
    client: TestClient, market: Market, api_settings: Settings
) -> None:
    (pub_a, pkey_a), (pub_b, pkey_b) = market.publishers.items()
    market.admin(
        "POST",
        "/v1/numbers",
        json={
            "number": "+18005550100",
            "campaign_id": market.campaign_id,
            "publisher_id": pub_a,
            "source": "google",
        },
    )
    pool = market.admin(
        "POST",
        "/v1/number-pools",
        json={
            "name": "Landing",
            "campaign_id": market.campaign_id,
            "publisher_id": pub_b,
            "numbers": ["+18005550201", "+18005550202"],
        },
    )["id"]
    project(api_settings)
    assert [n["number"] for n in _all(client, pkey_a, "/v1/numbers")] == ["+18005550100"]
    b_numbers = _all(client, pkey_b, "/v1/numbers")
    assert [(n["number"], n["pool_id"]) for n in b_numbers] == [
        ("+18005550201", pool),
        ("+18005550202", pool),
    ]
    assert len(_all(client, ADMIN_KEY, "/v1/numbers")) == 3
    assert _get(client, pkey_a, "/v1/number-pools")["items"] == []
    (listed,) = _get(client, pkey_b, "/v1/number-pools")["items"]
    assert (listed["id"], listed["numbers"]) == (pool, ["+18005550201", "+18005550202"])
    _get(client, next(iter(market.buyers.values())), "/v1/numbers", 403)


def test_an_expired_key_is_refused_and_keys_are_listed_without_secrets(
    client: TestClient, market: Market, api_settings: Settings, clock: ManualClock
) -> None:
    expires_at = clock.now() + timedelta(hours=1)
    issued = market.admin(
        "POST",
        "/v1/api-keys",
        json={"role": "analyst", "label": "for a week", "expires_at": format_rfc3339(expires_at)},
    )
    assert issued["expires_at"] == format_rfc3339(expires_at)
    project(api_settings)
    _get(client, issued["api_key"], "/v1/calls")  # works, and its use is recorded
    for bad in (
        "2026-01-01T00:00:00Z",
        "tomorrow",
        format_rfc3339(clock.now() + timedelta(days=4000)),
    ):
        refused = client.post(
            "/v1/api-keys", json={"role": "analyst", "expires_at": bad}, headers=auth(ADMIN_KEY)
        )
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.json()["errors"][0]["field"] == "expires_at"
    clock.advance(timedelta(hours=1))
    expired = client.get("/v1/calls", headers=auth(issued["api_key"]))
    assert expired.status_code == 401
    assert expired.headers["www-authenticate"].startswith("Bearer")
    project(api_settings)
    keys = _all(client, ADMIN_KEY, "/v1/api-keys")
    mine = next(k for k in keys if k["id"] == issued["id"])
    assert mine["status"] == "expired"
    assert mine["label"] == "for a week"
    assert mine["expires_at"] == format_rfc3339(expires_at)
    assert mine["last_used_at"] is not None
    assert mine["created_by"] == "bootstrap"
    assert all("hash" not in name and name != "api_key" for k in keys for name in k)
    assert {k["role"] for k in keys} >= {"publisher", "buyer", "finance", "analyst"}
    _get(client, market.finance_key, "/v1/api-keys", 403)


def test_lists_before_any_projection_are_503(client: TestClient) -> None:
    _get(client, ADMIN_KEY, "/v1/targets", 503)


def _billed_call(client: TestClient, market: Market, buyer_key: str) -> str:
    _, publisher_key = market.publisher
    offer = market.ping(publisher_key).json()
    posted = client.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(publisher_key))
    call_id: str = posted.json()["call_id"]
    for event in ({"type": "answered"}, {"type": "completed", "duration_s": 300}):
        client.post(
            f"/v1/calls/{call_id}/events", json=event, headers=auth(publisher_key)
        ).raise_for_status()
    return call_id


def test_the_dispute_queue_by_status_and_buyer(
    client: TestClient, market: Market, api_settings: Settings
) -> None:
    (winner, winner_key), (_, other_key) = market.buyers.items()  # 50.00 outbids 45.00
    call_id = _billed_call(client, market, winner_key)
    opened = client.post(
        f"/v1/calls/{call_id}/dispute", json={"reason": "wrong number"}, headers=auth(winner_key)
    )
    assert opened.status_code == 201, opened.text
    dispute_id = opened.json()["dispute_id"]
    project(api_settings)
    (queued,) = _get(client, market.finance_key, "/v1/disputes", status="open")["items"]
    assert (queued["id"], queued["call_id"], queued["buyer_id"]) == (dispute_id, call_id, winner)
    assert (queued["status"], queued["reason"]) == ("open", "wrong number")
    assert _get(client, winner_key, "/v1/disputes")["items"] == [queued]
    assert _get(client, other_key, "/v1/disputes")["items"] == []
    _get(client, next(iter(market.publishers.values())), "/v1/disputes", 403)
    client.post(
        f"/v1/disputes/{dispute_id}/resolve",
        json={"accept": False, "note": "the recording is fine"},
        headers=auth(market.finance_key),
    ).raise_for_status()
    project(api_settings)
    assert _get(client, ADMIN_KEY, "/v1/disputes", status="open")["items"] == []
    (rejected,) = _get(client, ADMIN_KEY, "/v1/disputes", status="rejected")["items"]
    assert (rejected["note"], rejected["resolved_at"] is not None) == (
        "the recording is fine",
        True,
    )


def test_an_admin_moves_a_keys_expiry_and_a_past_time_stops_it_now(
    client: TestClient, market: Market, api_settings: Settings, clock: ManualClock
) -> None:
    issued = market.admin("POST", "/v1/api-keys", json={"role": "analyst"})
    path = f"/v1/api-keys/{issued['id']}/expiry"
    later = clock.now() + timedelta(hours=2)
    moved = client.put(path, json={"expires_at": format_rfc3339(later)}, headers=auth(ADMIN_KEY))
    assert moved.json() == {"id": issued["id"], "expires_at": format_rfc3339(later)}
    too_far = format_rfc3339(clock.now() + timedelta(days=4000))
    refused = client.put(path, json={"expires_at": too_far}, headers=auth(ADMIN_KEY))
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "expires_at"
    assert client.put(path, json={}, headers=auth(ADMIN_KEY)).status_code == 422
    other = client.put(
        path, json={"expires_at": format_rfc3339(later)}, headers=auth(issued["api_key"])
    )
    assert other.status_code == 403
    assert client.get("/v1/calls", headers=auth(issued["api_key"])).status_code != 401
    past = client.put(path, json={"expires_at": "2020-01-01T00:00:00Z"}, headers=auth(ADMIN_KEY))
    assert past.json()["expires_at"] == format_rfc3339(clock.now())
    assert client.get("/v1/calls", headers=auth(issued["api_key"])).status_code == 401
    # an expired key is never brought back; expiring it again changes nothing
    clock.advance(timedelta(minutes=1))
    back = client.put(path, json={"expires_at": format_rfc3339(later)}, headers=auth(ADMIN_KEY))
    assert back.status_code == 409
    again = client.put(path, json={"expires_at": "2020-01-01T00:00:00Z"}, headers=auth(ADMIN_KEY))
    assert again.json()["expires_at"] == past.json()["expires_at"]
    assert client.get("/v1/calls", headers=auth(issued["api_key"])).status_code == 401
    revoked = market.admin("POST", "/v1/api-keys", json={"role": "analyst"})
    client.delete(f"/v1/api-keys/{revoked['id']}", headers=auth(ADMIN_KEY)).raise_for_status()
    revoked_path = f"/v1/api-keys/{revoked['id']}/expiry"
    assert (
        client.put(
            revoked_path, json={"expires_at": format_rfc3339(later)}, headers=auth(ADMIN_KEY)
        ).status_code
        == 409
    )
    unknown = client.put(
        "/v1/api-keys/key_0123456789abcdef0123456789abcdef/expiry",
        json={"expires_at": format_rfc3339(later)},
        headers=auth(ADMIN_KEY),
    )
    assert unknown.status_code == 404
    project(api_settings)
    mine = next(k for k in _all(client, ADMIN_KEY, "/v1/api-keys") if k["id"] == issued["id"])
    assert mine["status"] == "expired"
