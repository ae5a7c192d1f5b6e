"""`ppcx-tools bench http`: durable pings over loopback against `ppcx serve` (uvicorn, 2 workers),
next to a bare FastAPI endpoint doing one Redis call, served the same way in the same run.

Both servers are real processes; the load comes from concurrent keep-alive HTTP clients in
this process, for a fixed number of requests (it stops by itself)."""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx
import uvloop
from rich.console import Console

from ppcx.services import drop_redis_keys, free_loopback_port
from tools.bench.report import Figure, rate
from tools.market import BuyerSpec, MarketSpec, OverHttp, build_market

ADMIN_KEY = "bench-admin-key"
SEQUENTIAL_PINGS = 300  # latency without queueing: one client, one request at a time
SWEEP_STEP_CLIENTS = 8  # PPCX runs at 8, 16, … clients, up to the full load
P99_TARGET_MS = 50.0  # the throughput target holds at this tail latency
ROUNDS = 3  # rounds per load level; the median (by throughput) is reported
START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Load:
    seconds: float
    latencies_ms: list[float]
    errors: int
    first_error: list[str]

    @property
    def per_s(self) -> float:
        return rate(len(self.latencies_ms), self.seconds)

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _median(loads: Iterable[Load]) -> Load:
    ordered = sorted(loads, key=lambda load: load.per_s)
    return ordered[len(ordered) // 2]


def _caller(n: int) -> str:
    """A distinct valid North American number per ping (no duplicate, no repeated ping)."""
    return f"+1213{200 + n // 10_000:03d}{n % 10_000:04d}"


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(  # noqa: S603 - our own binaries, fixed arguments
            args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server did not start in {START_TIMEOUT_S:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


async def _drive(
    base_url: str, path: str, bodies: Sequence[Mapping[str, object]], key: str, concurrency: int
) -> Load:
    """`concurrency` keep-alive clients send `bodies` in turn, each its next request as soon
    as the last is answered. aiohttp, not httpx: httpx's client costs ~15× more CPU per
    request here and the baseline would measure the client (see BENCHMARKS.md)."""
    latencies: list[float] = []
    errors = 0
    first_error: list[str] = []
    queue = iter(bodies)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(
        base_url,
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=30),
        headers={"Authorization": f"Bearer {key}"},
    ) as client:

        async def worker() -> None:
            nonlocal errors
            for body in queue:
                started = time.perf_counter()
                async with client.post(path, json=body) as response:
                    text = await response.read()
                    if response.status == 200:
                        latencies.append((time.perf_counter() - started) * 1000)
                        continue
                errors += 1
                if not first_error:
                    first_error.append(f"{response.status} {text[:300]!r}")

        async def warm() -> None:
            async with client.get("/healthz") as response:
                await response.read()

        # open the connections, then measure
        await asyncio.gather(*(warm() for _ in range(concurrency)), return_exceptions=True)
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return Load(time.perf_counter() - began, latencies, errors, first_error[:1])


# the campaign's caller-velocity screen: on, at a setting a campaign would choose (every
# ping's caller is new, so none is refused: the cost measured is the screening itself)
BENCH_VELOCITY = {"calls": 10, "window_s": 600}


def _market(base_url: str, targets: int) -> tuple[str, str]:
    """One campaign, one publisher, `targets` funded buyers with standing bids → the
    publisher's key and the campaign."""
    spec = MarketSpec(
        publishers=[{"name": "bench publisher"}],
        campaign={
            "name": "bench",
            "vertical": "legal",
            "publisher_payout": {"fixed": "20.00"},
            "duplicate_window_days": 0,
            "velocity": BENCH_VELOCITY,
        },
        buyers=[
            BuyerSpec(
                {"name": f"buyer {n}", "time_zone": "UTC", "credit_limit": "0.00"},
                deposit={"amount": "100000000.00"},
                targets=[{"destination": f"+1310555{n:04d}", "bid": f"{30 + n}.00"}],
            )
            for n in range(targets)
        ],
    )
    with httpx.Client(base_url=base_url, timeout=30) as client:
        built = build_market(OverHttp(client, ADMIN_KEY), spec)
    return str(built.publishers[0].api_key), built.campaign_id


def sweep_levels(concurrency: int) -> list[int]:
    """The load levels PPCX is driven at: every SWEEP_STEP_CLIENTS clients, then the full load."""
    return [*range(SWEEP_STEP_CLIENTS, concurrency, SWEEP_STEP_CLIENTS), concurrency]


def _sweep_figures(sweep: Mapping[int, Load], bare_per_s: float) -> list[Figure]:
    """Each level's throughput and tail, and the target's figure: the most pings/s among the
    levels whose p99 stays within P99_TARGET_MS (0 when none does)."""
    figures = []
    for clients, load in sorted(sweep.items()):
        figures.append(Figure(f"{clients} clients: durable pings/s", load.per_s, "pings/s"))
        figures.append(
            Figure(
                f"{clients} clients: ping latency p99",
                load.quantile(0.99),
                "ms",
                higher_is_better=False,
            )
        )
    within = [
        (load.per_s, clients)
        for clients, load in sweep.items()
        if load.quantile(0.99) <= P99_TARGET_MS
    ]
    best_per_s, best_clients = max(within, default=(0.0, 0))
    figures.append(
        Figure(
            f"durable pings/s with p99 ≤ {P99_TARGET_MS:.0f} ms"
            + (f" ({best_clients} clients)" if best_clients else " (no level)"),
            best_per_s,
            "pings/s",
            "bare FastAPI req/s",
            bare_per_s,
            target="≥ 1,000",
        )
    )
    return figures


def run(
    redis_url: str,
    nats_url: str,
    console: Console,
    *,
    pings: int = 4000,
    concurrency: int = 32,
    workers: int = 2,
    targets: int = 10,
    screening_rounds: int = 0,
) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="ppcx-bench-http-") as scratch:
        root = Path(scratch)
        env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "NATS_URL": nats_url,
            "PPCX_DATA_DIR": str(root / "data"),
            "PPCX_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
            "PPCX_REDIS_PREFIX": f"benchhttp{os.getpid()}",
            "PPCX_API_WORKERS": str(workers),
        }
        for name in ("SQLITE_DBNAME", "PERSISTENCE_MODULE", "PPCX_DUCKDB_PATH"):
            env.pop(name, None)
        bin_dir = Path(sys.executable).parent

        port = free_loopback_port()
        bare = _start(
            [  # served the way `ppcx serve` serves: a process per worker, SO_REUSEPORT
                sys.executable,
                "-m",
                "tools.bench.bare_app",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env,
            root / "bare.log",
        )
        try:
            bare_url = f"http://127.0.0.1:{port}"
            _wait_ready(bare_url + "/docs", bare, root / "bare.log")
            console.print(f"baseline: bare FastAPI + one Redis call, {workers} workers")
            bodies = [
                {"campaign_id": "bench", "caller": {"number": _caller(n)}} for n in range(pings)
            ]
            baseline = _median(
                uvloop.run(_drive(bare_url, "/v1/pings", bodies, "-", concurrency))
                for _ in range(ROUNDS)
            )
            baseline_one = uvloop.run(
                _drive(bare_url, "/v1/pings", bodies[:SEQUENTIAL_PINGS], "-", 1)
            )
        finally:
            _stop(bare)

        # the API role alone (its workers sweep, as before the roles were split): the relay
        # and the projector would take the same two cores as the load generator
        api, api_url = _serve(env, bin_dir, root / "api.log", workers)
        try:
            _wait_ready(api_url + "/healthz", api, root / "api.log")
            key, campaign = _market(api_url, targets)
            time.sleep(1.0)  # both workers' config sync has seen the market
            console.print(
                f"ppcx serve: durable pings, {targets} standing bids, "
                f"{workers} workers, {', '.join(map(str, sweep_levels(concurrency)))} "
                "concurrent clients"
            )

            def pings_from(first: int, count: int) -> list[dict[str, object]]:
                """Pings from callers never seen before (no duplicate, no repeated ping)."""
                return [
                    {"campaign_id": campaign, "caller": {"number": _caller(n), "state": "CA"}}
                    for n in range(first, first + count)
                ]

            sweep: dict[int, Load] = {}
            sent = 0
            for clients in sweep_levels(concurrency):
                rounds = []
                for _ in range(ROUNDS):
                    fresh = pings_from(sent, pings)
                    sent += pings
                    rounds.append(uvloop.run(_drive(api_url, "/v1/pings", fresh, key, clients)))
                sweep[clients] = _median(rounds)
                console.print(
                    f"  {clients} clients: {sweep[clients].per_s:,.0f} pings/s, "
                    f"p99 {sweep[clients].quantile(0.99):.1f} ms"
                )
            measured = sweep[concurrency]
            one = pings_from(sent, SEQUENTIAL_PINGS)
            measured_one = uvloop.run(_drive(api_url, "/v1/pings", one, key, 1))
            sent += SEQUENTIAL_PINGS
            screening: list[Figure] = []
            if screening_rounds:
                screening = _screening_ab(
                    env,
                    root,
                    bin_dir,
                    console,
                    first_caller=sent,
                    pings=pings,
                    concurrency=concurrency,
                    workers=workers,
                    targets=targets,
                    rounds=screening_rounds,
                )
        finally:
            _stop(api)
            # the run's hot state (a day of reservation keys) would outlive it in a shared Redis
            drop_redis_keys(redis_url, f"{env['PPCX_REDIS_PREFIX']}*")
    for load in (baseline, baseline_one, measured_one, *sweep.values()):
        if load.errors:
            console.print(
                f"[yellow]{load.errors} requests failed; the first: {load.first_error[0]}[/]"
            )
        if not load.latencies_ms:
            raise RuntimeError("no request succeeded")
    return [
        Figure("bare FastAPI + 1 Redis call: requests/s", baseline.per_s, "req/s"),
        Figure(
            "bare FastAPI + 1 Redis call: p50", baseline.quantile(0.5), "ms", higher_is_better=False
        ),
        Figure(
            "bare FastAPI + 1 Redis call: p99",
            baseline.quantile(0.99),
            "ms",
            higher_is_better=False,
        ),
        Figure(
            "durable pings/s (ppcx serve)",
            measured.per_s,
            "pings/s",
            "bare FastAPI req/s",
            baseline.per_s,
            target="≥ 1,000",
        ),
        Figure(
            "ping latency p50",
            measured.quantile(0.5),
            "ms",
            "bare p50",
            baseline.quantile(0.5),
            higher_is_better=False,
        ),
        Figure(
            "ping latency p99",
            measured.quantile(0.99),
            "ms",
            "bare p99",
            baseline.quantile(0.99),
            target="≤ 50",
            higher_is_better=False,
        ),
        *_sweep_figures(sweep, baseline.per_s),
        Figure(
            "one client: ping latency p50",
            measured_one.quantile(0.5),
            "ms",
            "bare, one client p50",
            baseline_one.quantile(0.5),
            higher_is_better=False,
        ),
        Figure(
            "one client: ping latency p99",
            measured_one.quantile(0.99),
            "ms",
            "bare, one client p99",
            baseline_one.quantile(0.99),
            target="≤ 50",
            higher_is_better=False,
        ),
        Figure(
            "failed pings",
            float(measured_one.errors + sum(load.errors for load in sweep.values())),
            "pings",
            target="0",
            higher_is_better=False,
        ),
        Figure(
            "mean of latencies",
            statistics.fmean(measured.latencies_ms),
            "ms",
            higher_is_better=False,
        ),
        *screening,
    ]


def _serve(
    env: dict[str, str], bin_dir: Path, log: Path, workers: int
) -> tuple[subprocess.Popen[bytes], str]:
    """`ppcx serve` with the API role alone (its workers sweep) → the process and its URL."""
    port = free_loopback_port()
    process = _start(
        [
            str(bin_dir / "ppcx"),
            "serve",
            "--role",
            "api",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env,
        log,
    )
    return process, f"http://127.0.0.1:{port}"


def _group_cpu_s(group: int) -> float:
    """User + system CPU seconds of every live process in process group `group` (a server
    started in its own session: its supervisor and its workers), from /proc."""
    total_ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone meanwhile
            continue
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (name) "
        if int(fields[2]) == group:  # pgrp
            total_ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return total_ticks / os.sysconf("SC_CLK_TCK")


def _screening_ab(
    env: dict[str, str],
    root: Path,
    bin_dir: Path,
    console: Console,
    *,
    first_caller: int,
    pings: int,
    concurrency: int,
    workers: int,
    targets: int,
    rounds: int,
) -> list[Figure]:
    """The ping path's throughput with screening on and off: two fresh servers side by side
    (`PPCX_SCREENING` true and false, each its own store and Redis prefix, the same market),
    a warm-up round each, then interleaved rounds at the full load — off then on, then on
    then off, … so a drift of the machine falls on both — each side's median of its rounds
    → the figures and the ratio."""
    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    envs = {
        side: {
            **env,
            "PPCX_SCREENING": "true" if side == "on" else "false",
            "PPCX_DATA_DIR": str(root / f"data-{side}"),
            "PPCX_REDIS_PREFIX": f"{env['PPCX_REDIS_PREFIX']}{side}",
        }
        for side in ("on", "off")
    }
    loads: dict[str, list[Load]] = {"on": [], "off": []}
    cpu_ms: dict[str, list[float]] = {"on": [], "off": []}  # server CPU per ping, per round
    try:
        sides = {}
        for side, side_env in envs.items():
            log = root / f"api-{side}.log"
            servers[side] = _serve(side_env, bin_dir, log, workers)
            _wait_ready(servers[side][1] + "/healthz", servers[side][0], log)
            sides[side] = (servers[side][1], *_market(servers[side][1], targets))
        time.sleep(1.0)  # the workers' config sync has seen the markets
        caller = first_caller
        console.print(
            f"screening on vs off: {rounds} interleaved rounds of {pings} pings each, "
            f"{concurrency} clients"
        )
        for n in range(-1, rounds):  # round -1: the warm-up, not counted
            for side in ("off", "on") if n % 2 == 0 else ("on", "off"):
                url, key, campaign = sides[side]
                count = pings // 4 if n < 0 else pings
                bodies = [
                    {"campaign_id": campaign, "caller": {"number": _caller(c), "state": "CA"}}
                    for c in range(caller, caller + count)
                ]
                caller += count
                cpu_before = _group_cpu_s(servers[side][0].pid)
                load = uvloop.run(_drive(url, "/v1/pings", bodies, key, concurrency))
                cpu_per_ping_ms = (_group_cpu_s(servers[side][0].pid) - cpu_before) * 1000 / count
                if load.errors:
                    console.print(f"[yellow]{load.errors} failed: {load.first_error[0]}[/]")
                if n >= 0:
                    loads[side].append(load)
                    cpu_ms[side].append(cpu_per_ping_ms)
                    console.print(
                        f"  round {n + 1}, screening {side}: {load.per_s:,.0f} pings/s, "
                        f"server CPU {cpu_per_ping_ms:.2f} ms a ping"
                    )
    finally:
        for process, _ in servers.values():
            _stop(process)
        for side_env in envs.values():
            drop_redis_keys(env["REDIS_URL"], f"{side_env['PPCX_REDIS_PREFIX']}*")
    # each round's pair (adjacent in time, so under the same load from elsewhere): the
    # ratio of their throughputs; the median over the rounds
    paired = statistics.median(
        on.per_s / off.per_s for on, off in zip(loads["on"], loads["off"], strict=True)
    )
    on_load, off_load = _median(loads["on"]), _median(loads["off"])
    on_cpu, off_cpu = statistics.median(cpu_ms["on"]), statistics.median(cpu_ms["off"])
    return [
        Figure(
            f"screening on: durable pings/s ({concurrency} clients, median round)",
            on_load.per_s,
            "pings/s",
            "screening off (PPCX_SCREENING=false)",
            off_load.per_s,
        ),
        Figure(
            "screening on ÷ off: pings/s, median of the rounds' pairs",
            paired,
            "ratio",
            target="≥ 0.85",
        ),
        Figure(
            "screening on: server CPU per ping (median round)",
            on_cpu,
            "ms",
            "screening off",
            off_cpu,
            higher_is_better=False,
        ),
        Figure(
            "screening on: ping latency p50",
            on_load.quantile(0.5),
            "ms",
            "screening off p50",
            off_load.quantile(0.5),
            higher_is_better=False,
        ),
    ]
