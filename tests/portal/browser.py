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

import pytest

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
