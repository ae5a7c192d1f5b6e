"""The admin's pages over the real app: API keys (issue with the secret shown once, expire,
revoke: events by the signed-in user, and the key answered 401 at once), the block list (add,
take off), the set-up lists, the health page and its partial (a dependency down shows as down),
refusals in the API's words with nothing recorded, and other roles refused."""

from __future__ import annotations

import re
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.call_state import BidOutcomeKind, BidSource
from domain.commands import BidOutcome
from portal.invites import invite
from ppcx.settings import Settings
from tests.api.conftest import ADMIN_KEY, BASE_URL, auth, build_market, event_count, project
from tests.portal.conftest import Browser, accept, invite_user
from tests.support.market import Market as SupportMarket

pytestmark = pytest.mark.integration
_NEW_KEY = re.compile(r'value="([^"]+)" id="new-key"')
_ISSUED_ID = re.compile(r"Issued key <code>([^<]+)</code>")
ADMIN_PAGES = (
    "/admin/keys",
    "/admin/health",
    "/admin/health/live",
    "/admin/publishers",
    "/admin/buyers",
    "/admin/campaigns",
    "/admin/targets",
    "/admin/numbers",
    "/admin/pools",
    "/admin/blocklist",
)


@pytest.fixture
def admin(portal_app: TestClient, browser_factory: Any) -> tuple[Browser, str]:
    """A signed-in admin browser and the admin's user id."""
    s = portal_app.app.state.services  # type: ignore[attr-defined]
    user_id, link = invite(
        s.users,
        s.keys,
        email="root@example.com",
        role="admin",
        owner_id=None,
        by="test",
        base_url=BASE_URL,
    )
    browser = browser_factory()
    assert accept(browser, link.removeprefix(BASE_URL)).status_code == 303
    return browser, user_id


def _api_key(client: TestClient, role: str = "admin") -> tuple[str, str]:
    answer = client.post("/v1/api-keys", json={"role": role}, headers=auth(ADMIN_KEY))
    assert answer.status_code == 201, answer.text
    return answer.json()["id"], answer.json()["api_key"]


def _changes(client: TestClient, aggregate_id: str) -> list[tuple[str, str]]:
    """(event, changed_by) of an aggregate's set-up events, from fresh projections."""
    s = client.app.state.services  # type: ignore[attr-defined]
    sql = "SELECT event, changed_by FROM setup_changes WHERE aggregate_id = ? ORDER BY position"
    return [tuple(r) for r in s.reports.cursor().execute(sql, [aggregate_id]).fetchall()]


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_other_roles_get_the_forbidden_page(
    portal_app: TestClient, browser_factory: Any, path: str
) -> None:
    browser = browser_factory()
    assert accept(browser, invite_user(portal_app, "fin@example.com", "finance")).status_code == 303
    answer = browser.get(path)
    assert answer.status_code == 403
    assert "API keys" not in answer.text


def test_an_admin_starts_on_the_health_page(portal_app: TestClient, browser_factory: Any) -> None:
    browser = browser_factory()
    answer = accept(browser, invite_user(portal_app, "ann@example.com", "admin"))
    assert answer.headers["location"] == "/admin/health"
    page = browser.get("/admin/health")
    assert 'hx-get="/admin/health/live"' in page.text
    assert 'hx-trigger="every 2s"' in page.text
    assert 'href="/admin/keys"' in page.text


def test_an_issued_key_is_shown_once_and_works(
    portal_app: TestClient, admin: tuple[Browser, str], api_settings: Settings
) -> None:
    browser, user_id = admin
    issued = browser.post_form(
        "/admin/keys", "/admin/keys", {"role": "admin", "label": "ops <script>"}
    )
    assert issued.status_code == 201
    found = _NEW_KEY.search(issued.text)
    key_id = _ISSUED_ID.search(issued.text)
    assert found is not None
    assert key_id is not None
    secret = found.group(1)
    project(api_settings)
    listed = portal_app.get("/v1/api-keys", headers=auth(secret))
    assert listed.status_code == 200
    page = browser.get("/admin/keys")
    assert key_id.group(1) in page.text
    assert "ops &lt;script&gt;" in page.text
    assert secret not in page.text
    assert f"by {user_id}" in page.text


