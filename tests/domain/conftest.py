from __future__ import annotations

from collections.abc import Iterator

import pytest

from domain.clock import ManualClock
from ppcx.bootstrap import Domain, build_domain
from ppcx.settings import Settings


@pytest.fixture
def domain(local_settings: Settings, clock: ManualClock) -> Iterator[Domain]:
    """The domain on a SQLite store, committing in groups as in production."""
    built = build_domain(local_settings, clock=clock, group_commit=True)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_settings(request: pytest.FixtureRequest, local_settings: Settings) -> Settings:
    """The same contract runs against both stores."""
    if request.param == "sqlite":
        return local_settings
    postgres: Settings = request.getfixturevalue("postgres_settings")
    return postgres


@pytest.fixture
def any_domain(store_settings: Settings, clock: ManualClock) -> Iterator[Domain]:
    built = build_domain(store_settings, clock=clock)
    try:
        yield built
    finally:
        built.close()
