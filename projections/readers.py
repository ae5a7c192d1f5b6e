"""Read-only access for analysts and the API: always the published snapshot, never the file
the projector writes (see `projections.store`)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import duckdb

from projections.store import connect, snapshot_path_for


class NoProjections(RuntimeError):
    """Nothing has been projected yet."""


def open_snapshot(duckdb_path: Path) -> duckdb.DuckDBPyConnection:
    snapshot = snapshot_path_for(duckdb_path)
    if not snapshot.exists():
        raise NoProjections(f"no projections yet at {snapshot}: run `ppcx project`")
    return connect(snapshot, read_only=True)


class SnapshotReader:
    """A read-only connection that reopens itself when a newer snapshot is published (the
    rename leaves an open reader on the old file, consistent, until it reopens)."""

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
                self._con = connect(self.snapshot, read_only=True)
                self._identity = identity
            return self._con.cursor()

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None