def test_expire_and_revoke_refuse_the_key_at_once_and_record_the_user(
    portal_app: TestClient, admin: tuple[Browser, str], api_settings: Settings
) -> None:
    browser, user_id = admin
    expiring_id, expiring = _api_key(portal_app)
    revoked_id, revoked = _api_key(portal_app)
    project(api_settings)
    for secret in (expiring, revoked):
        assert portal_app.get("/v1/api-keys", headers=auth(secret)).status_code == 200
    page = browser.get("/admin/keys")
    assert f'action="/admin/keys/{expiring_id}/expire"' in page.text
    expired = browser.post_form(
        "/admin/keys",
        f"/admin/keys/{expiring_id}/expire",
        {"expires_at": "Now"},
        follow_redirects=False,
    )
    assert expired.status_code == 303
    # the changed key as the store has it, before the projected list catches up
    fresh = browser.get(expired.headers["location"]).text
    assert re.search(rf'id="key-{expiring_id}">.*?>expired<', fresh, re.S)
    assert f'action="/admin/keys/{expiring_id}/revoke"' in fresh  # an expired key can be revoked
    assert f'action="/admin/keys/{expiring_id}/expire"' not in fresh
    done = browser.post_form(
        "/admin/keys", f"/admin/keys/{revoked_id}/revoke", {}, follow_redirects=False
    )
    assert done.status_code == 303
    for secret in (expiring, revoked):
        assert portal_app.get("/v1/api-keys", headers=auth(secret)).status_code == 401
    project(api_settings)
    assert _changes(portal_app, expiring_id)[-1] == ("ExpirySet", user_id)
    assert _changes(portal_app, revoked_id)[-1] == ("Revoked", user_id)
    page = browser.get("/admin/keys")
    assert re.search(rf'id="key-{expiring_id}">.*?>expired<', page.text, re.S)
    assert re.search(rf'id="key-{revoked_id}">.*?>revoked<', page.text, re.S)


@pytest.mark.parametrize(
    ("expires_at", "message"),
    [("tomorrow", "RFC 3339"), ("2099-01-01T00:00:00Z", "days ahead")],
)
def test_a_bad_expiry_is_422_with_the_message_and_changes_nothing(
    portal_app: TestClient,
    admin: tuple[Browser, str],
    api_settings: Settings,
    expires_at: str,
    message: str,
) -> None:
    browser, _ = admin
    key_id, secret = _api_key(portal_app)
    project(api_settings)
    before = event_count(api_settings)
    refused = browser.post_form(
        "/admin/keys", f"/admin/keys/{key_id}/expire", {"expires_at": expires_at}
    )
    assert refused.status_code == 422
    assert message in refused.text
    assert event_count(api_settings) == before
    assert portal_app.get("/v1/api-keys", headers=auth(secret)).status_code == 200


def test_a_bad_issue_is_422_next_to_the_field_and_records_nothing(
    admin: tuple[Browser, str], api_settings: Settings
) -> None:
    browser, _ = admin
    before = event_count(api_settings)
    refused = browser.post_form("/admin/keys", "/admin/keys", {"role": "publisher"})
    assert refused.status_code == 422
    assert "need an owner_id" in refused.text
    assert 'id="new-key"' not in refused.text
    assert event_count(api_settings) == before


def test_the_block_list_adds_and_takes_off_a_number(
    portal_app: TestClient, admin: tuple[Browser, str], api_settings: Settings
) -> None:
    browser, user_id = admin
    added = browser.post_form(
        "/admin/blocklist",
        "/admin/blocklist",
        {"number": "+13105550177", "reason": "asked not to be called"},
        follow_redirects=False,
    )
    assert added.status_code == 303
    project(api_settings)
    page = browser.get("/admin/blocklist")
    assert "asked not to be called" in page.text
    assert user_id in page.text
    assert "+13105550177" not in page.text  # callers by their keyed hash only
    taken_off = browser.post_form(
        "/admin/blocklist",
        "/admin/blocklist/remove",
        {"unblock_number": "+13105550177"},
        follow_redirects=False,
    )
    assert taken_off.status_code == 303
    project(api_settings)
    assert "asked not to be called" not in browser.get("/admin/blocklist").text
    every = browser.get("/admin/blocklist?status=all").text
    assert re.search(r"<td>no</td><td>asked not to be called</td>", every)


