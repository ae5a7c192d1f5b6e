"""`ppcx-tools bench store`: event-store append and read-back throughput, SQLite and PostgreSQL,
next to a raw-SQLite insert of the very same payloads in the same run.

The payloads are real Call aggregates (a ping, three bids and the auction decision), so the
bytes stored are what production stores. "Batched" saves 100 aggregates per transaction
through the same writer the exchange uses; "one per save" commits each aggregate alone.
"""

from __future__ import annotations

import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import orjson
import psycopg
import psycopg.sql
from rich.console import Console

from domain.call import Call
from domain.call_state import BidSource, Candidate
from domain.campaign import Distribution
from domain.clock import ManualClock
from domain.ids import new_id
from eventstore.application import PPCXApplication
from eventstore.encoding import encode_event
from eventstore.rows import StoredRow
from eventstore.writer import EventWriter
from ppcx.bootstrap import build_application
from ppcx.settings import Settings
from tools.bench.report import Figure, median, rate, timed

BATCH_AGGREGATES = 100
READ_PAGE = 1000
START_EPOCH = "2026-03-02T15:00:00+00:00"


@dataclass(frozen=True)
class StoreRun:
    appended_single: float
    appended_batched: float
    read_decoded: float
    events_single: int
    events_batched: int


def make_calls(count: int, clock: ManualClock) -> list[Call]:
    calls = []
    for _ in range(count):
        at = clock.advance(timedelta(milliseconds=7))
        call = Call.receive_ping(
            new_id("call"),
            "cmp_" + "1" * 32,
            "pub_" + "2" * 32,
            uuid.uuid4().hex,
            {"state": "CA", "zip": "90210", "area_code": "310"},
            {"source": "google", "medium": "cpc", "keyword": "car accident lawyer"},
            {},
            "main",
            at,
        )
        ranking: list[Candidate] = []
        for b in range(3):
            target, buyer = f"tgt_{b:032x}", f"buy_{b:032x}"
            call.record_bid(target, buyer, 4500 - 100 * b, BidSource.STANDING, 0, 0, 1, at)
            ranking.append(Candidate(target, buyer, 4500 - 100 * b, 3000, "+13105550100", 90, 0, 1))
        call.award(
            rule_version=1,
            mode=Distribution.AUCTION,
            seed=1,
            floor_cents=3500,
            rr_cursor=0,
            ranking=ranking,
            winner_target_id=ranking[0].target_id,
            hold_id=new_id("hold"),
            expires_at=at + timedelta(seconds=60),
            excluded={},
            skipped=[],
            at=at,
        )
        calls.append(call)
    return calls


def _append(app: PPCXApplication, calls: list[Call], per_save: int) -> tuple[float, int]:
    writer = EventWriter(app)
    events = sum(len(c.pending_events) for c in calls)

    def run() -> None:
        for i in range(0, len(calls), per_save):
            writer.save(*calls[i : i + per_save])

    return rate(events, timed(run)), events


def _read(app: PPCXApplication) -> float:
    count = 0

    def run() -> None:
        nonlocal count
        start = 1
        while page := app.recorder.select_notifications(start, READ_PAGE):
            for n in page:
                app.mapper.to_domain_event(n)
            count += len(page)
            start = page[-1].id + 1

    elapsed = timed(run)
    return rate(count, elapsed)


def measure(settings: Settings, single: int, batched: int) -> StoreRun:
    clock = ManualClock.parse(START_EPOCH)
    app = build_application(settings)
    try:
        single_rate, single_events = _append(app, make_calls(single, clock), 1)
        batched_rate, batched_events = _append(app, make_calls(batched, clock), BATCH_AGGREGATES)
        read_rate = _read(app)
    finally:
        app.close()
    return StoreRun(single_rate, batched_rate, read_rate, single_events, batched_events)


