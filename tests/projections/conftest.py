from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.clock import ManualClock
from ppcx.bootstrap import Domain, build_domain
from ppcx.settings import Settings
from projections.store import ProjectionStore
from tests.support.market import START, build_market
from tests.support.scenario import drive_calls


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def market_log(settings: Settings, clock: ManualClock) -> Iterator[Domain]:
    """A store holding a small market's set-up and 120 varied call lives."""
    domain = build_domain(settings, clock=clock)
    market = build_market(
        domain,
        buyers=3,
        bids=("45.00", "40.00", "50.00"),
        deposit="100000.00",
        duplicate_window_days=1,
    )
    drive_calls(market, clock, 120, seed=3)
    try:
        yield domain
    finally:
        domain.close()


def project_log(domain: Domain, path: Path, batch_events: int = 5000) -> ProjectionStore:
    from projections.projector import Projector

    store = ProjectionStore(path)
    Projector(store).run_from_log(domain.app.select_chained, batch_events=batch_events)
    store.publish_snapshot(force=True)
    return store


def dump(store: ProjectionStore) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows, sorted: what "identical tables" compares."""
    tables = (
        "campaigns",
        "publishers",
        "buyers",
        "targets",
        "tracking_numbers",
        "pings",
        "bids",
        "calls",
        "ledger_entries",
        "pnl_hourly",
        "attribution_daily",
    )
    out = {}
    for table in tables:
        rows = store.con.execute(f"SELECT * FROM {table}").fetchall()
        out[table] = sorted(rows, key=repr)
    return out
