"""The DuckDB side of the projector: one transaction per batch, holding the batch's rows, the
rollup rows of every hour and day it touched, and the new position — so each event lands
exactly once, whatever crashes when.

A batch is staged as one Arrow table and turned into rows by `ingest.sql`, in DuckDB's
vectorized JSON functions (Python only moves bytes). Both sources stage the same columns —
the log's rows, or JetStream messages unwrapped in SQL — so both give identical tables.

**Readers never touch this file.** DuckDB allows one writing process, and a reader holding the
file would lock the projector out; so the projector publishes a *snapshot* — a checkpointed
copy, renamed into place atomically — at most every few seconds and when it stops. `ppcx sql`,
`ppcx report` and the API's report routes open the snapshot read-only: they may lag by the
snapshot interval, and they can neither block nor corrupt the projector.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import duckdb
import pyarrow as pa

from domain.invariant import present

logger = logging.getLogger(__name__)
POSITION_NAME = "events"
SCHEMA_NAME = "schema"
SNAPSHOT_SUFFIX = ".snapshot"
SQL_FILES = ("schema.sql", "ingest.sql", "rollups.sql")
# The tables schema.sql creates (a unit test compares): the projector's bookkeeping, and the
# data projected from the log, which two projections of the same events hold alike.
BOOKKEEPING_TABLES = ("projection_position", "projection_schema")
DATA_TABLES = (
    "campaigns",
    "campaign_publishers",
    "publishers",
    "buyers",
    "targets",
    "tracking_numbers",
    "number_pools",
    "api_keys",
    "webhooks",
    "setup_changes",
    "disputes",
    "pings",
    "bids",
    "calls",
    "ledger_entries",
    "open_holds",
    "pnl_hourly",
    "attribution_daily",
    "blocklist",
    "auto_pauses",
    "review_flags",
)
TABLES = (*BOOKKEEPING_TABLES, *DATA_TABLES)
ROWS_SCHEMA = pa.schema(
    [
        ("notification_id", pa.int64()),
        ("topic", pa.string()),
        ("originator_id", pa.string()),
        ("originator_version", pa.int64()),
        ("state", pa.binary()),
    ]
)
STAGE_ROWS = """
CREATE OR REPLACE TEMP TABLE ev AS
SELECT notification_id, split_part(topic, ':', 2) AS name, originator_id, originator_version,
       decode(state) AS state
FROM staged WHERE notification_id > $position AND state IS NOT NULL
"""
STAGE_MESSAGES = """
CREATE OR REPLACE TEMP TABLE ev AS
SELECT * FROM (
    SELECT CAST(json_extract_string(m, '$.id') AS BIGINT) AS notification_id,
           split_part(json_extract_string(m, '$.topic'), ':', 2) AS name,
           json_extract_string(m, '$.originator_id') AS originator_id,
           CAST(json_extract_string(m, '$.originator_version') AS BIGINT) AS originator_version,
           json_extract(m, '$.state') AS state
    FROM (SELECT CAST(decode(payload) AS JSON) AS m FROM staged)
) WHERE notification_id > $position
"""
ChainedRow = tuple[int, str | None, int | None, str | None, bytes | None, bytes | None]


def sql_file(name: str) -> str:
    return (resources.files("projections") / name).read_text()


def connect(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection whose session time zone is UTC (times come back in UTC)."""
    con = duckdb.connect(str(path), read_only=read_only)
    con.execute("SET TimeZone = 'UTC'")
    if not read_only:  # the projector checkpoints itself when it publishes a snapshot
        con.execute("SET checkpoint_threshold = '1GB'")
    return con


def schema_digest() -> str:
    """What the tables are built by: a file projected by other SQL is rebuilt from zero."""
    digest = hashlib.sha256()
    for name in SQL_FILES:
        digest.update(sql_file(name).encode())
    return digest.hexdigest()


def snapshot_path_for(path: Path) -> Path:
    return path.with_name(path.stem + SNAPSHOT_SUFFIX + path.suffix)


def stage_rows(rows: Sequence[ChainedRow]) -> pa.Table:
    """Log rows as the Arrow table `ingest.sql` reads (pure Python work: no DuckDB)."""
    return pa.table(
        [
            pa.array([r[0] for r in rows], pa.int64()),
            pa.array([r[3] for r in rows], pa.string()),
            pa.array([r[1] for r in rows], pa.string()),
            pa.array([r[2] for r in rows], pa.int64()),
            pa.array([r[4] for r in rows], pa.binary()),
        ],
        schema=ROWS_SCHEMA,
    )


