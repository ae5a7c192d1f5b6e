"""The browser for portal tests: Playwright for Python driving Debian's Chromium
(`apt-get install chromium`; Playwright's own browser download is not used). A missing browser
fails the test, as a missing service does; deselect with `-m "not browser"` on a machine
without one. Every page's requests are recorded, so a test can prove none left the server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from ppcx.cli import app
from ppcx.settings import Settings
from tests.api.conftest import ADMIN_KEY
from tests.support.environment import ppcx_env

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
SCREENSHOTS_DIR = Path(__file__).resolve().parents[2] / "docs" / "portal"


def chromium_path() -> str:
    configured = os.environ.get("PPCX_CHROMIUM")
    for candidate in (configured, *CHROMIUM_CANDIDATES, shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.fail(
        "no Chromium for the browser tests: `apt-get install chromium` (or set PPCX_CHROMIUM); "
        'deselect them with -m "not browser"'
    )


@dataclass
class Requests:
    """Every URL the pages of a browser context asked for."""

    urls: list[str] = field(default_factory=list)

    def outside(self, origin: str) -> list[str]:
        return [u for u in self.urls if not u.startswith(origin + "/") and u != origin]


@pytest.fixture(scope="module")  # a module at a time: its event loop is the main thread's
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=["--no-sandbox"]
        )
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Any, name: str, tmp_path: Path) -> Path:
    """A full-page PNG: into docs/portal/ when PPCX_SCREENSHOTS=1 (for the README), else the
    test's temporary directory (the capture still runs, so it cannot rot)."""
    folder = SCREENSHOTS_DIR if os.environ.get("PPCX_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    """The served app's settings: no public base URL, so links and cookies follow the loopback
    address the browser uses (a Secure cookie would not come back over plain http)."""
    return settings.model_copy(update={"bootstrap_admin_key": ADMIN_KEY, "public_base_url": None})


@pytest.fixture
def api(live_server: str) -> Iterator[httpx.Client]:
    """An HTTP client of the live server (its API, as machines use it)."""
    with httpx.Client(base_url=live_server, timeout=30) as client:
        yield client


def bearer(key: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def cli_invite(
    settings: Settings, base_url: str, email: str, role: str, owner: str | None = None
) -> str:
    """`ppcx users invite` from the shell, against the server's own store → the one-time link."""
    env = {**ppcx_env(settings), "PPCX_PUBLIC_BASE_URL": base_url}
    args = ["users", "invite", "--email", email, "--role", role]
    if owner is not None:
        args += ["--owner", owner]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    return str(result.output.strip().splitlines()[-1])
