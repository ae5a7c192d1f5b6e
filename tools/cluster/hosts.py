"""PPCX "hosts" on loopback, all on one PostgreSQL event store: each host a `ppcx serve` process
group of its own (own data directory, own API port, own DuckDB projections), sharing the Redis
and NATS the caller names, under a Redis prefix and a JetStream stream unique to the rig.

Every host runs every role: the API workers, the sweeper (its voids are atomic Redis scripts,
as the API workers' background sweeps already are), a projector (it reads the shared log into
the host's own DuckDB file: a read model per host), and the relay and the webhook worker, which
act on one host at a time (elected by a PostgreSQL advisory lock, `eventstore.leader`; the
others stand by). `singletons=True` runs the relay and webhooks instead in one more process
group of their own, `singletons`, beside hosts without them.

`kill(n)` SIGKILLs host n's whole process group (a host lost at once, mid-request), `start(n)`
brings it back on the same port and data directory, `stop()` ends everything (SIGTERM, then
SIGKILL). Every process dies with the rig's owner (the kernel's parent-death signal), so a
crashed test leaves nothing running. Loopback only; no network namespaces.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg

from eventstore.leader import lock_key
from ppcx.embedded import dies_with_parent, free_loopback_port
from ppcx.settings import Settings
from tools.sim.served import ADMIN_KEY, System, until

HOST_ROLES = ("api", "sweeper", "projector", "relay", "webhooks")
HOST_ROLES_BESIDE_SINGLETONS = ("api", "sweeper", "projector")
SINGLETON_ROLES = ("relay", "webhooks")
START_BOUND_S = 180.0  # a loaded machine is slow, never this slow
STOP_GRACE_S = 60.0


@dataclass(frozen=True)
class Postgres:
    """Where the shared event store lives: a database and a schema on one server."""

    dbname: str
    schema: str
    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: str = ""

    def env(self) -> dict[str, str]:
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": self.dbname,
            "POSTGRES_SCHEMA": self.schema,
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password,
        }


@dataclass
class Host(System):
    """One host: a `System` (so the fault checks and the traffic take it as they are) whose
    settings name the shared PostgreSQL store, Redis prefix and stream."""

    shared: Settings | None = None  # the rig's settings, but for the data dir

    def settings(self) -> Settings:
        if self.shared is None:
            raise RuntimeError("a host without the rig's settings")
        return self.shared.model_copy(update={"data_dir": self.data_dir})

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


@dataclass
class Hosts:
    """The rig: `hosts[n]` (n from 0), and the `singletons` group."""

    root: Path
    shared: dict[str, str]  # every host's environment, beside its data dir
    settings: Settings  # the same, as settings (for the checks in this process)
    ports: list[int]
    workers: int
    host_roles: tuple[str, ...] = HOST_ROLES
    hosts: list[Host] = field(default_factory=list)
    singletons: Host | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, n: int) -> Host:
        """Start host n (again: same port, same data dir) and wait until /readyz is ready."""
        host = self._spawn(f"host-{n}", self.ports[n], self.host_roles)
        if n < len(self.hosts):
            self.hosts[n] = host
        else:
            self.hosts.append(host)
        self._await_ready(host)
        return host

    def kill(self, n: int) -> None:
        """SIGKILL host n's whole process group: supervisor, API workers, sweeper, projector."""
        host = self.hosts[n]
        _signal_group(host.process, signal.SIGKILL)
        host.process.wait(timeout=STOP_GRACE_S)

    def stop(self) -> None:
        for host in [*self.hosts, *([self.singletons] if self.singletons else [])]:
            _stop(host.process)

    # -- what the checks need -----------------------------------------------------------------
    @property
    def bases(self) -> list[str]:
        return [h.base for h in self.hosts]

    def _commander(self) -> Host:
        """The process group whose environment a `ppcx` command borrows: the singletons, or
        the first live host."""
        if self.singletons is not None:
            return self.singletons
        live = [h for h in self.hosts if h.alive]
        if not live:
            raise RuntimeError("no host of the rig is running")
        return live[0]

    def env(self) -> dict[str, str]:
        """The environment a `ppcx` command needs to act on this rig's store (and stream)."""
        return self._commander().env

    def ppcx(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A `ppcx` command on this rig's store, stream and secrets (e.g. `replay verify`)."""
        return self._commander().ppcx(*args)

    def leader_of(self, role: str) -> int | None:
        """Which live host's `role` (relay, webhooks) holds its leader lock now (None: no
        host's does). The lock's session names its process: `ppcx <role> <hostname> <pid>`."""
        settings = self.settings
        key = lock_key(role, settings.postgres_dbname, settings.postgres_schema)
        with psycopg.connect(
            host=settings.postgres_host,
            port=settings.postgres_port,
            user=settings.postgres_user,
            password=settings.postgres_password,
            dbname=settings.postgres_dbname,
            autocommit=True,
        ) as connection:
            found = connection.execute(
                "SELECT a.application_name FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
                "AND ((l.classid::bigint << 32) | l.objid::bigint) = %s",
                (key,),
            ).fetchone()
        if found is None:
            return None
        pid = int(str(found[0]).rsplit(" ", 1)[-1])
        for n, host in enumerate(self.hosts):
            if host.alive and host.roles().get(role) == pid:
                return n
        return None

    def roles(self, n: int) -> dict[str, int]:
        return self.hosts[n].roles()

    # -- internals -------------------------------------------------------------------------------
    def _spawn(self, name: str, port: int, roles: Sequence[str]) -> Host:
        data_dir = self.root / name
        data_dir.mkdir(parents=True, exist_ok=True)
        env = {**_clean_environment(), **self.shared, "PPCX_DATA_DIR": str(data_dir)}
        args = [str(Path(sys.executable).parent / "ppcx"), "serve", "--workers", str(self.workers)]
        args += [arg for role in roles for arg in ("--role", role)]
        if "api" in roles:
            args += ["--port", str(port)]
        log = data_dir / "serve.log"
        with log.open("ab") as out:
            process = subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
                args,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a process group of its own: kill(n) takes it whole
                preexec_fn=dies_with_parent(os.getpid()),  # noqa: PLW1509 - prctl only
            )
        return Host(data_dir, f"http://127.0.0.1:{port}", process, log, env, self.settings)

    def _start_singletons(self) -> None:
        self.singletons = self._spawn("singletons", 0, SINGLETON_ROLES)
        singletons = self.singletons
        until(
            lambda: _running(singletons) and set(SINGLETON_ROLES) <= set(singletons.roles()),
            "the relay and webhooks group started",
            START_BOUND_S,
        )

    def _await_ready(self, host: Host) -> None:
        until(
            lambda: _running(host) and host.readyz()["status"] == "ready",
            f"{host.data_dir.name} answered /readyz",
            START_BOUND_S,
        )


