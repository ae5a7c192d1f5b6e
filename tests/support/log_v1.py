"""The stored log of format version 1 (`tests/fixtures/log_v1`): its rows as they were stored
(written by the commit its README names), loaded into a store exactly so, and what the code
computes from them — the `replay verify` report, the projected tables, every call's state, the
aggregates and two statements. `tests/test_log_v1.py` compares today's answers with the ones
recorded when the log was written; `generate.py` (in the fixture's history) recorded them."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg import sql

from domain.call import Call
from eventstore.chain import chain_key
from ppcx.bootstrap import build_application
from ppcx.settings import Settings
from projections.projector import Projector
from projections.store import ProjectionStore
from replay.statements import statement_from_log
from replay.verify import verify

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "log_v1"
EVENTS_FILE = "events.jsonl"
SNAPSHOTS_FILE = "snapshots.jsonl"
META_FILE = "meta.json"
EXPECTED_DIR = "expected"
POSTGRES_EVENTS = "ppcx_events"  # PPCXApplication.name "PPCX": the library's table names
POSTGRES_SNAPSHOTS = "ppcx_snapshots"
POSTGRES_CHAIN = "ppcx_event_chain"
CALL_FIELDS = ("status", "route", "holds", "billing", "disputes", "decision")
# projection tables compared (projection_schema holds the digest of the SQL, not data)
SKIPPED_TABLES = frozenset({"projection_schema"})
STATEMENT_FROM = datetime(2026, 3, 1, tzinfo=UTC)
STATEMENT_TO = datetime(2026, 4, 1, tzinfo=UTC)


@dataclass(frozen=True)
class EventRow:
    notification_id: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes
    link: bytes

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "id": self.notification_id,
                "originator_id": self.originator_id,
                "version": self.originator_version,
                "topic": self.topic,
                "state": self.state.decode(),
                "link": self.link.hex(),
            }
        )

    @classmethod
    def from_json(cls, line: bytes) -> EventRow:
        data = orjson.loads(line)
        return cls(
            data["id"],
            data["originator_id"],
            data["version"],
            data["topic"],
            data["state"].encode(),
            bytes.fromhex(data["link"]),
        )


@dataclass(frozen=True)
class SnapshotRow:
    originator_id: str
    originator_version: int
    topic: str
    state: bytes

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "originator_id": self.originator_id,
                "version": self.originator_version,
                "topic": self.topic,
                "state": self.state.decode(),
            }
        )

    @classmethod
    def from_json(cls, line: bytes) -> SnapshotRow:
        data = orjson.loads(line)
        return cls(data["originator_id"], data["version"], data["topic"], data["state"].encode())


def _lines(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().splitlines() if line]


def read_events(directory: Path = FIXTURE) -> list[EventRow]:
    return [EventRow.from_json(line) for line in _lines(directory / EVENTS_FILE)]


def read_snapshots(directory: Path = FIXTURE) -> list[SnapshotRow]:
    return [SnapshotRow.from_json(line) for line in _lines(directory / SNAPSHOTS_FILE)]


def read_meta(directory: Path = FIXTURE) -> dict[str, Any]:
    meta: dict[str, Any] = orjson.loads((directory / META_FILE).read_bytes())
    return meta


def read_expected(directory: Path = FIXTURE) -> dict[str, Any]:
    out = directory / EXPECTED_DIR
    expected: dict[str, Any] = {
        name: orjson.loads((out / f"{name}.json").read_bytes()) for name in ("verify", "statements")
    }
    for name in ("aggregates", "calls"):
        expected[name] = dict(orjson.loads(line) for line in _lines(out / f"{name}.jsonl"))
    expected["tables"] = {
        path.stem: [orjson.loads(line) for line in _lines(path)]
        for path in sorted((out / "tables").glob("*.jsonl"))
    }
    return expected


# -- loading the rows into a store, as they were stored -------------------------------------------
def postgres_conninfo(settings: Settings) -> str:
    return psycopg.conninfo.make_conninfo(
        host=settings.postgres_host,
        port=settings.postgres_port,
        user=settings.postgres_user,
        password=settings.postgres_password,
        dbname=settings.postgres_dbname,
        connect_timeout=5,
    )


def load_rows(settings: Settings, events: list[EventRow], snapshots: list[SnapshotRow]) -> None:
    """Write the rows into the store `settings` name with their stored ids and links (the
    application creates its tables first, as it would on a deployment's first start)."""
    build_application(settings).close()
    if settings.persistence_module == "eventsourcing.sqlite":
        with sqlite3.connect(settings.resolved_sqlite_path) as con:
            con.executemany(
                "INSERT INTO stored_events "
                "(rowid, originator_id, originator_version, topic, state, chain) "
                "VALUES (?,?,?,?,?,?)",
                [
                    (
                        r.notification_id,
                        r.originator_id,
                        r.originator_version,
                        r.topic,
                        r.state,
                        r.link,
                    )
                    for r in events
                ],
            )
            con.executemany(
                "INSERT INTO stored_snapshots (originator_id, originator_version, topic, state) "
                "VALUES (?,?,?,?)",
                [(s.originator_id, s.originator_version, s.topic, s.state) for s in snapshots],
            )
        return
    schema = sql.Identifier(settings.postgres_schema)
    with psycopg.connect(postgres_conninfo(settings)) as con, con.cursor() as cur:
        cur.executemany(
            sql.SQL(
                "INSERT INTO {}.{} (notification_id, originator_id, originator_version, topic, "
                "state) VALUES (%s, %s, %s, %s, %s)"
            ).format(schema, sql.Identifier(POSTGRES_EVENTS)),
            [
                (r.notification_id, r.originator_id, r.originator_version, r.topic, r.state)
                for r in events
            ],
        )
        cur.executemany(
            sql.SQL("INSERT INTO {}.{} (notification_id, digest) VALUES (%s, %s)").format(
                schema, sql.Identifier(POSTGRES_CHAIN)
            ),
            [(r.notification_id, r.link) for r in events],
        )
        cur.executemany(
            sql.SQL(
                "INSERT INTO {}.{} (originator_id, originator_version, topic, state) "
                "VALUES (%s, %s, %s, %s)"
            ).format(schema, sql.Identifier(POSTGRES_SNAPSHOTS)),
            [(s.originator_id, s.originator_version, s.topic, s.state) for s in snapshots],
        )
        # the next append continues after the loaded ids
        cur.execute(
            sql.SQL("SELECT setval(pg_get_serial_sequence(%s, 'notification_id'), %s)"),
            (f"{settings.postgres_schema}.{POSTGRES_EVENTS}", events[-1].notification_id),
        )


# -- what the code computes from a loaded store ----------------------------------------------------
def plain(value: Any) -> Any:
    """A value from DuckDB or an aggregate as JSON-able data: times in UTC ISO form; the
    call's frozen state values (Route, Hold, Billing, …) as their JSON form."""
    if hasattr(value, "to_json"):
        value = value.to_json()
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def projected_tables(settings: Settings, path: Path, tables: list[str] | None) -> dict[str, Any]:
    """Every projection table (or those named), its rows sorted, after projecting the log."""
    app = build_application(settings)
    store = ProjectionStore(path)
    try:
        Projector(store).run_from_log(app.store.read_chained)
        names = tables or [
            name
            for (name,) in store.con.execute(
                "SELECT table_name FROM duckdb_tables() "
                "WHERE NOT temporary AND database_name = current_database() ORDER BY 1"
            ).fetchall()
            if name not in SKIPPED_TABLES
        ]
        out: dict[str, Any] = {}
        for name in names:
            rows = [
                plain(list(row)) for row in store.con.execute(f'SELECT * FROM "{name}"').fetchall()
            ]
            out[name] = sorted(rows, key=orjson.dumps)
        return out
    finally:
        store.close()
        app.close()


def outputs(
    settings: Settings,
    events: list[EventRow],
    duckdb_path: Path,
    *,
    statement_accounts: list[str],
    tables: list[str] | None = None,
) -> dict[str, Any]:
    """What the code computes from the store `settings` name (which holds `events`)."""
    assert settings.audit_key is not None
    app = build_application(settings)
    try:
        report = verify(app.store.read_chained, chain_key(settings.audit_key))
        versions: dict[str, int] = {}
        for row in events:
            versions[row.originator_id] = row.originator_version
        aggregates: dict[str, Any] = {}
        calls: dict[str, Any] = {}
        for aggregate_id in sorted(versions):
            aggregate = app.repository.get(aggregate_id)
            aggregates[aggregate_id] = [
                f"{type(aggregate).__module__}:{type(aggregate).__qualname__}",
                aggregate.version,
            ]
            if isinstance(aggregate, Call):
                calls[aggregate_id] = {
                    name: plain(getattr(aggregate, name)) for name in CALL_FIELDS
                }
        statements = {
            account: orjson.loads(
                orjson.dumps(
                    statement_from_log(
                        app.store.read_chained, account, STATEMENT_FROM, STATEMENT_TO
                    ).to_dict()
                )
            )
            for account in statement_accounts
        }
    finally:
        app.close()
    return {
        "verify": orjson.loads(report.to_json()),
        "aggregates": aggregates,
        "calls": calls,
        "statements": statements,
        "tables": projected_tables(settings, duckdb_path, tables),
    }