class ProjectionStore:
    def __init__(self, path: Path, *, snapshot_interval_s: float = 5.0) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.con = connect(path)
        self.snapshot_interval_s = snapshot_interval_s
        self._last_snapshot = 0.0
        self._dirty = False
        self._ingest = sql_file("ingest.sql")
        self._rollups = sql_file("rollups.sql")
        self.rebuilt = self._migrate()

    @property
    def snapshot_path(self) -> Path:
        return snapshot_path_for(self.path)

    def create(self) -> None:
        self.con.execute(sql_file("schema.sql"))
        self.con.execute(
            "INSERT INTO projection_schema VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET digest = excluded.digest",
            [SCHEMA_NAME, schema_digest()],
        )

    def _migrate(self) -> bool:
        """Create the tables; tables built by an older schema or ingest SQL are dropped and
        rebuilt from zero (True then): the log is the truth, projections are derived."""
        found = self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'projection_schema'"
        ).fetchone()
        stored = None
        if found and found[0]:
            row = self.con.execute(
                "SELECT digest FROM projection_schema WHERE name = ?", [SCHEMA_NAME]
            ).fetchone()
            stored = row[0] if row else None
        if stored == schema_digest():
            return False
        populated = self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'calls'"
        ).fetchone()
        if populated and populated[0]:
            logger.warning("projections: the schema changed; rebuilding from zero")
            self.drop()
            return True
        self.create()
        return False

    def close(self) -> None:
        self.con.close()

    def position(self) -> int:
        row = self.con.execute(
            "SELECT position FROM projection_position WHERE name = ?", [POSITION_NAME]
        ).fetchone()
        return int(row[0]) if row else 0

    def set_position(self, position: int) -> None:
        self.con.execute(
            "INSERT INTO projection_position VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
            [POSITION_NAME, position],
        )

    def drop(self) -> None:
        """Drop every table (for a rebuild from zero)."""
        for table in TABLES:
            self.con.execute(f"DROP TABLE IF EXISTS {table}")
        self.create()
        self._dirty = True

    # -- one batch, one transaction -------------------------------------------------------------
    def apply_rows(self, rows: Sequence[ChainedRow]) -> int:
        """A batch read from the log → the number of events projected."""
        if not rows:
            return 0
        return self.apply_staged(stage_rows(rows), rows[-1][0])

    def apply_staged(self, staged: pa.Table, last_id: int) -> int:
        """A batch of log rows already staged by `stage_rows` (possibly in another thread)."""
        return self._apply(staged, STAGE_ROWS, last_id)

    def apply_messages(self, payloads: Sequence[bytes]) -> int:
        """A batch of JetStream messages (the relay's envelopes) → events projected."""
        if not payloads:
            return 0
        staged = pa.table({"payload": pa.array(payloads, pa.binary())})
        return self._apply(staged, STAGE_MESSAGES, None)

    def _apply(self, staged: pa.Table, stage_sql: str, last_id: int | None) -> int:
        con = self.con
        position = self.position()
        con.begin()
        try:
            con.register("staged", staged)
            con.execute(stage_sql, {"position": position})
            con.unregister("staged")
            row = present(
                con.execute("SELECT count(*), max(notification_id) FROM ev").fetchone(),
                "a count has a row",
            )
            events, newest = int(row[0]), row[1]
            if events:
                con.execute(self._ingest)
                con.execute(self._rollups)
            new_position = max(position, newest or 0, last_id or 0)
            if new_position > position:
                self.set_position(new_position)
            con.commit()
        except BaseException:
            con.rollback()
            raise
        if events:
            self._dirty = True
        return events

    # -- snapshots for readers --------------------------------------------------------------------
    def publish_snapshot(self, *, force: bool = False) -> bool:
        """Copy the checkpointed file beside itself and rename it into place (atomic): the
        file readers open. Rate-limited unless forced; skipped when nothing changed."""
        now = time.monotonic()
        if not self._dirty and self.snapshot_path.exists():
            return False
        if not force and now - self._last_snapshot < self.snapshot_interval_s:
            return False
        self.con.execute("CHECKPOINT")
        tmp = self.snapshot_path.with_name(self.snapshot_path.name + ".tmp")
        shutil.copyfile(self.path, tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, self.snapshot_path)
        self._last_snapshot = now
        self._dirty = False
        return True
