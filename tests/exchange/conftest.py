from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator

import pytest

from domain.clock import ManualClock
from ppcx.bootstrap import Domain, ExchangeRuntime, build_domain, build_exchange
from ppcx.settings import Settings
from replay import recovery


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def domain(settings: Settings, clock: ManualClock, redis_client: object) -> Iterator[Domain]:
    built = build_domain(settings, clock=clock, group_commit=True)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
async def runtime(settings: Settings, domain: Domain) -> AsyncIterator[ExchangeRuntime]:
    seeds = itertools.count(1000)
    assert settings.redis_url is not None
    built = build_exchange(
        settings, domain, redis_url=settings.redis_url, seeds=lambda: next(seeds)
    )
    # a new namespace over an empty log: its state is whole from the start (as a runtime's
    # start makes it)
    recovery.ensure(domain.app, built.redis_sync, settings.redis_prefix, domain.clock.now())
    try:
        yield built
    finally:
        await built.close()