def _running(host: Host) -> bool:
    if host.process.poll() is not None:
        raise RuntimeError(f"{host.data_dir.name} exited: {host.log.read_text()[-3000:]}")
    return True


def _clean_environment() -> dict[str, str]:
    """This process's environment without any PPCX, store or service setting of its own."""
    dropped = ("PPCX_", "POSTGRES_", "REDIS_URL", "NATS_URL", "SQLITE_DBNAME", "PERSISTENCE_")
    return {k: v for k, v in os.environ.items() if not k.startswith(dropped)}


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        _signal_group(process, signal.SIGKILL)  # whatever of its group is left
        return
    _signal_group(process, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        _signal_group(process, signal.SIGKILL)
        process.wait()


@contextmanager
def hosts(
    root: Path,
    *,
    count: int,
    redis_url: str,
    nats_url: str,
    postgres: Postgres,
    name: str,
    workers: int = 1,
    roles: tuple[str, ...] = HOST_ROLES,
    singletons: bool = False,
    extra: dict[str, str] | None = None,
) -> Iterator[Hosts]:
    """`count` hosts on `postgres`, sharing `redis_url` and `nats_url` under the Redis prefix
    and JetStream stream `name` (unique per rig: the caller cleans them up). The first host
    starts alone (it creates the store's tables), then the singletons, then the others.
    `roles`: each host's (the benchmark runs the API alone); `singletons`: the relay and
    webhooks in a group of their own instead (the hosts' roles should then leave them out)."""
    shared = {
        **postgres.env(),
        "REDIS_URL": redis_url,
        "NATS_URL": nats_url,
        "PPCX_REDIS_PREFIX": name,
        "PPCX_NATS_STREAM": name.upper(),
        "PPCX_NATS_SUBJECT_PREFIX": f"{name}.events",
        "PPCX_SECRET_KEY": f"cluster-secret-{name}",
        "PPCX_AUDIT_KEY": f"cluster-audit-{name}",
        "PPCX_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
        **(extra or {}),
    }
    settings = Settings(
        data_dir=root,
        redis_url=redis_url,
        nats_url=nats_url,
        redis_prefix=name,
        nats_stream=name.upper(),
        nats_subject_prefix=f"{name}.events",
        persistence_module="eventsourcing.postgres",
        postgres_dbname=postgres.dbname,
        postgres_schema=postgres.schema,
        postgres_host=postgres.host,
        postgres_port=postgres.port,
        postgres_user=postgres.user,
        postgres_password=postgres.password,
        secret_key=shared["PPCX_SECRET_KEY"],
        audit_key=shared["PPCX_AUDIT_KEY"],
    )
    ports = [free_loopback_port() for _ in range(count)]
    rig = Hosts(root, shared, settings, ports, workers, roles)
    try:
        rig.start(0)
        if singletons:
            rig._start_singletons()
        for n in range(1, count):
            rig.hosts.append(rig._spawn(f"host-{n}", rig.ports[n], roles))
        for host in rig.hosts[1:]:
            rig._await_ready(host)
        yield rig
    finally:
        rig.stop()


def readyz(base: str) -> dict[str, Any]:
    found: dict[str, Any] = orjson.loads(httpx.get(base + "/readyz", timeout=10).content)
    return found


def caught_up(base: str) -> bool:
    """The relay and this host's projections at the store's head."""
    lag = readyz(base)["lag"]
    return lag is not None and lag["relay_events"] == 0 and lag["projection_events"] == 0


def wait_all_caught_up(rig: Hosts, bound_s: float = START_BOUND_S) -> None:
    """Every live host's projections, and the relay, at the store's head."""
    for host in rig.hosts:
        if host.alive:
            until(
                functools.partial(caught_up, host.base),
                f"{host.data_dir.name}: relay and projections at the head",
                bound_s,
            )
