from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from domain.clock import ManualClock
from ppcx.bootstrap import Domain, build_domain
from ppcx.settings import Settings
from projections.store import DATA_TABLES, ProjectionStore
from tests.support.clock import START
from tests.support.market import build_market
from tests.support.scenario import drive_calls


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def market_log(local_settings: Settings, clock: ManualClock) -> Iterator[Domain]:
    """A store holding a small market's set-up and 120 varied call lives."""
    domain = build_domain(local_settings, clock=clock)
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
    Projector(store).run_from_log(domain.app.store.read_chained, batch_events=batch_events)
    store.publish_snapshot(force=True)
    return store


def dump(store: ProjectionStore) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows, sorted: what "identical tables" compares."""
    out = {}
    for table in DATA_TABLES:
        rows = store.con.execute(f"SELECT * FROM {table}").fetchall()
        out[table] = sorted(rows, key=repr)
    return out


@dataclass(frozen=True)
class ProjectedMarket:
    """A small market's log, projected and published once for a module's CLI tests."""

    settings: Settings
    directory: Path

    @property
    def env(self) -> dict[str, str]:
        """What a `ppcx` command needs to find these projections."""
        return {
            "PPCX_DATA_DIR": str(self.settings.data_dir),
            "SQLITE_DBNAME": str(self.settings.sqlite_dbname),
            "PPCX_AUDIT_KEY": str(self.settings.audit_key),
            "PPCX_SECRET_KEY": str(self.settings.secret_key),
            "PPCX_DUCKDB_PATH": str(self.settings.duckdb_path),
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        }


@pytest.fixture(scope="module")
def projected_market(
    base_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> ProjectedMarket:
    """40 call lives in a SQLite log, projected into DuckDB with a published snapshot (no
    Redis or NATS: the analysts' commands read only the snapshot)."""
    directory = tmp_path_factory.mktemp("projected")
    unique = uuid.uuid4().hex[:12]
    settings = base_settings.model_copy(
        update={
            "data_dir": directory / "data",
            "persistence_module": "eventsourcing.sqlite",
            "sqlite_dbname": str(directory / "events.sqlite"),
            "duckdb_path": directory / "analytics.duckdb",
            "secret_key": "test-secret-" + unique,
            "audit_key": "test-audit-" + unique,
        }
    )
    clock = ManualClock(START)
    domain = build_domain(settings, clock=clock)
    try:
        market = build_market(domain, buyers=3, bids=("45.00", "40.00", "50.00"))
        drive_calls(market, clock, 40, seed=11)
        assert settings.duckdb_path is not None
        project_log(domain, settings.duckdb_path).close()
    finally:
        domain.close()
    return ProjectedMarket(settings, directory)
