"""A buyer's pages show its calls' lead scores: the calls list's Score column and the call
page's "Lead score" with the model, and the timeline's "Lead scored" step; a publisher's calls
list has the Score column too."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.clock import ManualClock
from ppcx.bootstrap import Domain
from ppcx.settings import Settings
from tests.api.test_scores import MODEL, buyer_of, scored_calls, scoring
from tests.portal.conftest import Browser, accept, invite_user, project

__all__ = ["scoring"]
pytestmark = pytest.mark.integration


def test_the_buyer_sees_its_calls_scores(
    portal_app: TestClient,
    browser_factory: Any,
    clock: ManualClock,
    scoring: Domain,
    api_settings: Settings,
) -> None:
    market, (long_call, _) = scored_calls(portal_app, clock, scoring, api_settings)
    buyer_id = buyer_of(portal_app, market, long_call)
    browser: Browser = browser_factory()
    accepted = accept(browser, invite_user(portal_app, "bea@example.com", "buyer", buyer_id))
    assert accepted.status_code == 303
    project(api_settings)
    page = browser.get(f"/buyer/calls/{long_call}")
    assert page.status_code == 200, page.text
    assert "62.2 % likely to convert" in page.text  # 6225 bp
    assert MODEL.version in page.text
    assert "Lead scored" in page.text
    assert "features" not in page.text  # internal only
    listed = browser.get("/buyer/calls")
    assert listed.status_code == 200
    assert ">Score<" in listed.text
    assert "62.2 %" in listed.text


def test_the_publisher_sees_its_calls_scores(
    portal_app: TestClient,
    browser_factory: Any,
    clock: ManualClock,
    scoring: Domain,
    api_settings: Settings,
) -> None:
    market, _ = scored_calls(portal_app, clock, scoring, api_settings)
    publisher_id, _ = market.publisher
    browser: Browser = browser_factory()
    link = invite_user(portal_app, "pia@example.com", "publisher", publisher_id)
    assert accept(browser, link).status_code == 303
    project(api_settings)
    listed = browser.get("/publisher/calls")
    assert listed.status_code == 200, listed.text
    assert ">Score<" in listed.text
    assert "62.2 %" in listed.text
    assert "11.9 %" in listed.text  # the short call: 1192 bp
