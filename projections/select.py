"""One read-only SELECT over the projections, as `ppcx sql` and the analysts' SQL console run
it: on a sandboxed snapshot reader (`projections.readers`), checked to be exactly one SELECT
before it runs, its rows bounded. DuckDB's sandbox refuses any file access (`read_csv`,
`COPY`, `ATTACH`, …) whatever the statement; the check here refuses every other kind of
statement with a clear reason, before DuckDB sees it.

A Parquet file of a result is written by DuckDB too, from the rows already read, on a scratch
in-memory instance sandboxed the same way and allowed to write under one directory only: the
temporary one made for it (`write_parquet`)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from domain.invariant import invariant
from projections.readers import EXTENSIONS_OFF, sandbox

READ_ONLY = (
    "read-only: one SELECT (or WITH, FROM, DESCRIBE, SHOW, SUMMARIZE) over the projections, "
    "reading and writing no file"
)
BATCH_ROWS = 10_000
INTERRUPT_AGAIN_S = 0.1  # a deadline's interrupt, repeated until the query has ended
PARQUET_NAME = "result.parquet"


class SqlRefused(ValueError):
    """A statement that is not one read-only SELECT, or one the sandbox refused."""


@dataclass(frozen=True)
class Selected:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    cut: bool  # the query had more rows than were read


def one_select(con: duckdb.DuckDBPyConnection, query: str, explain: str = READ_ONLY) -> str:
    """The query, if it is exactly one SELECT; else SqlRefused saying why."""
    try:
        statements = con.extract_statements(query)
    except duckdb.Error as error:
        raise SqlRefused(str(error).strip()) from None
    if not statements:
        raise SqlRefused("no SQL statement given")
    if len(statements) > 1:
        raise SqlRefused(
            f"one statement at a time: this text holds {len(statements)} statements. " + explain
        )
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise SqlRefused(f"a {kind.name} statement is refused. " + explain)
    return query


@contextlib.contextmanager
def _refusals(
    con: duckdb.DuckDBPyConnection, explain: str, timeout_s: float | None
) -> Iterator[None]:
    """The sandbox's refusal (a file read, a setting) as SqlRefused, and a query still running
    after `timeout_s` interrupted (SqlRefused too); other errors pass."""
    done = threading.Event()
    if timeout_s is not None:

        def deadline() -> None:
            if done.wait(timeout_s):
                return
            # again and again until the query ends: one sent before DuckDB had begun the
            # query would be lost, and the query would run on
            while True:
                con.interrupt()
                if done.wait(INTERRUPT_AGAIN_S):
                    return

        threading.Thread(target=deadline, name="sql-deadline", daemon=True).start()
    try:
        yield
    except duckdb.PermissionException as error:
        raise SqlRefused(f"refused: {str(error).strip()}. {explain}") from None
    except duckdb.InterruptException:
        raise SqlRefused(f"stopped: the query ran longer than {timeout_s:g} s") from None
    finally:
        done.set()


def select_rows(
    con: duckdb.DuckDBPyConnection,
    query: str,
    rows_max: int,
    explain: str = READ_ONLY,
    *,
    timeout_s: float | None = None,
) -> Selected:
    """At most `rows_max` rows of one SELECT, within `timeout_s` when given (SqlRefused, or
    duckdb.Error for a bad query). `con` is a cursor of its own: a deadline interrupts it."""
    invariant(rows_max > 0, "a positive row limit")
    with _refusals(con, explain, timeout_s):
        cursor = con.execute(one_select(con, query, explain))
        columns = [d[0] for d in cursor.description or []]
        rows = cursor.fetchmany(rows_max + 1)
    return Selected(columns, rows[:rows_max], cut=len(rows) > rows_max)


def select_arrow(
    con: duckdb.DuckDBPyConnection,
    query: str,
    rows_max: int,
    explain: str = READ_ONLY,
    *,
    timeout_s: float | None = None,
) -> tuple[pa.Table, bool]:
    """`select_rows` as an Arrow table (read in batches, at most `rows_max` rows) → the table
    and whether rows were left unread."""
    invariant(rows_max > 0, "a positive row limit")
    with _refusals(con, explain, timeout_s):
        reader = con.execute(one_select(con, query, explain)).to_arrow_reader(BATCH_ROWS)
        batches: list[pa.RecordBatch] = []
        read = 0
        cut = False
        for batch in reader:
            if read + batch.num_rows > rows_max:
                batches.append(batch.slice(0, rows_max - read))
                cut = True
                break
            batches.append(batch)
            read += batch.num_rows
    return pa.Table.from_batches(batches, schema=reader.schema), cut


def write_parquet(table: pa.Table) -> Path:
    """`table` written as Parquet by DuckDB into a temporary directory made here (the one
    place the scratch instance may write) → the file; `discard` it once sent."""
    directory = Path(tempfile.mkdtemp(prefix="ppcx-sql-")).resolve()
    try:
        path = directory / PARQUET_NAME
        scratch = duckdb.connect(":memory:", config=EXTENSIONS_OFF)
        try:
            sandbox(scratch, directory)
            scratch.from_arrow(table).write_parquet(str(path))
        finally:
            scratch.close()
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return path


def discard(path: Path) -> None:
    """Remove a file `write_parquet` made, and its temporary directory."""
    invariant(path.name == PARQUET_NAME, "only a file write_parquet made is discarded")
    shutil.rmtree(path.parent, ignore_errors=True)
