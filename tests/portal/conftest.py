"""The portal over the real app (`ppcx.web.create_app`: real Redis, NATS, SQLite), driven by
Starlette's TestClient as a browser would be (cookies, forms, CSRF tokens read off the page).
Browser tests (Playwright + Debian's Chromium) are in test_browser_*.py."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from domain.clock import ManualClock
from portal.invites import invite
from ppcx.settings import Settings
from ppcx.web import create_app
from tests.api.conftest import ADMIN_KEY, BASE_URL, api_settings, auth, build_market, project

__all__ = ["ADMIN_KEY", "BASE_URL", "api_settings", "auth", "build_market", "project"]
PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@dataclass
class Browser:
    """One person's browser: its own cookie jar, over the app's one TestClient (whose event
    loop runs the app; a second TestClient would run requests on another loop)."""

    client: TestClient
    jar: httpx.Cookies = field(default_factory=httpx.Cookies)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        self.client.cookies = self.jar
        try:
            return self.client.request(method, path, **kwargs)
        finally:
            self.jar = self.client.cookies

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def post_form(self, page: str, action: str, data: dict[str, str], **kwargs: Any) -> Any:
        """Open `page`, read its CSRF token, post `data` to `action` (as a form)."""
        token = csrf_of(self.get(page).text)
        return self.post(action, data={**data, "csrf": token}, **kwargs)

    def sign_in(self, email: str, password: str = PASSWORD) -> Any:
        return self.post_form(
            "/login", "/login", {"email": email, "password": password}, follow_redirects=False
        )


@pytest.fixture
def portal_app(api_settings: Settings, clock: ManualClock, redis_client: object) -> Iterator[Any]:
    app = create_app(api_settings, clock=clock)
    with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def browser_factory(portal_app: TestClient) -> Callable[[], Browser]:
    return lambda: Browser(portal_app)


def invite_user(client: TestClient, email: str, role: str, owner_id: str | None = None) -> str:
    """An invite made as `ppcx users invite` makes it → the one-time link's path."""
    s = client.app.state.services  # type: ignore[attr-defined]
    _, link = invite(
        s.users, s.keys, email=email, role=role, owner_id=owner_id, by="test", base_url=BASE_URL
    )
    return link.removeprefix(BASE_URL)


def accept(browser: Browser, invite_path: str, password: str = PASSWORD) -> Any:
    return browser.post_form(
        invite_path,
        invite_path,
        {"password": password, "confirm": password},
        follow_redirects=False,
    )


def completed_call(
    client: TestClient, clock: ManualClock, key: str, ping: Any, duration_s: int
) -> str:
    """Post the pinged call, answer it and complete it after `duration_s` → its id."""
    offer = ping.json()
    assert offer["accepted"] is True, offer
    posted = client.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(key))
    assert posted.status_code == 200, posted.text
    call_id = str(posted.json()["call_id"])
    answered = client.post(
        f"/v1/calls/{call_id}/events", json={"type": "answered"}, headers=auth(key)
    )
    assert answered.status_code == 200, answered.text
    clock.advance(timedelta(seconds=duration_s))
    done = client.post(
        f"/v1/calls/{call_id}/events",
        json={"type": "completed", "duration_s": duration_s},
        headers=auth(key),
    )
    assert done.status_code == 200, done.text
    return call_id
