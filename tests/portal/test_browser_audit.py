"""Finance runs the audit in a real browser (Playwright driving Debian's Chromium) against a
real server on loopback: the page follows an audit's progress by itself (htmx polling) until
it ends, and an audit started from the page ends with the verdict, head and link that
`ppcx replay verify` gives on the same data."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from typer.testing import CliRunner

import tools.market
from eventstore.audits import FILE_NAME, AuditStore, NewAudit
from ppcx.cli import app
from ppcx.settings import Settings
from tests.api.conftest import ADMIN_KEY, live_server
from tests.portal.browser import (
    Requests,
    api,
    api_settings,
    chromium,
    cli_invite,
    screenshot,
)
from tests.support.environment import ppcx_env
from tools.market import BuyerSpec, MarketSpec, OverHttp

__all__ = ["api", "api_settings", "chromium", "live_server"]  # the fixtures used
pytestmark = [pytest.mark.integration, pytest.mark.browser]
PASSWORD = "correct horse battery staple"
WAIT_MS = 120_000  # an upper bound for a loaded machine, never a margin relied on


def _market(api: httpx.Client) -> None:
    spec = MarketSpec(
        publishers=[{"name": "Acme Leads"}],
        campaign={
            "name": "Car accidents",
            "vertical": "legal",
            "publisher_payout": {"fixed": "30.00"},
            "duplicate_window_days": 30,
        },
        buyers=[
            BuyerSpec(
                {"name": "Lawyers United", "time_zone": "UTC", "credit_limit": "0.00"},
                deposit={"amount": "1000.00", "reference": "wire"},
                targets=[{"name": "intake", "destination": "+13105550200", "bid": "50.00"}],
            )
        ],
    )
    tools.market.build_market(OverHttp(api, ADMIN_KEY), spec)


def test_finance_runs_the_audit_in_the_browser_and_it_agrees_with_the_cli(
    live_server: str, api: httpx.Client, api_settings: Settings, chromium: Any, tmp_path: Path
) -> None:
    _market(api)
    env = {**ppcx_env(api_settings), "PPCX_PUBLIC_BASE_URL": live_server}
    requests = Requests()
    context = chromium.new_context(base_url=live_server)
    context.on("request", lambda request: requests.urls.append(request.url))
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(cli_invite(api_settings, live_server, "fi@example.com", "finance"))
    page.get_by_label("Password (at least 12 characters)").fill(PASSWORD)
    page.get_by_label("The same password again").fill(PASSWORD)
    page.get_by_role("button", name="Set password and sign in").click()
    page.wait_for_url("**/finance/accounts")  # finance starts on its ledger
    page.get_by_role("link", name="Audits").click()
    page.wait_for_url("**/finance/audits")
    assert page.get_by_text("No audits yet").is_visible()

    # another worker's audit, running: the page follows it by itself until it ends
    records = AuditStore(api_settings.resolved_data_dir / FILE_NAME)
    other, created = records.begin(
        NewAudit(
            "other@example.com", int(time.time() * 1000), os.getppid(), socket.gethostname(), 10
        )
    )
    assert created
    page.goto(f"/finance/audits/{other.id}")
    page.get_by_text("0 of 10").wait_for()
    records.beat(other.id, int(time.time() * 1000), events=5, position=5)
    page.get_by_text("5 of 10").wait_for()  # polled, not reloaded
    records.interrupt(other.id, int(time.time() * 1000), "stopped by the test")
    page.locator("#audit-verdict", has_text="interrupted").wait_for()
    assert page.get_by_text("stopped by the test").is_visible()

    # finance's own audit, from the button
    page.goto("/finance/audits")
    page.get_by_role("button", name="Run an audit").click()
    page.wait_for_url("**/finance/audits/*")
    verdict = page.locator("#audit-verdict:not(:has-text('running'))")
    verdict.wait_for()
    shown = {
        "verdict": verdict.inner_text().strip(),
        "head": int(page.locator("#audit-head").inner_text()),
        "link": page.locator("#audit-link").inner_text().strip(),
    }
    assert page.get_by_text("fi@example.com").first.is_visible()

    report_path = tmp_path / "verify.json"
    cli = CliRunner().invoke(
        app, ["replay", "verify", "--no-checkpoints", "--json", str(report_path)], env=env
    )
    assert cli.exit_code == 0, cli.output
    report = orjson.loads(report_path.read_bytes())
    assert shown == {"verdict": "passed", "head": report["head"], "link": report["head_link"]}
    page.goto("/finance/audits")
    rows = page.locator("#audits tbody tr")
    assert rows.count() == 2
    assert "passed" in rows.nth(0).inner_text()  # newest first
    assert "interrupted" in rows.nth(1).inner_text()
    assert page.locator("#audit-head").inner_text() == str(report["head"])  # the latest's
    screenshot(page, "finance-audits", tmp_path)
    assert requests.outside(live_server) == []