def test_a_bad_number_is_422_on_the_block_list_and_records_nothing(
    admin: tuple[Browser, str], api_settings: Settings
) -> None:
    browser, _ = admin
    before = event_count(api_settings)
    refused = browser.post_form("/admin/blocklist", "/admin/blocklist", {"number": "555-0123"})
    assert refused.status_code == 422
    assert 'id="e-number"' in refused.text
    off = browser.post_form("/admin/blocklist", "/admin/blocklist/remove", {"unblock_number": "x"})
    assert off.status_code == 422
    assert 'id="e-unblock_number"' in off.text
    assert event_count(api_settings) == before


def test_the_set_up_lists_show_the_market_with_links(
    portal_app: TestClient, admin: tuple[Browser, str], api_settings: Settings
) -> None:
    browser, _ = admin
    market = build_market(portal_app)
    assert "not ready yet" in browser.get("/admin/publishers").text
    project(api_settings)
    assert "Acme Leads" in browser.get("/admin/publishers").text
    campaigns = browser.get("/admin/campaigns").text
    assert "LA car accidents" in campaigns
    assert f'href="/admin/targets?campaign_id={market.campaign_id}"' in campaigns
    (target_id, buyer_id), (other_target_id, _) = market.targets.items()
    targets = browser.get(f"/admin/targets?buyer_id={buyer_id}").text
    assert target_id in targets
    assert other_target_id not in targets
    assert buyer_id in browser.get("/admin/buyers").text
    assert browser.get("/admin/numbers").status_code == 200
    assert browser.get("/admin/pools").status_code == 200


def test_the_health_partial_shows_each_dependency(
    admin: tuple[Browser, str], api_settings: Settings
) -> None:
    browser, _ = admin
    before = browser.get("/admin/health/live")
    assert before.status_code == 200
    assert "<html" not in before.text  # a partial
    assert re.search(r'data-check="redis">.*?status-good">up', before.text, re.S)
    assert re.search(r'data-check="event_store">.*?status-good">up', before.text, re.S)
    assert re.search(r'data-check="projections">.*?down \(not built yet', before.text, re.S)
    project(api_settings)
    after = browser.get("/admin/health/live").text
    assert re.search(r'data-check="projections">.*?status-good">up', after, re.S)
    assert "0.0 pings/s" in after
    assert "Projections behind the head</dt><dd>0 events" in after


class TestNatsDown:
    @pytest.fixture
    def api_settings(self, api_settings: Settings) -> Settings:
        return api_settings.model_copy(update={"nats_url": "nats://127.0.0.1:9"})

    def test_a_dependency_down_shows_as_down_and_the_page_renders(
        self, admin: tuple[Browser, str]
    ) -> None:
        browser, _ = admin
        page = browser.get("/admin/health")
        assert page.status_code == 200
        assert re.search(r'data-check="nats">.*?status-bad">down', page.text, re.S)
        assert re.search(r'data-check="redis">.*?status-good">up', page.text, re.S)
        assert "A dependency does not answer." in page.text


def test_the_health_partial_shows_the_auction_rate_and_bidders_that_timed_out(
    portal_app: TestClient, admin: tuple[Browser, str], api_settings: Settings
) -> None:
    browser, _ = admin
    built = build_market(portal_app)
    s = portal_app.app.state.services  # type: ignore[attr-defined]
    (target_id, buyer_id), _ = built.targets.items()
    market = SupportMarket(
        SimpleNamespace(calls=s.calls, clock=s.clock),  # type: ignore[arg-type]
        next(iter(built.publishers)),
        built.campaign_id,
        [buyer_id],
        [target_id],
    )
    timed_out = BidOutcome(
        target_id, buyer_id, BidOutcomeKind.TIMED_OUT, source=BidSource.RTB, timeout_ms=300
    )
    for n in range(3):
        command = market.auction_command([], caller_hash=f"h-{n}")
        s.calls.record_auction(replace(command, bids=(timed_out,)))
    project(api_settings)
    partial = browser.get("/admin/health/live").text
    assert "0.05 pings/s (3 in the last 60 s)" in partial
    row = re.search(r'<table id="timeouts">.*?</table>', partial, re.S)
    assert row is not None
    assert buyer_id in row.group(0)
    assert '<td class="num">3</td>' in row.group(0)


