"""People sign in: invites, passwords, sessions, CSRF, rate-limited sign-in, sign out
everywhere — and every change names the user who made it."""

from __future__ import annotations

from typing import Any

import pytest

from domain.user import User, user_id_for
from portal.invites import token_in
from portal.sessions import COOKIE
from tests.portal.conftest import PASSWORD, accept, invite_user

pytestmark = pytest.mark.integration


def test_an_invited_admin_sets_a_password_signs_in_and_out(
    portal_app: Any, browser_factory: Any
) -> None:
    path = invite_user(portal_app, "Ana@Example.com", "admin")
    browser = browser_factory()
    page = browser.get(path)
    assert page.status_code == 200
    assert "ana@example.com" in page.text
    answer = accept(browser, path)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/health"
    cookie = answer.headers["set-cookie"]
    assert COOKIE in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" in cookie  # the test server is https
    assert browser.get("/admin/users").status_code == 200
    # the link works once
    assert browser_factory().get(path).status_code == 404
    # signing out ends the session
    browser.post_form("/account", "/logout", {}, follow_redirects=False)
    after = browser.get("/admin/users", follow_redirects=False)
    assert after.status_code == 303
    assert after.headers["location"].startswith("/login")
    # and the password works
    again = browser.sign_in("ana@example.com")
    assert again.status_code == 303
    assert again.headers["location"] == "/admin/health"


def test_a_weak_password_or_a_mismatch_is_refused_and_nothing_changes(
    portal_app: Any, browser_factory: Any
) -> None:
    path = invite_user(portal_app, "bo@example.com", "finance")
    browser = browser_factory()
    short = browser.post_form(path, path, {"password": "short", "confirm": "short"})
    assert short.status_code == 422
    assert "12-256 characters" in short.text
    differ = browser.post_form(path, path, {"password": PASSWORD, "confirm": PASSWORD + "x"})
    assert differ.status_code == 422
    assert "differ" in differ.text
    user = portal_app.app.state.services.app.find(User, user_id_for("bo@example.com"))
    assert user.password_hash is None
    assert user.version == 1
    assert accept(browser, path).status_code == 303


def test_a_form_without_the_sessions_csrf_token_is_refused(
    portal_app: Any, browser_factory: Any
) -> None:
    path = invite_user(portal_app, "cy@example.com", "admin")
    browser = browser_factory()
    accept(browser, path)
    forged = browser.post(
        "/admin/users", data={"email": "eve@example.com", "role": "admin", "csrf": "0" * 64}
    )
    assert forged.status_code == 403
    assert "expired" in forged.text
    other_site = browser.post_form(
        "/admin/users",
        "/admin/users",
        {"email": "eve@example.com", "role": "admin"},
        headers={"Origin": "https://evil.example"},
    )
    assert other_site.status_code == 403
    assert portal_app.app.state.services.app.find(User, user_id_for("eve@example.com")) is None


def test_sign_in_is_rate_limited_per_address(portal_app: Any, browser_factory: Any) -> None:
    path = invite_user(portal_app, "di@example.com", "analyst")
    accept(browser_factory(), path)
    browser = browser_factory()
    for _ in range(5):
        wrong = browser.sign_in("di@example.com", "not the password at all")
        assert wrong.status_code == 401
        assert "not right" in wrong.text
    limited = browser.sign_in("di@example.com")  # even the right password, now
    assert limited.status_code == 429
    assert "Too many failed sign-ins" in limited.text


def test_sign_out_everywhere_ends_every_session_and_is_an_event_naming_the_user(
    portal_app: Any, browser_factory: Any
) -> None:
    path = invite_user(portal_app, "ed@example.com", "admin")
    laptop, phone = browser_factory(), browser_factory()
    accept(laptop, path)
    assert phone.sign_in("ed@example.com").status_code == 303
    assert phone.get("/account").status_code == 200
    laptop.post_form("/account", "/account/sign-out-everywhere", {}, follow_redirects=False)
    for device in (laptop, phone):
        answer = device.get("/account", follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login")
    user_id = user_id_for("ed@example.com")
    events = list(portal_app.app.state.services.app.store.read_aggregate(user_id))
    topics = [topic.rsplit(".", 1)[-1] for _, _, topic, _ in events]
    assert topics == ["Invited", "PasswordSet", "SignedOutEverywhere"]
    assert f'"by":"{user_id}"' in events[-1][3].decode().replace(" ", "")


def test_an_admin_invites_a_buyer_user_on_the_users_page(
    portal_app: Any, browser_factory: Any
) -> None:
    admin = browser_factory()
    accept(admin, invite_user(portal_app, "root@example.com", "admin"))
    bad = admin.post_form(
        "/admin/users", "/admin/users", {"email": "x@example.com", "role": "buyer", "owner_id": ""}
    )
    assert bad.status_code == 422
    assert "owner_id" in bad.text
    unknown = admin.post_form(
        "/admin/users",
        "/admin/users",
        {"email": "x@example.com", "role": "buyer", "owner_id": "buy_" + "0" * 32},
    )
    assert unknown.status_code == 422
    assert portal_app.app.state.services.app.find(User, user_id_for("x@example.com")) is None


def test_ppcx_users_invite_prints_a_working_link_and_refuses_bad_input(
    portal_app: Any, browser_factory: Any, api_settings: Any
) -> None:
    from typer.testing import CliRunner

    from ppcx.cli import app
    from tests.support.environment import ppcx_env

    env = {**ppcx_env(api_settings), "PPCX_PUBLIC_BASE_URL": "https://ppcx.test"}
    runner = CliRunner()
    bad = runner.invoke(
        app, ["users", "invite", "--email", "not-an-address", "--role", "admin"], env=env
    )
    assert bad.exit_code == 2
    assert "e-mail address" in bad.output
    owned = runner.invoke(
        app, ["users", "invite", "--email", "pub@example.com", "--role", "publisher"], env=env
    )
    assert owned.exit_code == 2
    assert "owner_id" in owned.output
    made = runner.invoke(
        app, ["users", "invite", "--email", "Fin@Example.com", "--role", "finance"], env=env
    )
    assert made.exit_code == 0, made.output
    link = made.output.strip().splitlines()[-1]
    assert link.startswith("https://ppcx.test/invite?token=inv_")
    assert token_in(link) == link.split("token=", 1)[1]
    again = runner.invoke(
        app, ["users", "invite", "--email", "fin@example.com", "--role", "finance"], env=env
    )
    assert again.exit_code == 2
    assert "already has an account" in again.output
    browser = browser_factory()
    answer = accept(browser, link.removeprefix("https://ppcx.test"))
    assert answer.status_code == 303
    assert answer.headers["location"] == "/finance/accounts"
