"""One leader per cluster for a role that must run once (the relay, the projector) while every
host runs it: a PostgreSQL session advisory lock.

* **The lock.** `pg_try_advisory_lock(key)` on a connection of the lock's own (autocommit,
  never pooled), where `key` is a 64-bit digest of the role, the database and the schema: one
  deployment's relay and projector have different keys, and two deployments (schemas) on one
  server never contend. The holder's connection carries `application_name` =
  `ppcx <role> <host> <pid>`, so `pg_locks` joined to `pg_stat_activity` names the leader.
* **A standby** tries again every `POLL_INTERVAL_S`. PostgreSQL releases a session lock when
  its connection ends — the leader stopped, its process was killed, its host went away (the
  session asks the server for TCP keepalives, so a host that vanishes is dropped within
  `SERVER_DROP_S`) — and the next try of a standby takes it.
* **A leader notices a loss** on its own: every `POLL_INTERVAL_S` it asks the server, on the
  same session, whether it still holds the lock; an error or a "no" (the connection broke, the
  server restarted, an operator ended the backend) is a loss, and the role stops acting before
  it stands by again — sitting out `LOST_BACKOFF_POLLS` polls first, so a standby that has
  been waiting normally takes over (the lock is not fair; nothing depends on who). The
  client's `tcp_user_timeout` (`CLIENT_DROP_S`) is shorter than the server's keepalive drop,
  so a leader cut off from the server gives up no later than the server frees the lock for
  the next one. Between a loss and its notice (up to a poll) two may act at once: the relay
  stays exact (JetStream drops a message id it already has, `Nats-Msg-Id`), and each
  projector writes the DuckDB file of its own host through a consumer of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import psycopg

logger = logging.getLogger(__name__)
POLL_INTERVAL_S = 0.5
LOST_BACKOFF_POLLS = 3  # a leader that lost the lock lets standbys try first
CONNECT_TIMEOUT_S = 5
CLIENT_DROP_S = 5  # unacknowledged data for this long: the client gives the connection up
KEEPALIVE_IDLE_S = 5
KEEPALIVE_INTERVAL_S = 1
KEEPALIVE_COUNT = 3
SERVER_DROP_S = KEEPALIVE_IDLE_S + KEEPALIVE_INTERVAL_S * KEEPALIVE_COUNT
KEY_NAMESPACE = "ppcx-leader"


def lock_key(role: str, dbname: str, schema: str) -> int:
    """The advisory lock's bigint key for `role` in one deployment (database and schema)."""
    digest = hashlib.sha256(f"{KEY_NAMESPACE}\0{role}\0{dbname}\0{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass(frozen=True)
class PostgresAddress:
    """Where the event store's PostgreSQL is (the settings' `POSTGRES_*`)."""

    host: str
    port: int
    user: str
    password: str
    dbname: str
    schema: str


class LeaderLock:
    """The advisory lock of one role, taken and watched on a connection of its own.
    Blocking calls: an asyncio caller runs them in a thread (`lead` does)."""

    def __init__(self, address: PostgresAddress, role: str) -> None:
        self.role = role
        self.key = lock_key(role, address.dbname, address.schema)
        self.application_name = f"ppcx {role} {socket.gethostname()} {os.getpid()}"[:63]
        self._conninfo = psycopg.conninfo.make_conninfo(
            host=address.host,
            port=address.port,
            user=address.user,
            password=address.password,
            dbname=address.dbname,
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name=self.application_name,
            keepalives=1,
            keepalives_idle=KEEPALIVE_IDLE_S,
            keepalives_interval=KEEPALIVE_INTERVAL_S,
            keepalives_count=KEEPALIVE_COUNT,
            tcp_user_timeout=CLIENT_DROP_S * 1000,
        )
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None
        self.held = False

    def try_acquire(self) -> bool:
        """Take the lock if it is free (connecting first when needed); False when another
        session holds it or the server does not answer."""
        try:
            connection = self._connect()
            row = connection.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        except psycopg.Error as error:
            self._drop(f"cannot reach PostgreSQL ({type(error).__name__})")
            return False
        self.held = bool(row and row[0])
        return self.held

    def still_held(self) -> bool:
        """Whether this session still holds the lock (asked of the server, on the same
        session); a broken connection is a loss."""
        if self._connection is None or not self.held:
            return False
        try:
            # a bigint key shows in pg_locks as its high and low 32 bits, objsubid 1
            row = self._connection.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
                "AND pid = pg_backend_pid() AND granted AND objsubid = 1 "
                "AND classid = %s::bigint::oid AND objid = %s::bigint::oid)",
                ((self.key >> 32) & 0xFFFFFFFF, self.key & 0xFFFFFFFF),
            ).fetchone()
        except psycopg.Error as error:
            self._drop(f"lost the connection ({type(error).__name__})")
            return False
        self.held = bool(row and row[0])
        return self.held

    def release(self) -> None:
        """Give the lock up (closing the session frees it, whatever state it is in)."""
        self._drop(None)

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(self._conninfo, autocommit=True)
            self._connection.execute(
                "SELECT set_config('tcp_keepalives_idle', %s, false), "
                "set_config('tcp_keepalives_interval', %s, false), "
                "set_config('tcp_keepalives_count', %s, false)",
                (str(KEEPALIVE_IDLE_S), str(KEEPALIVE_INTERVAL_S), str(KEEPALIVE_COUNT)),
            )
        return self._connection

    def _drop(self, why: str | None) -> None:
        if why is not None and self.held:
            logger.warning("leader: %s %s", self.role, why)
        self.held = False
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()


async def lead(
    lock: LeaderLock,
    act: Callable[[asyncio.Event], Awaitable[object]],
    stop: asyncio.Event,
    *,
    poll_interval_s: float = POLL_INTERVAL_S,
) -> None:
    """Stand by until `lock` is taken, then `act(lost)` — which must return soon after `lost`
    is set — while the lock is held; again after a loss; until `stop` is set."""
    standing_by = False
    while not stop.is_set():
        if not await asyncio.to_thread(lock.try_acquire):
            if not standing_by:
                logger.info("leader: %s stands by (another host leads)", lock.role)
                standing_by = True
            await _wait(stop, poll_interval_s)
            continue
        standing_by = False
        logger.info("leader: %s leads here (%s)", lock.role, lock.application_name)
        lost = asyncio.Event()
        watcher = asyncio.create_task(_watch(lock, stop, lost, poll_interval_s))
        try:
            await act(lost)
        finally:
            lost.set()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            held = lock.held
            await asyncio.to_thread(lock.release)
        if not stop.is_set():
            logger.warning(
                "leader: %s stopped acting here (%s); standing by",
                lock.role,
                "the lock was lost" if not held else "it ended",
            )
            await _wait(stop, poll_interval_s * LOST_BACKOFF_POLLS)


async def _watch(
    lock: LeaderLock, stop: asyncio.Event, lost: asyncio.Event, poll_interval_s: float
) -> None:
    while not lost.is_set():
        await _wait(stop, poll_interval_s)
        if stop.is_set() or not await asyncio.to_thread(lock.still_held):
            lost.set()


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
