"""Read-only access for analysts and the API: always the published snapshot, never the file
the projector writes (see `projections.store`), and always inside DuckDB's own sandbox.

The sandbox is DuckDB's, not ours: the snapshot is opened read-only, external access is off
(no COPY TO, `read_csv`, `read_text`, `glob`, ATTACH of another file, INSTALL or LOAD; no file
is read or written but the database itself and DuckDB's own spill files), no extension is
loaded or installed on demand, and the configuration is locked, so no statement can turn any
of this back on. The one exception is `ppcx export`, whose connection may write under the
directory it was given (DuckDB's `allowed_directories`, bound as a parameter, never spliced
into SQL) and nowhere else.

DuckDB keeps one database instance per file in a process, and settings such as the time zone
and the lock are the instance's: the first connection configures it (the time zone is set
globally, so every cursor of it reads times in UTC), later ones find it configured and check.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import duckdb

from domain.invariant import invariant
from projections.store import snapshot_path_for

# Fixed when the instance starts; the same for every reader, or DuckDB refuses a second
# connection to the file with a different configuration.
EXTENSIONS_OFF: dict[str, Any] = {
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
}
READER_TIME_ZONE = "UTC"


class NoProjections(RuntimeError):
    """Nothing has been projected yet."""


def sandbox(con: duckdb.DuckDBPyConnection, writable_directory: Path | None) -> None:
    """Configure and lock a connection's instance (the first time), then check it is so."""
    locked = con.execute("SELECT current_setting('lock_configuration')").fetchone()
    if not (locked and locked[0]):
        con.execute("SET GLOBAL TimeZone = 'UTC'")  # READER_TIME_ZONE
        if writable_directory is not None:
            # a trailing separator, so that /out does not also allow /outside
            allowed = [os.path.join(writable_directory, "")]
            con.execute("SET allowed_directories = $allowed", {"allowed": allowed})
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    state = con.execute(
        "SELECT current_setting('enable_external_access'), current_setting('lock_configuration'),"
        " current_setting('TimeZone')"
    ).fetchone()
    invariant(
        state == (False, True, READER_TIME_ZONE),
        f"a snapshot reader runs sandboxed, locked and in UTC (found {state})",
    )


def connect_sandboxed(
    path: Path, *, writable_directory: Path | None = None
) -> duckdb.DuckDBPyConnection:
    """`path` read-only inside DuckDB's sandbox; `writable_directory` (absolute) is the one
    place its statements may write (the export's)."""
    con = duckdb.connect(str(path), read_only=True, config=EXTENSIONS_OFF)
    try:
        sandbox(con, writable_directory)
    except BaseException:
        con.close()
        raise
    return con


def open_snapshot(
    duckdb_path: Path, *, writable_directory: Path | None = None
) -> duckdb.DuckDBPyConnection:
    snapshot = snapshot_path_for(duckdb_path)
    if not snapshot.exists():
        raise NoProjections(f"no projections yet at {snapshot}: run `ppcx project`")
    return connect_sandboxed(snapshot, writable_directory=writable_directory)


class SnapshotReader:
    """A read-only, sandboxed connection that reopens itself when a newer snapshot is
    published (the rename leaves an open reader on the old file, consistent, until it
    reopens)."""

    def __init__(self, duckdb_path: Path) -> None:
        self.snapshot = snapshot_path_for(duckdb_path)
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._identity: tuple[int, int] | None = None

    def cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            try:
                stat = os.stat(self.snapshot)
            except FileNotFoundError:
                raise NoProjections("no projections yet: run `ppcx project`") from None
            identity = (stat.st_ino, stat.st_mtime_ns)
            if self._con is None or identity != self._identity:
                if self._con is not None:
                    self._con.close()
                self._con = connect_sandboxed(self.snapshot)
                self._identity = identity
            return self._con.cursor()

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None
