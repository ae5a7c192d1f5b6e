"""A log written by older code (`tests/fixtures/log_v1`, see its README) still loads and still
gives what it gave: every stored row decodes to its topic's class and encodes back to the
same bytes, every aggregate loads (the snapshots too), `replay verify` passes with the same
report, and the projections, the calls' states and the statements are those recorded when
the log was written. Loaded row by row with the stored ids and links, into SQLite and into
PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import resolve_topic

from domain.catalog import topic_of
from eventstore.encoding import encode_event
from ppcx.bootstrap import build_application
from ppcx.settings import Settings
from tests.support.log_v1 import (
    EventRow,
    SnapshotRow,
    load_rows,
    outputs,
    postgres_conninfo,
    read_events,
    read_expected,
    read_meta,
    read_snapshots,
)

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Fixture:
    meta: dict[str, Any]
    events: list[EventRow]
    snapshots: list[SnapshotRow]
    expected: dict[str, Any]


@pytest.fixture(scope="module")
def fixture() -> Fixture:
    return Fixture(read_meta(), read_events(), read_snapshots(), read_expected())


def _sqlite_settings(base: Settings, directory: Path, meta: dict[str, Any]) -> Settings:
    return base.model_copy(
        update={
            "data_dir": directory / "data",
            "persistence_module": "eventsourcing.sqlite",
            "sqlite_dbname": str(directory / "events.sqlite"),
            "duckdb_path": directory / "analytics.duckdb",
            "audit_key": meta["audit_key"],
            "secret_key": meta["secret_key"],
        }
    )


@dataclass(frozen=True)
class Loaded:
    settings: Settings
    outputs: dict[str, Any]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def loaded(
    request: pytest.FixtureRequest,
    base_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
    fixture: Fixture,
) -> Iterator[Loaded]:
    """The fixture's rows loaded into a store of each kind, and what today's code computes."""
    directory = tmp_path_factory.mktemp(f"log-v1-{request.param}")
    settings = _sqlite_settings(base_settings, directory, fixture.meta)
    schema = ""
    if request.param == "postgres":
        database: str = request.getfixturevalue("postgres_database")
        schema = f"log_v1_{uuid.uuid4().hex[:12]}"
        settings = settings.model_copy(
            update={
                "persistence_module": "eventsourcing.postgres",
                "postgres_dbname": database,
                "postgres_schema": schema,
            }
        )
        with psycopg.connect(postgres_conninfo(settings), autocommit=True) as connection:
            connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        load_rows(settings, fixture.events, fixture.snapshots)
        computed = outputs(
            settings,
            fixture.events,
            directory / "analytics.duckdb",
            statement_accounts=fixture.meta["statement_accounts"],
            tables=list(fixture.expected["tables"]),
        )
        yield Loaded(settings, computed)
    finally:
        if schema:
            with psycopg.connect(postgres_conninfo(settings), autocommit=True) as connection:
                connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_the_fixture_holds_every_class_and_snapshots(fixture: Fixture) -> None:
    topics = {row.topic for row in fixture.events}
    assert len(topics) >= 42
    assert [row.notification_id for row in fixture.events] == list(
        range(1, len(fixture.events) + 1)
    )
    assert {s.topic for s in fixture.snapshots} == {"domain.base:PPCXSnapshot"}
    assert len(fixture.snapshots) >= 2


def test_every_row_decodes_to_its_class_and_encodes_to_its_bytes(
    fixture: Fixture, base_settings: Settings, tmp_path: Path
) -> None:
    app = build_application(_sqlite_settings(base_settings, tmp_path, fixture.meta))
    try:
        for row in fixture.events:
            event = app.mapper.to_domain_event(
                StoredEvent(row.originator_id, row.originator_version, row.topic, row.state)
            )
            assert type(event) is resolve_topic(row.topic), row.notification_id
            assert topic_of(type(event)) == row.topic
            assert encode_event(event) == (
                row.originator_id,
                row.originator_version,
                row.topic,
                row.state,
            ), row.notification_id
        assert app.snapshots is not None
        for snap in fixture.snapshots:
            snapshot = app.snapshots.mapper.to_domain_event(
                StoredEvent(snap.originator_id, snap.originator_version, snap.topic, snap.state)
            )
            assert topic_of(type(snapshot)) == snap.topic
            again = app.snapshots.mapper.to_stored_event(snapshot)
            assert (again.topic, again.state) == (snap.topic, snap.state)
    finally:
        app.close()


def test_every_aggregate_loads_at_its_version(loaded: Loaded, fixture: Fixture) -> None:
    assert loaded.outputs["aggregates"] == fixture.expected["aggregates"]
    versions: dict[str, int] = {}
    for row in fixture.events:
        versions[row.originator_id] = row.originator_version
    assert {k: v[1] for k, v in loaded.outputs["aggregates"].items()} == versions


def test_snapshotted_aggregates_load_as_their_events_fold(loaded: Loaded, fixture: Fixture) -> None:
    """A Buyer and a Target load from their stored snapshot plus the events after it: the
    same state as folding every event from the first."""
    app = build_application(loaded.settings)
    try:
        for snap in fixture.snapshots:
            from_snapshot = app.repository.get(snap.originator_id)
            folded: Any = None
            for event in app.events.get(snap.originator_id):
                folded = event.mutate(folded)
            assert from_snapshot.version > snap.originator_version
            assert vars(from_snapshot) == vars(folded)
    finally:
        app.close()


def test_replay_verify_gives_the_same_report(loaded: Loaded, fixture: Fixture) -> None:
    assert loaded.outputs["verify"]["ok"] is True
    assert loaded.outputs["verify"] == fixture.expected["verify"]


def test_projections_are_the_same_tables(loaded: Loaded, fixture: Fixture) -> None:
    """Columns added to a table since the log was written are appended, so the columns the
    writing commit had keep their place: those are compared, value for value."""
    expected = fixture.expected["tables"]
    assert set(loaded.outputs["tables"]) == set(expected)
    for table, rows in expected.items():
        width = len(rows[0]) if rows else 0
        computed = [row[:width] for row in loaded.outputs["tables"][table]]
        assert sorted(computed, key=orjson.dumps) == rows, table


def test_calls_are_in_the_same_states(loaded: Loaded, fixture: Fixture) -> None:
    assert loaded.outputs["calls"] == fixture.expected["calls"]


def test_statements_are_the_same(loaded: Loaded, fixture: Fixture) -> None:
    assert loaded.outputs["statements"] == fixture.expected["statements"]
