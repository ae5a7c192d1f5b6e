"""One relay per cluster on PostgreSQL: every host runs the relay role, one leads (a session
advisory lock, `eventstore.leader`; the webhook worker is elected the same way). A leader whose
session ends — its connection cut, its process killed — stops acting, another takes over, and
the stream still holds every event once. The projector is not elected: each host projects
into its own tables."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import duckdb
import nats
import psycopg
import pytest
from nats.js.errors import NotFoundError

from domain.clock import ManualClock
from eventstore.checkpoints import read_file
from eventstore.leader import lead, lock_key
from ppcx.bootstrap import Domain, build_domain
from ppcx.roles import Role, ServePlan, leader_lock
from ppcx.services import Endpoints
from ppcx.settings import Settings
from projections.checkpoints import stream_name
from projections.store import snapshot_path_for
from tests.support.market import Market, build_market
from tests.support.scenario import drive_calls
from tests.support.waiting import until, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.postgres]
HOSTS = 2


def _conninfo(settings: Settings) -> str:
    return psycopg.conninfo.make_conninfo(
        host=settings.postgres_host,
        port=settings.postgres_port,
        user=settings.postgres_user,
        password=settings.postgres_password,
        dbname=settings.postgres_dbname,
    )


def _holder(settings: Settings, key: int) -> tuple[int, str] | None:
    """(backend pid, application name) of the session that holds the advisory lock `key`."""
    with psycopg.connect(_conninfo(settings), autocommit=True) as connection:
        row = connection.execute(
            "SELECT l.pid, a.application_name FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND ((l.classid::bigint << 32) | l.objid::bigint) = %s",
            (key,),
        ).fetchone()
    return (int(row[0]), str(row[1])) if row else None


def _cut(settings: Settings, key: int) -> None:
    """End the lock holder's session from the server's side (its connection is gone)."""
    holder = _holder(settings, key)
    assert holder is not None
    with psycopg.connect(_conninfo(settings), autocommit=True) as connection:
        connection.execute("SELECT pg_terminate_backend(%s)", (holder[0],))


def _deployment(settings: Settings) -> tuple[str, str]:
    return settings.postgres_dbname, settings.postgres_schema


def test_one_session_holds_the_lock_and_a_cut_one_knows_it(postgres_settings: Settings) -> None:
    first, second = (leader_lock(postgres_settings, Role.RELAY) for _ in range(2))
    assert first is not None
    assert second is not None
    projector = leader_lock(postgres_settings, Role.PROJECTOR)
    assert projector is not None
    try:
        assert first.try_acquire()
        assert not second.try_acquire()
        assert projector.try_acquire()  # another role, another lock
        assert first.still_held()
        assert not second.still_held()
        _cut(postgres_settings, first.key)
        assert not first.still_held()  # the leader learns it on its own session
        assert second.try_acquire()
        assert second.still_held()
        assert not first.try_acquire()  # it reconnects, and stands by
    finally:
        for lock in (first, second, projector):
            lock.release()
    schemas = {lock_key("relay", "ppcx", schema) for schema in ("a", "b")}
    assert len(schemas) == 2  # deployments on one server never contend


def test_lead_acts_on_one_host_at_a_time(postgres_settings: Settings) -> None:
    """Two standbys: one acts; its session cut, it stops acting and the other starts."""
    locks = [leader_lock(postgres_settings, Role.RELAY) for _ in range(2)]
    assert None not in locks
    acting: list[int] = []
    terms: list[int] = []

    async def scenario() -> None:
        stop = asyncio.Event()

        def act_as(host: int) -> Callable[[asyncio.Event], Awaitable[None]]:
            async def act(lost: asyncio.Event) -> None:
                acting.append(host)
                terms.append(host)
                try:
                    await lost.wait()
                finally:
                    acting.remove(host)

            return act

        tasks = [
            asyncio.create_task(lead(lock, act_as(host), stop))
            for host, lock in enumerate(locks)
            if lock is not None
        ]
        try:
            await until(lambda: len(terms) == 1, "a leader")
            first = terms[0]
            _cut(postgres_settings, lock_key("relay", *_deployment(postgres_settings)))
            await until(lambda: len(terms) == 2, "a second term")
            assert terms == [first, 1 - first]
            await until(lambda: acting == [1 - first], "the cut leader stopped acting")
        finally:
            stop.set()
            await asyncio.gather(*tasks)

    asyncio.run(scenario())
    assert acting == []


# -- two relay processes, as two hosts' `ppcx serve` run them ---------------------------------


@pytest.fixture
def hosts_settings(
    postgres_settings: Settings, endpoints: Endpoints, tmp_path: Path
) -> Iterator[Settings]:
    """This test's PostgreSQL schema and stream, checkpoints every 0.1 s (so a checkpoint in a
    host's data dir shows that host's relay published); the streams deleted afterwards."""
    settings = postgres_settings.model_copy(
        update={"nats_url": endpoints.nats_url, "checkpoint_interval_s": 0.1}
    )
    yield settings

    async def delete() -> None:
        connection = await nats.connect(endpoints.nats_url)
        try:
            for stream in (settings.nats_stream, stream_name(settings.nats_stream)):
                with contextlib.suppress(NotFoundError):
                    await connection.jetstream().delete_stream(stream)
        finally:
            await connection.close()

    asyncio.run(delete())


@pytest.fixture
def market(hosts_settings: Settings, clock: ManualClock) -> Iterator[tuple[Domain, Market]]:
    domain = build_domain(hosts_settings, clock=clock)
    try:
        yield domain, build_market(domain, buyers=2, deposit="1000000.00")
    finally:
        domain.close()


def _start_role(settings: Settings, data_dir: Path, role: Role) -> subprocess.Popen[bytes]:
    """One host's relay or projector role (the process `ppcx serve` runs for it), in a
    process of its own, its data (checkpoints, DuckDB) in `data_dir`; its log in
    `<data_dir>/<role>.log`."""
    plan = ServePlan(
        settings=settings.model_copy(
            update={"data_dir": data_dir, "duckdb_path": data_dir / "analytics.duckdb"}
        ),
        roles=frozenset({role}),
        host="127.0.0.1",
        port=0,
        api_workers=1,
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import pickle, sys; from ppcx.roles import {role.value}_role; "
            f"{role.value}_role(pickle.loads(sys.stdin.buffer.read()))",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=(data_dir / f"{role.value}.log").open("wb"),
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert process.stdin is not None
    process.stdin.write(pickle.dumps(plan))
    process.stdin.close()
    return process


def _projected(data_dir: Path) -> int:
    """How far this host's projector got, as its readers see it (the published snapshot)."""
    snapshot = snapshot_path_for(data_dir / "analytics.duckdb")
    if not snapshot.exists():
        return 0
    with duckdb.connect(str(snapshot), read_only=True) as connection:
        row = connection.execute(
            "SELECT position FROM projection_position WHERE name = 'events'"
        ).fetchone()
    return int(row[0]) if row else 0


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        if process.poll() is None:
            process.kill()
            process.wait()


