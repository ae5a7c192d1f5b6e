"""Tenancy, authentication, problem details and bad input (which must record nothing)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.services import KeyCache
from handlers import parse
from ppcx.bootstrap import build_domain
from ppcx.settings import Settings
from tests.api.conftest import ADMIN_KEY, auth, build_market, event_count

pytestmark = pytest.mark.e2e


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["type"].startswith("https://")
    assert "Traceback" not in response.text
    return body


def test_publisher_a_cannot_read_or_act_on_publisher_bs_call(client: TestClient) -> None:
    market = build_market(client)
    (_, a_key), (b_id, b_key) = list(market.publishers.items())
    offer = market.ping(b_key).json()
    call_id = client.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(b_key)).json()[
        "call_id"
    ]
    _problem(client.get(f"/v1/calls/{call_id}", headers=auth(a_key)), 404)
    _problem(
        client.post(f"/v1/calls/{call_id}/events", json={"type": "answered"}, headers=auth(a_key)),
        404,
    )
    assert client.get(f"/v1/calls/{call_id}", headers=auth(b_key)).status_code == 200
    _problem(
        client.get(
            f"/v1/statements/{b_id}",
            params={"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"},
            headers=auth(a_key),
        ),
        404,
    )


def test_buyers_see_only_calls_they_won(client: TestClient) -> None:
    market = build_market(client)
    _, key = market.publisher
    offer = market.ping(key).json()
    call_id = client.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(key)).json()["call_id"]
    (winner, winner_key), (_, loser_key) = list(market.buyers.items())
    timeline = client.get(f"/v1/calls/{call_id}", headers=auth(winner_key))
    assert timeline.status_code == 200
    bids = [e for e in timeline.json()["events"] if e["type"] == "BidReceived"]
    assert [b["buyer_id"] for b in bids] == [winner]  # its own bid only
    assert all("publisher_id" not in e for e in timeline.json()["events"])
    _problem(client.get(f"/v1/calls/{call_id}", headers=auth(loser_key)), 404)
    _problem(client.get(f"/v1/buyers/{winner}", headers=auth(loser_key)), 404)
    _problem(client.post(f"/v1/calls/{call_id}/conversion", json={}, headers=auth(loser_key)), 404)


def test_wrong_role_is_403_and_unknown_or_revoked_key_is_401(client: TestClient) -> None:
    market = build_market(client)
    buyer_id, buyer_key = next(iter(market.buyers.items()))
    body = _problem(client.post("/v1/publishers", json={"name": "x"}, headers=auth(buyer_key)), 403)
    assert "buyer" in body["detail"]
    _problem(client.post("/v1/pings", json={}, headers=auth(market.analyst_key)), 403)
    _problem(client.get("/v1/calls"), 401)
    _problem(client.get("/v1/calls", headers=auth("ppcx_" + "0" * 32 + "_nope")), 401)
    _problem(client.get("/v1/calls", headers=auth("garbage")), 401)
    issued = market.admin("POST", "/v1/api-keys", json={"role": "buyer", "owner_id": buyer_id})
    assert client.get(f"/v1/buyers/{buyer_id}", headers=auth(issued["api_key"])).status_code == 200
    revoked = client.delete(f"/v1/api-keys/{issued['id']}", headers=auth(ADMIN_KEY))
    assert revoked.status_code == 204
    _problem(client.get(f"/v1/buyers/{buyer_id}", headers=auth(issued["api_key"])), 401)
    # a key's secret part is checked, not only its id
    forged = issued["api_key"].rsplit("_", 1)[0] + "_forged"
    _problem(client.get(f"/v1/buyers/{buyer_id}", headers=auth(forged)), 401)


def test_a_key_revoked_by_another_process_is_refused_once_the_cache_ages(
    client: TestClient, api_settings: Settings
) -> None:
    """Keys are re-read from the store at most every second (`KeyCache`): a revocation made
    elsewhere (another worker, `ppcx keys revoke`) takes effect here within that age."""
    now_s = [1000.0]
    services = client.app.state.services  # type: ignore[attr-defined]
    services.known_keys = KeyCache(1.0, monotonic_s=lambda: now_s[0])
    market = build_market(client)
    buyer_id = next(iter(market.buyers))
    issued = market.admin("POST", "/v1/api-keys", json={"role": "buyer", "owner_id": buyer_id})
    headers = auth(issued["api_key"])
    assert client.get(f"/v1/buyers/{buyer_id}", headers=headers).status_code == 200
    elsewhere = build_domain(api_settings)
    try:
        elsewhere.setup.revoke_api_key(parse.revoke_api_key(key_id=issued["id"], by="cli"))
    finally:
        elsewhere.close()
    now_s[0] += 0.5  # within the cache's age: still the key as last read
    assert client.get(f"/v1/buyers/{buyer_id}", headers=headers).status_code == 200
    now_s[0] += 0.6
    _problem(client.get(f"/v1/buyers/{buyer_id}", headers=headers), 401)


PING = {"campaign_id": "CAMPAIGN", "caller": {"number": "+13105550123", "state": "CA"}}
BAD_INPUTS: list[tuple[str, str, str, Any, int, str]] = [
    # (name, method, path, body, status, field named in errors or "")
    (
        "missing campaign",
        "POST",
        "/v1/pings",
        {"caller": {"number": "+13105550123"}},
        422,
        "campaign_id",
    ),
    ("mistyped caller", "POST", "/v1/pings", {**PING, "caller": "+13105550123"}, 422, "caller"),
    ("unknown field", "POST", "/v1/pings", {**PING, "campain": "x"}, 422, "campain"),
    (
        "invalid phone",
        "POST",
        "/v1/pings",
        {**PING, "caller": {"number": "555-0123"}},
        422,
        "caller.number",
    ),
    (
        "too short phone",
        "POST",
        "/v1/pings",
        {**PING, "caller": {"number": "+1310"}},
        422,
        "caller.number",
    ),
    ("unknown campaign", "POST", "/v1/pings", {**PING, "campaign_id": "cmp_" + "0" * 32}, 404, ""),
    ("float money", "POST", "/v1/buyers/BUYER/deposits", {"amount": 10.5}, 422, "amount"),
    ("negative money", "POST", "/v1/buyers/BUYER/deposits", {"amount": "-10.00"}, 422, "amount"),
    ("three decimals", "POST", "/v1/buyers/BUYER/deposits", {"amount": "10.005"}, 422, "amount"),
    ("zero deposit", "POST", "/v1/buyers/BUYER/deposits", {"amount": "0.00"}, 422, "amount"),
    ("unknown buyer", "POST", f"/v1/buyers/buy_{'0' * 32}/deposits", {"amount": "1.00"}, 404, ""),
    ("float bid", "PUT", "/v1/targets/TARGET/bid", {"amount": 61}, 422, "amount"),
    ("negative bid", "PUT", "/v1/targets/TARGET/bid", {"amount": "-1.00"}, 422, "amount"),
    (
        "bad time zone",
        "POST",
        "/v1/buyers",
        {"name": "x", "time_zone": "Mars/Olympus", "credit_limit": "0.00"},
        422,
        "time_zone",
    ),
    (
        "share over one",
        "POST",
        "/v1/campaigns",
        {"name": "x", "vertical": "legal", "publisher_payout": {"share": "1.5"}},
        422,
        "publisher_payout",
    ),
    (
        "bad destination",
        "POST",
        "/v1/targets",
        {"buyer_id": "BUYER", "campaign_id": "CAMPAIGN", "destination": "call me", "bid": "10.00"},
        422,
        "destination",
    ),
    (
        "bid and rtb",
        "POST",
        "/v1/targets",
        {
            "buyer_id": "BUYER",
            "campaign_id": "CAMPAIGN",
            "destination": "+13105550100",
            "bid": "10.00",
            "rtb_url": "http://127.0.0.1:9/bid",
        },
        422,
        "",
    ),
    ("unknown event type", "POST", "/v1/calls/call_0/events", {"type": "exploded"}, 422, "type"),
    ("not json", "POST", "/v1/pings", b"{not json", 422, ""),
]


@pytest.mark.parametrize(
    ("name", "method", "path", "body", "status", "field"),
    BAD_INPUTS,
    ids=[row[0] for row in BAD_INPUTS],
)
def test_bad_input_is_a_problem_and_records_nothing(
    client: TestClient,
    api_settings: Settings,
    name: str,
    method: str,
    path: str,
    body: Any,
    status: int,
    field: str,
) -> None:
    market = build_market(client)
    buyer_id = next(iter(market.buyers))
    target_id = next(iter(market.targets))
    _, publisher_key = market.publisher
    path = path.replace("BUYER", buyer_id).replace("TARGET", target_id)
    if isinstance(body, dict):
        body = {
            k: (
                v.replace("CAMPAIGN", market.campaign_id).replace("BUYER", buyer_id)
                if isinstance(v, str)
                else v
            )
            for k, v in body.items()
        }
    key = publisher_key if path.startswith(("/v1/pings", "/v1/calls")) else ADMIN_KEY
    before = event_count(api_settings)
    kwargs: dict[str, Any] = (
        {"content": body, "headers": {**auth(key), "content-type": "application/json"}}
        if isinstance(body, bytes)
        else {"json": body, "headers": auth(key)}
    )
    problem = _problem(client.request(method, path, **kwargs), status)
    if field:
        named = [e["field"] for e in problem.get("errors", [])]
        assert any(f == field or f.startswith(field + ".") for f in named), problem
    assert event_count(api_settings) == before, f"{name} recorded events"


def test_oversized_body_and_wrong_content_type(client: TestClient, api_settings: Settings) -> None:
    market = build_market(client)
    _, key = market.publisher
    before = event_count(api_settings)
    huge = {
        "campaign_id": market.campaign_id,
        "caller": {"number": "+13105550123"},
        "tags": {"pad": "x" * (65 * 1024)},
    }
    _problem(client.post("/v1/pings", json=huge, headers=auth(key)), 413)
    _problem(
        client.post(
            "/v1/pings",
            content=b"campaign_id=x",
            headers={**auth(key), "content-type": "text/plain"},
        ),
        415,
    )
    _problem(
        client.post("/v1/pings", data={"campaign_id": market.campaign_id}, headers=auth(key)), 415
    )
    assert event_count(api_settings) == before


def test_idempotency_key_replays_and_refuses_another_body(
    client: TestClient, api_settings: Settings
) -> None:
    market = build_market(client)
    _, key = market.publisher
    body = {"campaign_id": market.campaign_id, "caller": {"number": "+13105550777"}}
    headers = {**auth(key), "Idempotency-Key": "ping-0001"}
    first = client.post("/v1/pings", json=body, headers=headers)
    assert first.status_code == 200
    after_first = event_count(api_settings)
    retry = client.post("/v1/pings", json=body, headers=headers)
    assert retry.status_code == 200
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert event_count(api_settings) == after_first  # nothing new recorded
    other = client.post("/v1/pings", json={**body, "tags": {"a": "b"}}, headers=headers)
    _problem(other, 409)
    # keys are per API key: another publisher's same key is its own request
    _, other_key = list(market.publishers.items())[1]
    other_caller = {**body, "caller": {"number": "+13105550778"}}
    fresh = client.post(
        "/v1/pings", json=other_caller, headers={**auth(other_key), "Idempotency-Key": "ping-0001"}
    )
    assert fresh.status_code == 200
    assert fresh.json()["ping_id"] != first.json()["ping_id"]
    # a deposit retried after a lost response is applied once
    deposit = {"amount": "25.00", "reference": "wire 7"}
    buyer_id = next(iter(market.buyers))
    dep_headers = {**auth(market.finance_key), "Idempotency-Key": "dep-7"}
    one = client.post(f"/v1/buyers/{buyer_id}/deposits", json=deposit, headers=dep_headers)
    two = client.post(f"/v1/buyers/{buyer_id}/deposits", json=deposit, headers=dep_headers)
    assert one.json() == two.json()
    balance = client.get(f"/v1/buyers/{buyer_id}", headers=auth(market.finance_key)).json()
    assert balance["posted"] == "1025.00"
