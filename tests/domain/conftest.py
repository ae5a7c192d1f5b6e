from __future__ import annotations

from collections.abc import Iterator

import pytest

from domain.clock import ManualClock
from ppcx.bootstrap import Domain, build_domain
from ppcx.settings import Settings
from tests.support.market import START


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def domain(settings: Settings, clock: ManualClock) -> Iterator[Domain]:
    built = build_domain(settings, clock=clock)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """The same contract runs against both stores."""
    if request.param == "sqlite":
        return settings
    postgres: Settings = request.getfixturevalue("postgres_settings")
    return postgres


@pytest.fixture
def any_domain(store_settings: Settings, clock: ManualClock) -> Iterator[Domain]:
    built = build_domain(store_settings, clock=clock)
    try:
        yield built
    finally:
        built.close()