def _leading(settings: Settings, key: int, processes: list[subprocess.Popen[bytes]]) -> int:
    """Which of `processes` holds the lock `key` (its application name ends in its pid)."""
    holder = _holder(settings, key)
    assert holder is not None
    return next(n for n, p in enumerate(processes) if holder[1].endswith(f" {p.pid}"))


def _checkpointed(data_dir: Path) -> int:
    """How far this host's relay published (its last checkpoint), 0 when it never did."""
    found = read_file(data_dir)
    return found.position if found is not None else 0


def _stream_ids(url: str, stream: str) -> list[int]:
    """Every message's `Nats-Msg-Id` (the notification id), in stream order."""

    async def read() -> list[int]:
        connection = await nats.connect(url)
        try:
            js = connection.jetstream()
            info = await js.stream_info(stream)
            ids = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                found = await js.get_msg(stream, seq)
                ids.append(int((found.headers or {})["Nats-Msg-Id"]))
            return ids
        finally:
            await connection.close()

    return asyncio.run(read())


def test_the_relay_runs_once_per_cluster_and_fails_over(
    hosts_settings: Settings, market: tuple[Domain, Market], clock: ManualClock, tmp_path: Path
) -> None:
    domain, built = market
    settings = hosts_settings
    assert settings.nats_url is not None
    key = lock_key("relay", *_deployment(settings))
    drive_calls(built, clock, 10, seed=1)
    dirs = [tmp_path / f"host{n + 1}" for n in range(HOSTS)]
    processes = [_start_role(settings, data_dir, Role.RELAY) for data_dir in dirs]
    try:
        # one leads, and it alone publishes: its data dir has the checkpoints
        head = domain.app.store.head()
        wait_until(lambda: max(map(_checkpointed, dirs)) == head, "the leader at the head")
        leader = _leading(settings, key, processes)
        assert _checkpointed(dirs[1 - leader]) == 0  # the standby never published

        # the leader's session cut: it stops acting; whoever takes the lock next (the standby,
        # normally: a cut leader backs off first) alone publishes the rest
        _cut(settings, key)
        wait_until(
            lambda: "stopped acting" in (dirs[leader] / "relay.log").read_text(),
            "the cut leader saying it stopped",
        )
        wait_until(lambda: _holder(settings, key) is not None, "a new leader")
        leader = _leading(settings, key, processes)
        before = [_checkpointed(data_dir) for data_dir in dirs]
        drive_calls(built, clock, 10, seed=2)
        second_head = domain.app.store.head()
        wait_until(lambda: _checkpointed(dirs[leader]) == second_head, "the new leader publishes")
        assert _checkpointed(dirs[1 - leader]) == before[1 - leader]  # the other did not act

        # the leader killed outright: the other (standing by, never exited) takes over
        processes[leader].send_signal(signal.SIGKILL)
        processes[leader].wait()
        drive_calls(built, clock, 10, seed=3)
        third_head = domain.app.store.head()
        wait_until(lambda: _checkpointed(dirs[1 - leader]) == third_head, "the other took over")
        assert processes[1 - leader].poll() is None

        ids = _stream_ids(settings.nats_url, settings.nats_stream)
        assert ids == list(range(1, third_head + 1))  # every event once, in order
    finally:
        _stop(processes)


def test_every_host_projects_into_its_own_tables_and_one_killed_stops_no_other(
    hosts_settings: Settings, market: tuple[Domain, Market], clock: ManualClock, tmp_path: Path
) -> None:
    """The projector is not elected: each host reads the shared log into its own DuckDB file
    (the file its API reads), so both follow the log; one killed leaves the other going."""
    domain, built = market
    settings = hosts_settings.model_copy(update={"snapshot_interval_s": 0.1})
    drive_calls(built, clock, 10, seed=1)
    dirs = [tmp_path / f"host{n + 1}" for n in range(HOSTS)]
    processes = [_start_role(settings, data_dir, Role.PROJECTOR) for data_dir in dirs]
    try:
        head = domain.app.store.head()
        wait_until(lambda: min(map(_projected, dirs)) == head, "both hosts' tables at the head")
        assert _holder(settings, lock_key("projector", *_deployment(settings))) is None

        processes[0].send_signal(signal.SIGKILL)
        processes[0].wait()
        drive_calls(built, clock, 10, seed=2)
        second_head = domain.app.store.head()
        wait_until(lambda: _projected(dirs[1]) == second_head, "the other host's tables go on")
        assert _projected(dirs[0]) == head
    finally:
        _stop(processes)
