"""The admin's pages in a real browser (Playwright driving Debian's Chromium) against a real
server on loopback: the admin starts on the health page, which htmx refreshes by itself; on the
API keys page the admin expires a key, and the next API call made with that key is 401; no page
asks for anything outside the server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from ppcx.settings import Settings
from tests.api.conftest import ADMIN_KEY, live_server, project
from tests.portal.browser import (
    Requests,
    api,
    api_settings,
    bearer,
    chromium,
    cli_invite,
    screenshot,
)

__all__ = ["api", "api_settings", "chromium", "live_server"]  # the fixtures used
pytestmark = [pytest.mark.integration, pytest.mark.browser]
PASSWORD = "correct horse battery staple"
WAIT_MS = 20_000  # generous: a loaded machine still polls within it


def test_an_admin_watches_health_and_expires_a_key_in_the_browser(
    live_server: str, api: httpx.Client, api_settings: Settings, chromium: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    issued = api.post(
        "/v1/api-keys", json={"role": "admin", "label": "partner"}, headers=bearer(ADMIN_KEY)
    )
    assert issued.status_code == 201, issued.text
    key_id, key = issued.json()["id"], issued.json()["api_key"]
    project(api_settings)
    assert api.get("/v1/api-keys", headers=bearer(key)).status_code == 200

    requests = Requests()
    context = chromium.new_context(base_url=live_server)
    context.on("request", lambda request: requests.urls.append(request.url))
    page = context.new_page()
    page.goto(cli_invite(api_settings, live_server, "root@example.com", "admin"))
    page.get_by_label("Password (at least 12 characters)").fill(PASSWORD)
    page.get_by_label("The same password again").fill(PASSWORD)
    page.get_by_role("button", name="Set password and sign in").click()

    # the start page: every dependency's state, refreshed by htmx without a reload
    page.wait_for_url("**/admin/health")
    expect(page.locator('#checks tr[data-check="redis"]')).to_contain_text("up")
    expect(page.locator('#checks tr[data-check="projections"]')).to_contain_text("up")
    checked = page.locator("#health .hint").first
    first = checked.inner_text()
    expect(checked).not_to_have_text(first, timeout=WAIT_MS)
    screenshot(page, "admin-health", tmp_path)

    # the keys page: expire the partner's key now
    page.get_by_role("link", name="API keys").click()
    row = page.locator(f"#key-{key_id}")
    expect(row).to_contain_text("active")
    row.get_by_role("button", name=f"Expire {key_id}").click()
    expect(page.get_by_role("status")).to_contain_text("expiry is set")
    expect(row).to_contain_text("expired")  # as the store has it, before the list catches up
    screenshot(page, "admin-keys", tmp_path)

    refused = api.get("/v1/api-keys", headers=bearer(key))
    assert refused.status_code == 401
    assert "expired" in refused.json()["detail"]
    assert requests.outside(live_server) == []
    context.close()
