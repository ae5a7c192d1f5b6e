"""Every page of the buyer's and the publisher's portal in a real browser (Playwright driving
Debian's Chromium) against a live server: labels on every input, text contrast at WCAG AA,
keyboard navigation from the skip link, no script error, charts drawn, and no request leaving
the server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from ppcx.settings import Settings
from tests.api.conftest import live_server, project
from tests.portal.browser import (
    Requests,
    api,
    api_settings,
    bearer,
    chromium,
    cli_invite,
    screenshot,
)
from tests.portal.test_browser_journey import (
    PASSWORD,
    _billed_call,
    _market,
    _ping,
    _set_password,
)

__all__ = ["api", "api_settings", "chromium", "live_server"]  # the fixtures used
pytestmark = [pytest.mark.integration, pytest.mark.browser]
BUYER_PAGES = (
    "/buyer/targets",
    "/buyer/calls",
    "/buyer/disputes",
    "/buyer/billing",
    "/buyer/performance",
    "/webhooks",
    "/account",
)
PUBLISHER_PAGES = (
    "/publisher/campaigns",
    "/publisher/calls",
    "/publisher/statements",
    "/publisher/numbers",
    "/webhooks",
    "/account",
)
UNLABELLED = """() => [...document.querySelectorAll(
    'input:not([type=hidden]), select, textarea')].filter(e =>
    !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
    && !e.getAttribute('aria-labelledby')).map(e => e.name || e.id || e.outerHTML)"""
# WCAG 2.x contrast of every element holding text against its nearest opaque background
LOW_CONTRAST = """() => {
  const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => { const f = v => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = el => { for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c.slice(0, 3); } return [255, 255, 255]; };
  const bad = [];
  for (const el of document.querySelectorAll('body *')) {
    if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const st = getComputedStyle(el);
    if (st.visibility === 'hidden' || st.display === 'none') continue;
    const a = lum(rgb(st.color).slice(0, 3)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(st.fontSize), bold = parseInt(st.fontWeight) >= 700;
    if (ratio < ((size >= 24 || (size >= 18.66 && bold)) ? 3 : 4.5))
      bad.push(el.tagName + ' "' + el.textContent.trim().slice(0, 30) + '" ' + ratio.toFixed(2));
  }
  return bad; }"""


def _check(page: Any, path: str, errors: list[str]) -> None:
    page.goto(path)
    assert page.locator("h1").count() == 1, path
    assert page.evaluate(UNLABELLED) == [], path
    assert page.evaluate(LOW_CONTRAST) == [], path
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip", path
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main", path
    assert errors == [], (path, errors)


def _keyboard_reaches(page: Any, name: str, presses: int = 12) -> bool:
    """Tabbing from the top of the page focuses a link or button named `name`."""
    page.goto(page.url)
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == name:
            return True
    return False


def test_every_page_is_labelled_legible_keyboard_ready_and_self_contained(
    live_server: str, api: httpx.Client, api_settings: Settings, chromium: Any, tmp_path: Path
) -> None:
    market = _market(api)
    buyer_id, buyer_key = market.buyers[0].id, market.buyers[0].api_key
    publisher = market.publishers[0]
    offer = _ping(api, publisher.api_key, market.campaign_id, "+13105550121")
    assert offer["accepted"] is True
    _billed_call(api, publisher.api_key, offer["ping_id"])
    assert api.post(
        f"/v1/calls/{offer['ping_id']}/conversion",
        json={"value": "120.00"},
        headers=bearer(buyer_key),
    ).is_success
    project(api_settings)
    requests = Requests()
    errors: list[str] = []

    def new_page() -> Any:
        context = chromium.new_context(base_url=live_server)
        context.on("request", lambda request: requests.urls.append(request.url))
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on(
            "console",
            lambda message: errors.append(message.text) if message.type == "error" else None,
        )
        return page

    buyer = new_page()
    _set_password(
        buyer, cli_invite(api_settings, live_server, "media@buyer.example", "buyer", buyer_id)
    )
    buyer.wait_for_url("**/buyer/targets")
    for path in BUYER_PAGES:
        _check(buyer, path, errors)
    assert _keyboard_reaches(buyer, "Calls")
    buyer.goto(f"/buyer/calls/{offer['ping_id']}")
    _check(buyer, f"/buyer/calls/{offer['ping_id']}", errors)
    screenshot(buyer, "buyer-call", tmp_path)
    buyer.goto("/buyer/performance")
    drawn = buyer.evaluate(
        "['chart-spend', 'chart-win'].map(id => !!Chart.getChart(document.getElementById(id)))"
    )
    assert drawn == [True, True]
    screenshot(buyer, "buyer-performance", tmp_path)
    buyer.goto("/buyer/billing")
    screenshot(buyer, "buyer-billing", tmp_path)

    pub = new_page()
    _set_password(
        pub,
        cli_invite(api_settings, live_server, "ops@publisher.example", "publisher", publisher.id),
    )
    pub.wait_for_url("**/publisher/campaigns")
    for path in PUBLISHER_PAGES:
        _check(pub, path, errors)
    pub.goto("/publisher/numbers")
    screenshot(pub, "publisher-numbers", tmp_path)
    login = new_page()
    _check(login, "/login", errors)
    assert login.get_by_label("E-mail address").is_visible()
    assert PASSWORD not in login.content()

    assert requests.outside(live_server) == []
