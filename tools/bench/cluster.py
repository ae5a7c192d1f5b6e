"""`ppcx-tools bench cluster`: durable pings/s and p99 through 1, 2 and 3 PPCX hosts on one
PostgreSQL event store (`tools.cluster.hosts`), next to one host on SQLite in the same run.

Every configuration runs the API role alone (its workers sweep), `workers` processes per host,
sharing the caller's Redis; the same closed-loop load (`tools.bench.http`: aiohttp clients,
split evenly over the hosts, a fixed number of pings: it stops by itself). While the load
runs, a sampler measures where the ceiling is:

- the store's write lock: how often a PostgreSQL backend holds the events table's EXCLUSIVE
  lock, and how many backends wait for it (`pg_locks`), against the appends the hosts made
  (`ppcx_event_append_seconds` from each host's /metrics): by Little's law the mean wait for
  the lock per append is the mean number of waiters ÷ appends/s, and the time it is held per
  append the share held × the load's seconds ÷ appends. Held a fraction ρ of the time, the
  lock caps the store near (pings/s ÷ ρ) at the same batch sizes;
- Redis: a PING's round trip, and the server's own CPU (`INFO cpu`);
- CPU: the machine's busy share (`/proc/stat`), and the seconds each part used (the PPCX
  processes of each host's group, PostgreSQL's processes, Redis, the load generator).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import redis
import uvloop
from rich.console import Console

from ppcx.services import drop_redis_keys, free_loopback_port
from ppcx.settings import Settings
from tools.bench.http import (
    ADMIN_KEY,
    Load,
    _caller,
    _drive,
    _market,
    _start,
    _stop,
    _wait_ready,
)
from tools.bench.report import Figure, percentile
from tools.cluster.hosts import Postgres, hosts

BENCH_DATABASE = "ppcx_bench"  # a database of its own, beside the tests'
SAMPLE_INTERVAL_S = 0.02
WARM_PINGS = 200  # per host, before measuring: connections, caches, the market's config sync
READY_BOUND_S = 120.0
HOST_COUNTS = (1, 2, 3)


@dataclass
class Usage:
    """What the sampler saw during one load."""

    lock_held: int = 0
    lock_waiting: int = 0
    samples: int = 0
    appends: int = 0  # event-store transactions of the hosts' writers (group commits)
    append_s: float = 0.0  # their summed durations (waiting for the lock included)
    redis_rtt_ms: list[float] = field(default_factory=list)
    redis_cpu_s: float = 0.0
    ppcx_cpu_s: float = 0.0
    postgres_cpu_s: float = 0.0
    generator_cpu_s: float = 0.0
    machine_busy: float = 0.0  # 0..1 of all cores
    seconds: float = 0.0

    @property
    def lock_held_share(self) -> float:
        return self.lock_held / self.samples if self.samples else 0.0

    @property
    def lock_waiters_mean(self) -> float:
        return self.lock_waiting / self.samples if self.samples else 0.0

    @property
    def lock_wait_ms_per_append(self) -> float:
        """Little's law: mean waiters ÷ appends per second."""
        if not self.appends or not self.seconds:
            return 0.0
        return self.lock_waiters_mean / (self.appends / self.seconds) * 1000

    @property
    def lock_hold_ms_per_append(self) -> float:
        return self.lock_held_share * self.seconds / self.appends * 1000 if self.appends else 0.0

    @property
    def append_ms_mean(self) -> float:
        return self.append_s / self.appends * 1000 if self.appends else 0.0


@dataclass(frozen=True)
class Run:
    hosts: int
    store: str
    load: Load
    usage: Usage


# -- CPU accounting from /proc --------------------------------------------------------------------
_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: str) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm_end = text.rindex(")")
    return [text[text.index("(") + 1 : comm_end], *text[comm_end + 2 :].split()]


def _cpu_s(groups: set[int], comm: str) -> tuple[float, float]:
    """CPU seconds used so far by the processes of `groups` (process groups) and by the
    processes named `comm`."""
    in_groups = named = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        fields = _stat(pid)
        if fields is None:
            continue
        # after the name: state, ppid, pgrp, … utime (index 12), stime (13)
        ticks = int(fields[12]) + int(fields[13])
        if int(fields[3]) in groups:
            in_groups += ticks
        elif fields[0] == comm:
            named += ticks
    return in_groups / _TICKS, named / _TICKS


