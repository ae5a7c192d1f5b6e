"""Parquet export, partitioned by day: what analysts take elsewhere (DuckDB over Parquet with
many readers, Spark, pandas).

The connection is the sandboxed snapshot reader allowed to write under the export directory
only (`open_snapshot(..., writable_directory=...)`); files are written through DuckDB's
relation API, so the path is an argument, never text spliced into SQL.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

EXPORTS = {
    "calls": "SELECT *, CAST(pinged_at AS DATE) AS day FROM calls",
    "pings": "SELECT *, CAST(occurred_at AS DATE) AS day FROM pings",
    "bids": "SELECT *, CAST(occurred_at AS DATE) AS day FROM bids",
    "ledger_entries": "SELECT *, CAST(occurred_at AS DATE) AS day FROM ledger_entries",
}
DIMENSIONS = ("campaigns", "publishers", "buyers", "targets", "tracking_numbers")
PARTITION_COLUMN = "day"


def export_directory(requested: Path) -> Path:
    """The absolute directory an export writes under (created if missing)."""
    directory = requested.expanduser().resolve()
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def export_parquet(con: duckdb.DuckDBPyConnection, directory: Path) -> dict[str, int]:
    """Write every table under `directory` (absolute, see `export_directory`) → rows written
    per table. A table's previous export is replaced."""
    written: dict[str, int] = {}
    for table, query in EXPORTS.items():
        con.sql(query).write_parquet(
            str(directory / table), partition_by=[PARTITION_COLUMN], overwrite=True
        )
        written[table] = _count(con, table)
    for table in DIMENSIONS:
        con.table(table).write_parquet(str(directory / f"{table}.parquet"))
        written[table] = _count(con, table)
    return written


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.table(table).aggregate("count(*)").fetchone()
    return int(row[0]) if row else 0
