"""An admin's Users page lists every person (invited, active, disabled) and disables one: they
can no longer sign in and their open sessions end at once; the event names the admin."""

from __future__ import annotations

from typing import Any

import pytest

from domain.user import User, user_id_for
from tests.portal.conftest import Browser, accept, csrf_of, invite_user

pytestmark = pytest.mark.integration


def _person(portal_app: Any, browser_factory: Any, email: str, role: str) -> Browser:
    browser: Browser = browser_factory()
    assert accept(browser, invite_user(portal_app, email, role)).status_code == 303
    return browser


def _row(html: str, email: str) -> str:
    start = html.index(f"<td>{email}</td>")
    return html[start : html.index("</tr>", start)]


def test_the_list_shows_each_persons_state_and_a_disabled_person_is_signed_out(
    portal_app: Any, browser_factory: Any
) -> None:
    admin = _person(portal_app, browser_factory, "root@example.com", "admin")
    clerk = _person(portal_app, browser_factory, "clerk@example.com", "finance")
    invite_user(portal_app, "later@example.com", "analyst")  # invited, no password yet
    page = admin.get("/admin/users").text
    assert "<td>active</td>" in _row(page, "clerk@example.com")
    assert "<td>invited</td>" in _row(page, "later@example.com")
    assert "Disable" not in _row(page, "root@example.com")  # not oneself
    assert clerk.get("/finance/accounts", follow_redirects=False).status_code == 200

    clerk_id = user_id_for("clerk@example.com")
    answer = admin.post(f"/admin/users/{clerk_id}/disable", data={"csrf": csrf_of(page)})
    assert answer.status_code == 200
    assert "Disabled <strong>clerk@example.com</strong>" in answer.text
    assert "<td>disabled</td>" in _row(answer.text, "clerk@example.com")
    # their open session has ended, and they cannot sign in again
    gone = clerk.get("/finance/accounts", follow_redirects=False)
    assert gone.status_code == 303
    assert gone.headers["location"].startswith("/login")
    assert clerk.sign_in("clerk@example.com").status_code != 303
    store = portal_app.app.state.services.app.store
    disabled = [row for row in store.read_aggregate(clerk_id) if row[2].endswith("User.Disabled")]
    assert len(disabled) == 1
    assert user_id_for("root@example.com").encode() in disabled[0][3]  # `by`: the admin


def test_oneself_unknown_and_forged_are_refused_and_change_nothing(
    portal_app: Any, browser_factory: Any
) -> None:
    admin = _person(portal_app, browser_factory, "root@example.com", "admin")
    other = _person(portal_app, browser_factory, "ops@example.com", "admin")
    token = csrf_of(admin.get("/admin/users").text)
    own = admin.post(
        f"/admin/users/{user_id_for('root@example.com')}/disable", data={"csrf": token}
    )
    assert own.status_code == 409
    assert "you cannot disable your own account" in own.text
    unknown = admin.post("/admin/users/usr_0000/disable", data={"csrf": token})
    assert unknown.status_code == 404
    forged = admin.post(f"/admin/users/{user_id_for('ops@example.com')}/disable", data={})
    assert forged.status_code == 403
    find = portal_app.app.state.services.app.find
    assert not find(User, user_id_for("root@example.com")).disabled
    assert not find(User, user_id_for("ops@example.com")).disabled
    assert other.get("/admin/users").status_code == 200


def test_only_admins_disable_people(portal_app: Any, browser_factory: Any) -> None:
    _person(portal_app, browser_factory, "root@example.com", "admin")
    clerk = _person(portal_app, browser_factory, "clerk@example.com", "finance")
    page = clerk.get("/account").text
    answer = clerk.post(
        f"/admin/users/{user_id_for('root@example.com')}/disable", data={"csrf": csrf_of(page)}
    )
    assert answer.status_code == 403
    assert not portal_app.app.state.services.app.find(
        User, user_id_for("root@example.com")
    ).disabled
