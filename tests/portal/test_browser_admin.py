"""The admin's pages in a real browser (Playwright driving Debian's Chromium) against a real
server on loopback: the admin starts on the health page, which htmx refreshes by itself; on the
API keys page the admin expires a key, and the next API call made with that key is 401; no page
asks for anything outside the server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from ppcx.cli import app
from ppcx.settings import Settings
from tests.api.conftest import ADMIN_KEY, live_server, project
from tests.portal.browser import Requests, chromium, screenshot
from tests.support.environment import ppcx_env

__all__ = ["chromium", "live_server"]
pytestmark = [pytest.mark.integration, pytest.mark.browser]
PASSWORD = "correct horse battery staple"
WAIT_MS = 20_000  # generous: a loaded machine still polls within it


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    """No public base URL: links and cookies follow the loopback address the browser uses."""
    return settings.model_copy(update={"bootstrap_admin_key": ADMIN_KEY, "public_base_url": None})


@pytest.fixture
def api(live_server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server, timeout=30) as client:
        yield client


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _first_admin(api_settings: Settings, base_url: str) -> str:
    """`ppcx users invite` from the shell, against the server's own store → the link."""
    env = {**ppcx_env(api_settings), "PPCX_PUBLIC_BASE_URL": base_url}
    result = CliRunner().invoke(
        app, ["users", "invite", "--email", "root@example.com", "--role", "admin"], env=env
    )
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def test_an_admin_watches_health_and_expires_a_key_in_the_browser(
    live_server: str, api: httpx.Client, api_settings: Settings, chromium: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    issued = api.post(
        "/v1/api-keys", json={"role": "admin", "label": "partner"}, headers=_auth(ADMIN_KEY)
    )
    assert issued.status_code == 201, issued.text
    key_id, key = issued.json()["id"], issued.json()["api_key"]
    project(api_settings)
    assert api.get("/v1/api-keys", headers=_auth(key)).status_code == 200

    requests = Requests()
    context = chromium.new_context(base_url=live_server)
    context.on("request", lambda request: requests.urls.append(request.url))
    page = context.new_page()
    page.goto(_first_admin(api_settings, live_server))
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

    refused = api.get("/v1/api-keys", headers=_auth(key))
    assert refused.status_code == 401
    assert "expired" in refused.json()["detail"]
    assert requests.outside(live_server) == []
    context.close()
