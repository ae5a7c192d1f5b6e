"""A campaign's `keywords` through the API: set by PATCH (a `Campaign.RulesChanged`),
normalised, shown; strict input names the bad field."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import ADMIN_KEY, api_settings, auth, build_market, client

pytestmark = pytest.mark.integration
__all__ = ["api_settings", "client"]  # fixtures of the API suite


def test_an_admin_sets_a_campaigns_keywords(client: TestClient) -> None:
    market = build_market(client)
    path = f"/v1/campaigns/{market.campaign_id}"
    changed = client.patch(
        path,
        json={"keywords": {"phrases": ["Appointment", "not  interested", "appointment"]}},
        headers=auth(ADMIN_KEY),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["keywords"] == {"phrases": ["appointment", "not interested"]}
    version = changed.json()["version"]
    again = client.patch(
        path,
        json={"keywords": {"phrases": ["appointment", "not interested"]}},
        headers=auth(ADMIN_KEY),
    )
    assert again.json()["version"] == version  # nothing changed: nothing recorded

    for body, field in (
        ({"keywords": {"phrases": "quote"}}, "keywords"),
        ({"keywords": {"phrases": [""]}}, "keywords"),
        ({"keywords": {"phrases": ["..."]}}, "keywords"),
        ({"keywords": {"words": ["quote"]}}, "keywords"),
    ):
        bad = client.patch(path, json=body, headers=auth(ADMIN_KEY))
        assert bad.status_code == 422, (body, bad.text)
        assert bad.json()["errors"][0]["field"].startswith(field), bad.json()
    _, publisher_key = market.publisher
    refused = client.patch(path, json={"keywords": {"phrases": []}}, headers=auth(publisher_key))
    assert refused.status_code in (403, 404)


def test_a_campaign_is_created_with_keywords(client: TestClient) -> None:
    created = client.post(
        "/v1/campaigns",
        json={
            "name": "Solar",
            "vertical": "solar",
            "publisher_payout": {"fixed": "20.00"},
            "keywords": {"phrases": ["Quote", "wrong number"]},
        },
        headers=auth(ADMIN_KEY),
    )
    assert created.status_code == 201, created.text
    campaign_id = created.json()["id"]
    shown = client.get(f"/v1/campaigns/{campaign_id}", headers=auth(ADMIN_KEY)).json()
    assert shown["keywords"] == {"phrases": ["quote", "wrong number"]}
    assert shown["version"] == 2  # Created, then RulesChanged in the same save
    plain = client.post(
        "/v1/campaigns",
        json={"name": "Legal", "vertical": "legal", "publisher_payout": {"fixed": "20.00"}},
        headers=auth(ADMIN_KEY),
    )
    shown = client.get(f"/v1/campaigns/{plain.json()['id']}", headers=auth(ADMIN_KEY)).json()
    assert (shown["keywords"], shown["version"]) == (None, 1)