def raw_sqlite(rows: list[StoredRow], directory: Path) -> tuple[float, float]:
    """The baseline: the same payloads with sqlite3's executemany into the library's table
    layout (same primary key, WAL, same transaction sizes); then a raw read with JSON decode."""
    connection = sqlite3.connect(directory / "raw.sqlite", isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(
            "CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, "
            "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"
        )
        per_transaction = max(1, len(rows) // max(1, len(rows) // (BATCH_AGGREGATES * 5)))

        def insert() -> None:
            for i in range(0, len(rows), per_transaction):
                connection.execute("BEGIN")
                connection.executemany(
                    "INSERT INTO stored_events VALUES (?,?,?,?)", rows[i : i + per_transaction]
                )
                connection.execute("COMMIT")

        insert_rate = rate(len(rows), timed(insert))  # len() first, then the timing

        def read() -> None:
            for row in connection.execute("SELECT rowid, * FROM stored_events ORDER BY rowid"):
                orjson.loads(row[4])

        return insert_rate, rate(len(rows), timed(read))
    finally:
        connection.close()


def _ensure_database(settings: Settings, console: Console) -> None:
    """Create the configured database on a fresh local server (it is reported, not hidden)."""
    maintenance = psycopg.conninfo.make_conninfo(
        host=settings.postgres_host,
        port=settings.postgres_port,
        user=settings.postgres_user,
        password=settings.postgres_password,
        dbname="postgres",
        connect_timeout=5,
    )
    with psycopg.connect(maintenance, autocommit=True) as connection:
        found = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (settings.postgres_dbname,)
        ).fetchone()
        if not found:
            connection.execute(
                psycopg.sql.SQL("CREATE DATABASE {}").format(
                    psycopg.sql.Identifier(settings.postgres_dbname)
                )
            )
            console.print(f"store: created PostgreSQL database {settings.postgres_dbname!r}")


@contextmanager
def postgres_schema(settings: Settings, console: Console) -> Iterator[Settings | None]:
    """A throw-away schema on the configured PostgreSQL (None when unreachable)."""
    conninfo = psycopg.conninfo.make_conninfo(
        host=settings.postgres_host,
        port=settings.postgres_port,
        user=settings.postgres_user,
        password=settings.postgres_password,
        dbname=settings.postgres_dbname,
        connect_timeout=5,
    )
    schema = f"ppcx_bench_{uuid.uuid4().hex[:8]}"
    try:
        _ensure_database(settings, console)
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.OperationalError as error:
        console.print(f"[yellow]PostgreSQL skipped[/]: {str(error).strip()}")
        yield None
        return
    try:
        yield settings.model_copy(
            update={"persistence_module": "eventsourcing.postgres", "postgres_schema": schema}
        )
    finally:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


ROUNDS = 3


def _paired_batched(settings: Settings, directory: Path, calls: int) -> tuple[float, float]:
    """Median batched-append rate and median raw-insert rate over rounds that alternate the
    two in fresh stores, so both see the same disk and the same noise."""
    ours, raw = [], []
    for round_number in range(ROUNDS):
        folder = directory / f"round{round_number}"
        folder.mkdir()
        round_settings = settings.model_copy(
            update={"data_dir": folder, "sqlite_dbname": str(folder / "events.sqlite")}
        )
        clock = ManualClock.parse(START_EPOCH)
        app = build_application(round_settings)
        try:
            ours.append(_append(app, make_calls(calls, clock), BATCH_AGGREGATES)[0])
        finally:
            app.close()
        rows = [
            encode_event(e)
            for c in make_calls(calls, ManualClock.parse(START_EPOCH))
            for e in c.pending_events
        ]
        raw.append(raw_sqlite(rows, folder)[0])
    return median(ours), median(raw)


def run(settings: Settings, console: Console, *, calls: int = 20_000) -> list[Figure]:
    single = max(200, calls // 10)
    with tempfile.TemporaryDirectory(prefix="ppcx-bench-store-") as tmp:
        directory = Path(tmp)
        sqlite_settings = settings.model_copy(
            update={
                "data_dir": directory,
                "persistence_module": "eventsourcing.sqlite",
                "sqlite_dbname": str(directory / "events.sqlite"),
                "audit_key": "bench",
            }
        )
        console.print(
            f"store: SQLite batched vs raw, {ROUNDS} alternating rounds of {calls} calls …"
        )
        batched, raw_insert = _paired_batched(sqlite_settings, directory, calls)
        console.print(f"store: SQLite, {single} single saves, then read back …")
        lite = measure(sqlite_settings, single, calls // 4)
        rows = [
            encode_event(e)
            for c in make_calls(calls, ManualClock.parse(START_EPOCH))
            for e in c.pending_events
        ]
        _, raw_read = raw_sqlite(rows, directory)
        figures = [
            Figure(
                "SQLite append, batched (100 aggregates/save)",
                batched,
                "events/s",
                "raw sqlite3 executemany, same payloads",
                raw_insert,
                "≥ 0.50",
            ),
            Figure(
                "SQLite append, one aggregate per save",
                lite.appended_single,
                "events/s",
                "raw sqlite3 executemany, same payloads",
                raw_insert,
            ),
            Figure(
                "SQLite read back, decoded to events",
                lite.read_decoded,
                "events/s",
                "raw sqlite3 read + orjson.loads",
                raw_read,
            ),
        ]
        with postgres_schema(settings, console) as pg_settings:
            if pg_settings is not None:
                console.print("store: PostgreSQL …")
                pg = measure(pg_settings, max(100, single // 2), calls // 2)
                figures += [
                    Figure(
                        "PostgreSQL append, batched (100 aggregates/save)",
                        pg.appended_batched,
                        "events/s",
                        "raw sqlite3 executemany, same payloads",
                        raw_insert,
                    ),
                    Figure(
                        "PostgreSQL append, one aggregate per save",
                        pg.appended_single,
                        "events/s",
                        "raw sqlite3 executemany, same payloads",
                        raw_insert,
                    ),
                    Figure(
                        "PostgreSQL read back, decoded to events",
                        pg.read_decoded,
                        "events/s",
                        "raw sqlite3 read + orjson.loads",
                        raw_read,
                    ),
                ]
    return figures
