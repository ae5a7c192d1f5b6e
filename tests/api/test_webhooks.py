"""Webhook subscriptions over HTTP: registration (the secret once), reads, changes, rotation,
removal, tenancy, the outbound URL rules and the list from the projections."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from domain.clock import ManualClock
from ppcx.secrets import secret_key
from ppcx.settings import Settings
from ppcx.web import create_app
from tests.api.conftest import ADMIN_KEY, BASE_URL, Market, auth, build_market, event_count, project
from webhooks.secrets import secret_for

HOOK = {"url": "https://hooks.example.com/ppcx", "events": ["call.completed", "call.billed"]}


def _register(client: TestClient, key: str, **body: Any) -> Any:
    return client.post("/v1/webhooks", json={**HOOK, **body}, headers=auth(key))


def _keys(market: Market) -> tuple[str, str, str]:
    """A publisher's, a buyer's and the other buyer's key."""
    (_, publisher), (_, buyer), (_, other) = (
        market.publisher,
        *list(market.buyers.items())[:2],
    )
    return publisher, buyer, other


def test_each_subscriber_registers_and_sees_the_secret_once(
    client: TestClient, api_settings: Settings
) -> None:
    market = build_market(client)
    publisher, buyer, _ = _keys(market)
    for key, role in ((publisher, "publisher"), (buyer, "buyer"), (ADMIN_KEY, "admin")):
        created = _register(client, key, method="POST", description="CRM")
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["owner_role"] == role
        assert body["status"] == "active"
        assert body["events"] == HOOK["events"]
        assert body["secret"] == secret_for(secret_key(api_settings), body["id"], 1)
        read = client.get(f"/v1/webhooks/{body['id']}", headers=auth(key))
        assert read.status_code == 200
        assert "secret" not in read.json()
        assert body["secret"] not in read.text


def test_an_admin_webhook_has_no_owner(client: TestClient) -> None:
    body = _register(client, ADMIN_KEY).json()
    assert body["owner_id"] is None


def test_rotation_gives_a_new_secret_once(client: TestClient, api_settings: Settings) -> None:
    created = _register(client, ADMIN_KEY).json()
    rotated = client.post(f"/v1/webhooks/{created['id']}/secret", headers=auth(ADMIN_KEY))
    assert rotated.status_code == 200
    body = rotated.json()
    assert body["secret"] != created["secret"]
    assert body["secret_version"] == 2
    assert body["secret"] == secret_for(secret_key(api_settings), created["id"], 2)


def test_bad_urls_are_refused_and_nothing_is_recorded(
    client: TestClient, api_settings: Settings
) -> None:
    before = event_count(api_settings)
    for url in (
        "ftp://hooks.example.com/x",
        "https://user:pw@hooks.example.com/x",
        "http://127.0.0.1:8080/hook",
        "http://10.1.2.3/hook",
        "http://[::1]/hook",
    ):
        refused = _register(client, ADMIN_KEY, url=url)
        assert refused.status_code == 422, url
        assert [e["field"] for e in refused.json()["errors"]] == ["url"]
    assert event_count(api_settings) == before


def test_an_allowed_network_admits_its_addresses(
    api_settings: Settings, clock: ManualClock, redis_client: object
) -> None:
    settings = api_settings.model_copy(update={"webhook_allowed_networks": "127.0.0.0/8"})
    with TestClient(create_app(settings, clock=clock), base_url=BASE_URL) as client:
        admitted = _register(client, ADMIN_KEY, url="http://127.0.0.1:8080/hook")
        refused = _register(client, ADMIN_KEY, url="http://10.1.2.3/hook")
    assert admitted.status_code == 201
    assert refused.status_code == 422


def test_unknown_event_types_and_repeats_are_refused(client: TestClient) -> None:
    unknown = _register(client, ADMIN_KEY, events=["call.exploded"])
    twice = _register(client, ADMIN_KEY, events=["call.billed", "call.billed"])
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"].startswith("events")
    assert twice.status_code == 422


