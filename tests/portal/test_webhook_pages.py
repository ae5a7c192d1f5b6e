"""The portal's webhook pages over the real app: register (the secret once), refusals in the
API's words next to the field, pause and resume, rotation, a test event and "send again",
removal, and tenancy (another's webhook is not found; a finance user cannot open them)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ppcx.settings import Settings
from tests.api.conftest import build_market, event_count, project
from tests.portal.conftest import Browser, accept, csrf_of, invite_user

pytestmark = pytest.mark.integration
UNREACHABLE = "http://127.0.0.1:9/hook"  # loopback (allowed below), nothing listening
_SECRET = re.compile(r'id="webhook-secret" value="(whsec_[^"]+)"')
_RETRY = re.compile(r'action="/webhooks/(whk_\w+)/deliveries/([^"/]+)/retry"')


@pytest.fixture
def api_settings(api_settings: Settings) -> Settings:
    return api_settings.model_copy(update={"webhook_allowed_networks": "127.0.0.0/8"})


def _signed_in(portal_app: TestClient, browser: Browser, email: str, role: str, owner: Any) -> None:
    answer = accept(browser, invite_user(portal_app, email, role, owner))
    assert answer.status_code == 303


def _register(browser: Browser, url: str = UNREACHABLE, **extra: Any) -> Any:
    data = {"url": url, "method": "POST", "events": ["call.billed", "call.completed"]}
    return browser.post_form("/webhooks", "/webhooks", {**data, **extra})


def _webhook_id(page: str) -> str:
    found = re.search(r"<h1>Webhook <code>(whk_\w+)</code>", page)
    assert found, "the answer is not a webhook's page"
    return found.group(1)


@pytest.fixture
def publisher(portal_app: TestClient, browser_factory: Any) -> tuple[Browser, Any]:
    market = build_market(portal_app, bids=("50.00",))
    publisher_id = next(iter(market.publishers))
    browser = browser_factory()
    _signed_in(portal_app, browser, "pat@example.com", "publisher", publisher_id)
    return browser, market


def test_a_publisher_registers_and_sees_the_secret_once(publisher: tuple[Browser, Any]) -> None:
    browser, _ = publisher
    listed = browser.get("/webhooks")
    assert listed.status_code == 200
    assert 'href="/webhooks"' in listed.text
    assert "{call_id}" in listed.text
    assert "{revenue}" not in listed.text  # a publisher's pixel has no revenue
    created = _register(browser, description="CRM <b>")
    assert created.status_code == 201
    secret = _SECRET.search(created.text)
    assert secret is not None
    webhook_id = _webhook_id(created.text)
    again = browser.get(f"/webhooks/{webhook_id}")
    assert again.status_code == 200
    assert secret.group(1) not in again.text
    assert "CRM &lt;b&gt;" in again.text
    assert secret.group(1) not in browser.get("/webhooks").text


@pytest.mark.parametrize(
    "url", ["ftp://hooks.example.com/x", "http://10.1.2.3/hook", "https://u:p@example.com/x"]
)
def test_a_bad_url_is_shown_next_to_the_field_and_nothing_is_recorded(
    publisher: tuple[Browser, Any], api_settings: Settings, url: str
) -> None:
    browser, _ = publisher
    before = event_count(api_settings)
    refused = _register(browser, url=url)
    assert refused.status_code == 422
    assert 'id="e-url"' in refused.text
    assert f'value="{url}"' in refused.text  # the form keeps what was typed
    assert event_count(api_settings) == before


def test_pause_resume_rotate_and_remove(publisher: tuple[Browser, Any]) -> None:
    browser, _ = publisher
    created = _register(browser)
    webhook_id = _webhook_id(created.text)
    page = f"/webhooks/{webhook_id}"
    first = _SECRET.search(created.text)
    assert first is not None
    paused = browser.post_form(page, f"{page}/pause", {})
    assert paused.status_code == 200
    assert 'id="webhook-status" class="status-bad">paused' in paused.text
    resumed = browser.post_form(page, f"{page}/resume", {})
    assert 'id="webhook-status" class="status-good">active' in resumed.text
    rotated = browser.post_form(page, f"{page}/secret", {})
    second = _SECRET.search(rotated.text)
    assert second is not None
    assert second.group(1) != first.group(1)
    assert second.group(1) not in browser.get(page).text
    confirm = browser.get(f"{page}/remove")
    assert confirm.status_code == 200
    assert f'action="{page}/remove"' in confirm.text
    removed = browser.post_form(f"{page}/remove", f"{page}/remove", {})
    assert removed.status_code == 200
    assert browser.get(page).status_code == 404


def test_an_edit_is_saved_and_a_bad_one_shown(publisher: tuple[Browser, Any]) -> None:
    browser, _ = publisher
    page = f"/webhooks/{_webhook_id(_register(browser).text)}"
    saved = browser.post_form(
        page, page, {"url": UNREACHABLE, "events": "call.posted", "description": "new"}
    )
    assert saved.status_code == 200
    assert "<dd>call.posted</dd>" in saved.text
    refused = browser.post_form(
        page, page, {"url": "ftp://x.example.com/", "events": "call.posted"}
    )
    assert refused.status_code == 422
    assert 'id="e-url"' in refused.text


def test_a_test_event_is_listed_and_sent_again(
    publisher: tuple[Browser, Any], portal_app: TestClient
) -> None:
    browser, _ = publisher
    page = f"/webhooks/{_webhook_id(_register(browser).text)}"
    tested = browser.post_form(page, f"{page}/test", {})
    assert tested.status_code == 200
    assert "webhook.test" in tested.text
    assert "failed" in tested.text  # nothing listens on the port: one failed attempt
    retry = _RETRY.search(tested.text)
    assert retry is not None
    assert "next attempt" not in tested.text
    again = browser.post_form(page, retry.group(0).split('"')[1], {})
    assert again.status_code == 200
    assert "next attempt" in again.text
    delivery = portal_app.app.state.services.deliveries.get(retry.group(2))  # type: ignore[attr-defined]
    assert delivery.state == "pending"


def test_a_buyer_cannot_open_the_publishers_webhook(
    publisher: tuple[Browser, Any], portal_app: TestClient, browser_factory: Any
) -> None:
    browser, market = publisher
    page = f"/webhooks/{_webhook_id(_register(browser).text)}"
    buyer = browser_factory()
    _signed_in(portal_app, buyer, "bea@example.com", "buyer", next(iter(market.buyers)))
    assert buyer.get("/webhooks").status_code == 200
    assert buyer.get(page).status_code == 404
    assert buyer.get("/webhooks/whk_nope").status_code == 404
    token = csrf_of(buyer.get("/webhooks").text)
    assert buyer.post(f"{page}/pause", data={"csrf": token}).status_code == 404
    assert "active" in browser.get(page).text


def test_a_finance_user_cannot_open_webhooks(portal_app: TestClient, browser_factory: Any) -> None:
    browser = browser_factory()
    _signed_in(portal_app, browser, "fin@example.com", "finance", None)
    assert browser.get("/webhooks").status_code == 403
    assert 'href="/webhooks"' not in browser.get("/account").text


def test_an_admin_sees_every_webhook_once_projected(
    publisher: tuple[Browser, Any],
    portal_app: TestClient,
    browser_factory: Any,
    api_settings: Settings,
) -> None:
    browser, market = publisher
    webhook_id = _webhook_id(_register(browser).text)
    admin = browser_factory()
    _signed_in(portal_app, admin, "ada@example.com", "admin", None)
    assert "not ready yet" in admin.get("/webhooks").text
    project(api_settings)
    listed = admin.get("/webhooks")
    assert f'href="/webhooks/{webhook_id}"' in listed.text
    assert f"<td>{next(iter(market.publishers))} (publisher)</td>" in listed.text  # its owner
    own = browser.get("/webhooks").text
    assert f'href="/webhooks/{webhook_id}"' in own
    assert '<th scope="col">Owner</th>' not in own  # the owner column is the admin's only
    assert admin.get(f"/webhooks/{webhook_id}").status_code == 200