def _machine_ticks() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def _redis_cpu_s(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def _appends(bases: list[str]) -> tuple[float, float]:
    """(appends, their seconds) so far, summed over the hosts (each /metrics answers for all
    of its workers)."""
    count = seconds = 0.0
    for base in bases:
        for line in httpx.get(base + "/metrics", timeout=10).text.splitlines():
            name, _, value = line.partition(" ")
            if name == "ppcx_event_append_seconds_count":
                count += float(value)
            elif name == "ppcx_event_append_seconds_sum":
                seconds += float(value)
    return count, seconds


class Sampler:
    """Samples the lock, Redis and the CPU while a load runs (its own thread)."""

    def __init__(
        self,
        conninfo: str | None,
        schema: str,
        redis_url: str,
        groups: set[int],
        bases: list[str],
    ) -> None:
        self.conninfo, self.schema, self.groups, self.bases = conninfo, schema, groups, bases
        self.redis = redis.Redis.from_url(redis_url)
        self.usage = Usage()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    @contextlib.contextmanager
    def running(self) -> Iterator[Usage]:
        began = time.perf_counter()
        busy0, total0 = _machine_ticks()
        ppcx0, pg0 = _cpu_s(self.groups, "postgres")
        redis0 = _redis_cpu_s(self.redis)
        gen0 = sum(os.times()[:2])
        appends0, append_s0 = _appends(self.bases)
        self._thread.start()
        try:
            yield self.usage
        finally:
            self._stop.set()
            self._thread.join()
            u = self.usage
            u.seconds = time.perf_counter() - began
            busy1, total1 = _machine_ticks()
            u.machine_busy = (busy1 - busy0) / max(1, total1 - total0)
            ppcx1, pg1 = _cpu_s(self.groups, "postgres")
            u.ppcx_cpu_s, u.postgres_cpu_s = ppcx1 - ppcx0, pg1 - pg0
            u.redis_cpu_s = _redis_cpu_s(self.redis) - redis0
            u.generator_cpu_s = sum(os.times()[:2]) - gen0
            appends1, append_s1 = _appends(self.bases)
            u.appends, u.append_s = int(appends1 - appends0), append_s1 - append_s0
            self.redis.close()

    def _run(self) -> None:
        connection = (
            psycopg.connect(self.conninfo, autocommit=True) if self.conninfo is not None else None
        )
        try:
            while not self._stop.wait(SAMPLE_INTERVAL_S):
                self._sample(connection)
        finally:
            if connection is not None:
                connection.close()

    def _sample(self, connection: psycopg.Connection[tuple[int, int]] | None) -> None:
        started = time.perf_counter()
        self.redis.ping()
        self.usage.redis_rtt_ms.append((time.perf_counter() - started) * 1000)
        if connection is None:
            return
        row = connection.execute(
            "SELECT count(*) FILTER (WHERE l.granted), count(*) FILTER (WHERE NOT l.granted) "
            "FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            # only the append's LOCK TABLE takes EXCLUSIVE (an INSERT takes ROW EXCLUSIVE)
            "WHERE n.nspname = %s AND l.mode = 'ExclusiveLock'",
            (self.schema,),
        ).fetchone()
        if row is not None:
            self.usage.lock_held += min(1, int(row[0]))
            self.usage.lock_waiting += int(row[1])
        self.usage.samples += 1


# -- the load -----------------------------------------------------------------------------------
def _ping_bodies(campaign: str, first: int, count: int) -> list[dict[str, object]]:
    return [
        {"campaign_id": campaign, "caller": {"number": _caller(n), "state": "CA"}}
        for n in range(first, first + count)
    ]


async def _drive_all(
    bases: list[str], campaign: str, key: str, first: int, pings: int, concurrency: int
) -> Load:
    """`pings` split over the hosts, `concurrency` clients split likewise, all at once."""
    share = pings // len(bases)
    clients = max(1, concurrency // len(bases))
    loads = await asyncio.gather(
        *(
            _drive(
                base, "/v1/pings", _ping_bodies(campaign, first + n * share, share), key, clients
            )
            for n, base in enumerate(bases)
        )
    )
    latencies = [ms for load in loads for ms in load.latencies_ms]
    return Load(
        max(load.seconds for load in loads),
        latencies,
        sum(load.errors for load in loads),
        [e for load in loads for e in load.first_error][:1],
    )


def _await_market(bases: list[str], campaign: str, key: str) -> None:
    """Every host's config sync has seen the market: a probe ping is accepted on each."""
    for n, base in enumerate(bases):
        deadline = time.monotonic() + READY_BOUND_S
        while True:
            body = {"campaign_id": campaign, "caller": {"number": _caller(900_000 + n)}}
            with contextlib.suppress(httpx.HTTPError):
                answer = httpx.post(
                    base + "/v1/pings",
                    json=body,
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=10,
                )
                if answer.status_code == 200 and answer.json()["accepted"]:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{base} never accepted a ping of the market")
            time.sleep(0.1)


def _measure(
    bases: list[str],
    sampler: Sampler,
    *,
    pings: int,
    concurrency: int,
    targets: int,
) -> tuple[Load, Usage]:
    key, campaign = _market(bases[0], targets)
    _await_market(bases, campaign, key)
    uvloop.run(_drive_all(bases, campaign, key, 0, WARM_PINGS * len(bases), concurrency))
    with sampler.running() as usage:
        load = uvloop.run(
            _drive_all(bases, campaign, key, WARM_PINGS * len(bases), pings, concurrency)
        )
    return load, usage


# -- the configurations -----------------------------------------------------------------------
def _postgres_conninfo(settings: Settings, dbname: str) -> str:
    return psycopg.conninfo.make_conninfo(
        host=settings.postgres_host,
        port=settings.postgres_port,
        user=settings.postgres_user,
        password=settings.postgres_password,
        dbname=dbname,
        connect_timeout=5,
    )


@contextlib.contextmanager
def _schema(settings: Settings) -> Iterator[tuple[str, str]]:
    """A fresh schema in the benchmark's database → (conninfo, schema); dropped afterwards."""
    with psycopg.connect(_postgres_conninfo(settings, "postgres"), autocommit=True) as c:
        if not c.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DATABASE,)
        ).fetchone():
            c.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
    conninfo = _postgres_conninfo(settings, BENCH_DATABASE)
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(conninfo, autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield conninfo, schema
    finally:
        with psycopg.connect(conninfo, autocommit=True) as c:
            c.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _run_postgres(
    settings: Settings, root: Path, redis_url: str, nats_url: str, count: int, **load: int
) -> Run:
    name = f"benchcluster{os.getpid()}n{count}"
    with _schema(settings) as (conninfo, schema):
        postgres = Postgres(
            dbname=BENCH_DATABASE,
            schema=schema,
            host=settings.postgres_host,
            port=settings.postgres_port,
            user=settings.postgres_user,
            password=settings.postgres_password,
        )
        try:
            with hosts(
                root / f"pg{count}",
                count=count,
                redis_url=redis_url,
                nats_url=nats_url,
                postgres=postgres,
                name=name,
                workers=load["workers"],
                roles=("api",),
                singletons=False,
                extra={"PPCX_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY},
            ) as rig:
                groups = {h.process.pid for h in rig.hosts}
                sampler = Sampler(conninfo, schema, redis_url, groups, rig.bases)
                measured, usage = _measure(
                    rig.bases,
                    sampler,
                    pings=load["pings"],
                    concurrency=load["concurrency"],
                    targets=load["targets"],
                )
        finally:
            drop_redis_keys(redis_url, f"{name}*")
    return Run(count, "PostgreSQL", measured, usage)


def _run_sqlite(root: Path, redis_url: str, nats_url: str, **load: int) -> Run:
    prefix = f"benchclustersqlite{os.getpid()}"
    data_dir = root / "sqlite"
    data_dir.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PPCX_", "POSTGRES_", "SQLITE_", "PERSISTENCE_"))
    } | {
        "REDIS_URL": redis_url,
        "NATS_URL": nats_url,
        "PPCX_DATA_DIR": str(data_dir),
        "PPCX_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
        "PPCX_REDIS_PREFIX": prefix,
        "PPCX_NATS_STREAM": prefix.upper(),
        "PPCX_NATS_SUBJECT_PREFIX": f"{prefix}.events",
    }
    port = free_loopback_port()
    ppcx = str(Path(sys.executable).parent / "ppcx")
    server = _start(
        [ppcx, "serve", "--role", "api", "--port", str(port), "--workers", str(load["workers"])],
        env,
        data_dir / "serve.log",
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(base + "/healthz", server, data_dir / "serve.log")
        sampler = Sampler(None, "", redis_url, {server.pid}, [base])
        measured, usage = _measure(
            [base],
            sampler,
            pings=load["pings"],
            concurrency=load["concurrency"],
            targets=load["targets"],
        )
    finally:
        _stop(server)
        drop_redis_keys(redis_url, f"{prefix}*")
    return Run(1, "SQLite", measured, usage)


def run(
    settings: Settings,
    redis_url: str,
    nats_url: str,
    console: Console,
    *,
    pings: int = 3000,
    concurrency: int = 24,
    workers: int = 1,
    targets: int = 10,
) -> tuple[list[Figure], list[Run]]:
    load = {"pings": pings, "concurrency": concurrency, "workers": workers, "targets": targets}
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="ppcx-bench-cluster-") as scratch:
        root = Path(scratch)
        runs.append(_run_sqlite(root, redis_url, nats_url, **load))
        _print(console, runs[-1])
        for count in HOST_COUNTS:
            runs.append(_run_postgres(settings, root, redis_url, nats_url, count, **load))
            _print(console, runs[-1])
    return _figures(runs), runs


def _print(console: Console, run: Run) -> None:
    u = run.usage
    console.print(
        f"{run.hosts} host(s) on {run.store}: {run.load.per_s:,.0f} pings/s, "
        f"p99 {run.load.quantile(0.99):.1f} ms, {run.load.errors} errors; lock held "
        f"{u.lock_held_share:.0%}, {u.lock_waiters_mean:.2f} backends waiting; {u.appends} appends "
        f"({len(run.load.latencies_ms) / max(1, u.appends):.1f} pings each, "
        f"{u.append_ms_mean:.1f} ms), lock wait {u.lock_wait_ms_per_append:.2f} ms and hold "
        f"{u.lock_hold_ms_per_append:.2f} ms per append; machine "
        f"busy {u.machine_busy:.0%}; CPU s: ppcx {u.ppcx_cpu_s:.1f}, postgres "
        f"{u.postgres_cpu_s:.1f}, redis {u.redis_cpu_s:.1f}, load {u.generator_cpu_s:.1f}"
    )
    if run.load.first_error:
        console.print(f"[yellow]first error: {run.load.first_error[0]}[/]")


def _figures(runs: list[Run]) -> list[Figure]:
    base = runs[0]
    figures = [
        Figure("1 host, SQLite: durable pings/s", base.load.per_s, "pings/s"),
        Figure(
            "1 host, SQLite: ping latency p99",
            base.load.quantile(0.99),
            "ms",
            higher_is_better=False,
        ),
    ]
    for r in runs[1:]:
        u, label = r.usage, f"{r.hosts} host{'s' if r.hosts > 1 else ''}, PostgreSQL"
        figures += [
            Figure(
                f"{label}: durable pings/s",
                r.load.per_s,
                "pings/s",
                "1 host, SQLite",
                base.load.per_s,
            ),
            Figure(
                f"{label}: ping latency p99",
                r.load.quantile(0.99),
                "ms",
                "1 host, SQLite",
                base.load.quantile(0.99),
                higher_is_better=False,
            ),
            Figure(f"{label}: EXCLUSIVE lock held", u.lock_held_share * 100, "% of time"),
            Figure(
                f"{label}: backends waiting for the lock (mean)",
                u.lock_waiters_mean,
                "backends",
                higher_is_better=False,
            ),
            Figure(
                f"{label}: pings per append (group commit)",
                len(r.load.latencies_ms) / max(1, u.appends),
                "pings",
                "1 host, SQLite",
                len(base.load.latencies_ms) / max(1, base.usage.appends),
            ),
            Figure(
                f"{label}: append transaction, mean",
                u.append_ms_mean,
                "ms",
                "1 host, SQLite",
                base.usage.append_ms_mean,
                higher_is_better=False,
            ),
            Figure(
                f"{label}: lock held per append",
                u.lock_hold_ms_per_append,
                "ms",
                higher_is_better=False,
            ),
            Figure(
                f"{label}: lock wait per append (Little's law)",
                u.lock_wait_ms_per_append,
                "ms",
                higher_is_better=False,
            ),
            Figure(
                f"{label}: ceiling of the store's lock (pings/s ÷ share held)",
                r.load.per_s / u.lock_held_share if u.lock_held_share else float("inf"),
                "pings/s",
            ),
            Figure(
                f"{label}: Redis PING p99 under load",
                percentile(u.redis_rtt_ms, 99),
                "ms",
                higher_is_better=False,
            ),
            Figure(f"{label}: Redis CPU", u.redis_cpu_s / u.seconds * 100, "% of a core"),
            Figure(f"{label}: machine CPU busy", u.machine_busy * 100, "% of all cores"),
            Figure(
                f"{label}: CPU per ping (PPCX, PostgreSQL, Redis, load generator)",
                (u.ppcx_cpu_s + u.postgres_cpu_s + u.redis_cpu_s + u.generator_cpu_s)
                / max(1, len(r.load.latencies_ms))
                * 1000,
                "ms",
                higher_is_better=False,
            ),
        ]
    figures.append(
        Figure(
            "failed pings (all runs)",
            float(sum(r.load.errors for r in runs)),
            "pings",
            target="0",
            higher_is_better=False,
        )
    )
    return figures


def notes(runs: list[Run], workers: int, concurrency: int) -> list[str]:
    """What the figures say about the ceiling, from this run's own measurements."""
    found = [
        f"Every configuration runs `ppcx serve --role api` with {workers} worker(s) per host "
        f"(the workers sweep), on one machine's loopback, sharing one Redis; {concurrency} "
        "closed-loop clients split evenly over the hosts, in the benchmark's process on the "
        "same cores. The PostgreSQL hosts share one schema (a database of the benchmark's own).",
        "Lock held = share of samples (every 20 ms) in which a backend held the events table's "
        "EXCLUSIVE lock (taken first in every append's transaction, released at its commit); "
        "waiting = backends queued behind it. The lock's ceiling = pings/s ÷ share held, at "
        "the batch sizes of this load (group commit appends a batch of pings per turn; "
        "batches grow with load, so it is a floor of the true ceiling). A holder that the "
        "CPU has descheduled keeps the lock held: on saturated cores the share overstates "
        "what the lock itself costs.",
    ]
    for r in runs[1:]:
        u = r.usage
        cpu_per_ping_ms = (
            (u.ppcx_cpu_s + u.postgres_cpu_s + u.redis_cpu_s + u.generator_cpu_s)
            / max(1, len(r.load.latencies_ms))
            * 1000
        )
        lock_ceiling = r.load.per_s / u.lock_held_share if u.lock_held_share else float("inf")
        cores = os.cpu_count() or 1
        found.append(
            f"{r.hosts} host(s): machine {u.machine_busy:.0%} busy, {cpu_per_ping_ms:.2f} CPU-ms "
            f"per ping all parts together (PPCX {u.ppcx_cpu_s:.1f} s, PostgreSQL "
            f"{u.postgres_cpu_s:.1f} s, Redis {u.redis_cpu_s:.1f} s, load generator "
            f"{u.generator_cpu_s:.1f} s); lock held {u.lock_held_share:.0%}, "
            f"{u.lock_hold_ms_per_append:.2f} ms per append of "
            f"{len(r.load.latencies_ms) / max(1, u.appends):.1f} pings (waits for it "
            f"{u.lock_wait_ms_per_append:.2f} ms per append) → its ceiling "
            f"≈ {lock_ceiling:,.0f} pings/s; CPU's ceiling on {cores} cores ≈ "
            f"{cores * 1000 / cpu_per_ping_ms if cpu_per_ping_ms else 0:,.0f} pings/s."
        )
    return found
