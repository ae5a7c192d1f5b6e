"""Waiting for a condition instead of sleeping: poll it, and give up only after a bound far
beyond anything a loaded machine adds (an upper bound, never a margin the test relies on),
with a message that says what never happened."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

WAIT_S_MAX = 120.0
POLL_S = 0.02


def wait_until(condition: Callable[[], bool], what: str, *, timeout_s: float = WAIT_S_MAX) -> None:
    """Return once `condition()` holds; fail naming `what` after `timeout_s`."""
    end = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < end, f"{what}: not within {timeout_s:.0f} s"
        time.sleep(POLL_S)


async def until(condition: Callable[[], bool], what: str, *, timeout_s: float = WAIT_S_MAX) -> None:
    """`wait_until` for a test's event loop (it keeps running while waiting)."""
    end = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < end, f"{what}: not within {timeout_s:.0f} s"
        await asyncio.sleep(POLL_S)