def test_an_admin_registers_a_publisher_and_a_buyer_and_provisions_a_number(
    portal_app: TestClient, admin: tuple[Browser, str], api_settings: Settings
) -> None:
    browser, user_id = admin
    made = browser.post_form("/admin/publishers", "/admin/publishers", {"name": "Gamma <Leads>"})
    assert made.status_code == 201
    publisher_id = re.search(r'id="created-id">(pub_\w+)<', made.text)
    key = _NEW_KEY.search(made.text)
    assert publisher_id is not None
    assert key is not None
    own = portal_app.get(f"/v1/publishers/{publisher_id.group(1)}", headers=auth(key.group(1)))
    assert own.json()["name"] == "Gamma <Leads>"
    buyer = browser.post_form(
        "/admin/buyers",
        "/admin/buyers",
        {"name": "Delta Law", "time_zone": "America/Chicago", "credit_limit": "100.00"},
    )
    assert buyer.status_code == 201
    assert re.search(r'id="created-id">buy_\w+<', buyer.text)
    market = build_market(portal_app)
    number = browser.post_form(
        "/admin/numbers",
        "/admin/numbers",
        {
            "number": "+18005550199",
            "campaign_id": market.campaign_id,
            "publisher_id": publisher_id.group(1),
            "source": "google",
            "medium": "",
        },
    )
    assert number.status_code == 201
    assert 'id="new-key"' not in number.text
    project(api_settings)
    assert "Gamma &lt;Leads&gt;" in browser.get("/admin/publishers").text
    assert "Delta Law" in browser.get("/admin/buyers").text
    numbers = browser.get(f"/admin/numbers?campaign_id={market.campaign_id}").text
    assert "+18005550199" in numbers
    assert _changes(portal_app, publisher_id.group(1)) == [("Registered", user_id)]


@pytest.mark.parametrize(
    ("path", "data", "field"),
    [
        (
            "/admin/buyers",
            {"name": "X", "time_zone": "Mars/Base", "credit_limit": "0.00"},
            "time_zone",
        ),
        (
            "/admin/buyers",
            {"name": "X", "time_zone": "UTC", "credit_limit": "lots"},
            "credit_limit",
        ),
        ("/admin/publishers", {"name": ""}, "name"),
        (
            "/admin/numbers",
            {
                "number": "+18005550199",
                "campaign_id": "cmp_0123456789abcdef0123456789abcdef",
                "publisher_id": "pub_0123456789abcdef0123456789abcdef",
                "source": "google",
            },
            "campaign_id",
        ),
    ],
)
def test_a_bad_creation_is_422_next_to_the_field_and_records_nothing(
    admin: tuple[Browser, str], api_settings: Settings, path: str, data: dict[str, str], field: str
) -> None:
    browser, _ = admin
    before = event_count(api_settings)
    refused = browser.post_form(path, path, data)
    assert refused.status_code == 422, refused.text
    assert f'id="e-{field}"' in refused.text
    assert 'id="created-id"' not in refused.text
    assert event_count(api_settings) == before


def test_a_polled_partial_after_sign_out_takes_the_page_to_sign_in(
    admin: tuple[Browser, str],
) -> None:
    browser, _ = admin
    browser.post_form("/account", "/logout", {}, follow_redirects=False)
    polled = browser.get(
        "/admin/health/live",
        headers={"HX-Request": "true", "HX-Current-URL": "https://ppcx.test/admin/health"},
        follow_redirects=False,
    )
    assert polled.status_code == 204
    assert polled.headers["hx-redirect"] == "/login?next=%2Fadmin%2Fhealth"
    plain = browser.get("/admin/health/live", follow_redirects=False)
    assert plain.status_code == 303