def test_a_pixel_takes_placeholders_a_post_webhook_does_not(client: TestClient) -> None:
    url = "https://px.example.com/c/{call_id}?payout={payout}"
    assert _register(client, ADMIN_KEY, url=url, method="GET").status_code == 201
    assert _register(client, ADMIN_KEY, url=url, method="POST").status_code == 422


def test_another_tenants_webhook_is_unknown(client: TestClient) -> None:
    market = build_market(client)
    publisher, buyer, other = _keys(market)
    webhook_id = _register(client, buyer).json()["id"]
    admin_hook = _register(client, ADMIN_KEY).json()["id"]
    unknown = "whk_" + "0" * 32
    for key, target in ((other, webhook_id), (publisher, webhook_id), (buyer, admin_hook)):
        for method, path in (
            ("GET", f"/v1/webhooks/{target}"),
            ("PATCH", f"/v1/webhooks/{target}"),
            ("DELETE", f"/v1/webhooks/{target}"),
            ("POST", f"/v1/webhooks/{target}/secret"),
        ):
            kwargs: dict[str, Any] = {"json": {"status": "paused"}} if method == "PATCH" else {}
            answer = client.request(method, path, headers=auth(key), **kwargs)
            assert answer.status_code == 404, (method, path)
    theirs = client.get(f"/v1/webhooks/{webhook_id}", headers=auth(other)).json()
    missing = client.get(f"/v1/webhooks/{unknown}", headers=auth(other)).json()
    assert theirs["detail"].replace(webhook_id, unknown) == missing["detail"]
    assert client.get(f"/v1/webhooks/{webhook_id}", headers=auth(buyer)).status_code == 200


def test_finance_and_analyst_keys_are_forbidden(client: TestClient) -> None:
    market = build_market(client)
    for key in (market.finance_key, market.analyst_key):
        assert _register(client, key).status_code == 403
        assert client.get("/v1/webhooks", headers=auth(key)).status_code == 403


def test_pause_resume_change_and_remove(client: TestClient) -> None:
    webhook_id = _register(client, ADMIN_KEY).json()["id"]
    path = f"/v1/webhooks/{webhook_id}"
    paused = client.patch(path, json={"status": "paused"}, headers=auth(ADMIN_KEY))
    assert paused.json()["status"] == "paused"
    changed = client.patch(
        path,
        json={"status": "active", "events": ["call.posted"], "description": "new"},
        headers=auth(ADMIN_KEY),
    ).json()
    assert changed["status"] == "active"
    assert changed["events"] == ["call.posted"]
    assert changed["description"] == "new"
    same = client.patch(path, json={"description": "new"}, headers=auth(ADMIN_KEY)).json()
    assert same["version"] == changed["version"]
    bad = client.patch(path, json={"url": "http://127.0.0.1/"}, headers=auth(ADMIN_KEY))
    assert bad.status_code == 422
    assert client.delete(path, headers=auth(ADMIN_KEY)).status_code == 204
    assert client.get(path, headers=auth(ADMIN_KEY)).status_code == 404
    assert client.delete(path, headers=auth(ADMIN_KEY)).status_code == 404


def test_the_list_shows_each_key_its_own(client: TestClient, api_settings: Settings) -> None:
    market = build_market(client)
    publisher, buyer, other = _keys(market)
    mine = _register(client, buyer).json()["id"]
    _register(client, other)
    _register(client, publisher)
    removed = _register(client, buyer).json()["id"]
    client.delete(f"/v1/webhooks/{removed}", headers=auth(buyer))
    client.patch(f"/v1/webhooks/{mine}", json={"status": "paused"}, headers=auth(buyer))
    project(api_settings)
    listed = client.get("/v1/webhooks", headers=auth(buyer))
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert [item["id"] for item in items] == [mine]
    assert items[0]["status"] == "paused"
    assert items[0]["events"] == HOOK["events"]
    assert "secret" not in items[0]
    every = client.get("/v1/webhooks", headers=auth(ADMIN_KEY)).json()["items"]
    assert len(every) == 3
