"""Parquet export, partitioned by day: what analysts take elsewhere (DuckDB over Parquet with
many readers, Spark, pandas)."""

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


def export_parquet(con: duckdb.DuckDBPyConnection, directory: Path) -> dict[str, int]:
    """Write every table under `directory` → rows written per table."""
    directory.mkdir(parents=True, exist_ok=True)
    written: dict[str, int] = {}
    for table, query in EXPORTS.items():
        target = directory / table
        con.execute(
            f"COPY ({query}) TO '{target}' "
            "(FORMAT parquet, PARTITION_BY (day), OVERWRITE_OR_IGNORE true)"
        )
        row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
        written[table] = int(row[0]) if row else 0
    for table in DIMENSIONS:
        con.execute(f"COPY {table} TO '{directory / (table + '.parquet')}' (FORMAT parquet)")
        row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
        written[table] = int(row[0]) if row else 0
    return written
