"""Shared by the delivery tests: the settings that let webhooks reach loopback receivers, a
clock near the wall clock, and the domain built on them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from domain.clock import ManualClock
from ppcx.bootstrap import Domain, build_domain
from ppcx.settings import Settings


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def hook_settings(settings: Settings, nats_stream: str) -> Settings:
    return settings.model_copy(update={"webhook_allowed_networks": "127.0.0.0/8"})


@pytest.fixture
def now_clock() -> ManualClock:
    """Near the wall clock: receivers check a signature's timestamp against theirs."""
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def domain(hook_settings: Settings, now_clock: ManualClock) -> Iterator[Domain]:
    built = build_domain(hook_settings, clock=now_clock)
    try:
        yield built
    finally:
        built.close()
