"""`ppcx-tools bench commits`: the ping path at several commits, side by side in one run.

Each commit is checked out into a git worktree of its own (a temporary directory) and served
by `ppcx serve` (the API role where the commit has roles, 2 workers) from this checkout's
virtualenv with the worktree first on `PYTHONPATH`; each server has its own store and Redis
prefix and the same market, built through the HTTP API every commit has had (publisher,
campaign, funded buyers with standing bids). Then rounds, each running every server in a
seeded shuffled order: `pings` at `clients` concurrent clients, then `one_pings` from one
client. Reported per commit: the medians over the rounds, and each as a ratio to the first
commit's — above all the server's CPU per ping (its processes' user + system time from
/proc), which a busy machine blurs far less than pings/s or latency. The run stops by itself
after its rounds; every server is stopped and every worktree removed."""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvloop
from rich.console import Console

from ppcx.services import drop_redis_keys, free_loopback_port
from tools.bench.http import _caller, _drive, _group_cpu_s, _start, _stop, _wait_ready
from tools.bench.report import Figure

ADMIN_KEY = "bench-admin-key"
WARM_UP_PINGS = 300
ROUND_SEED = 7  # the rounds' orders, the same in every run
REPOSITORY = Path(__file__).resolve().parents[2]


@dataclass
class _Server:
    commit: str
    process: subprocess.Popen[bytes]
    url: str
    key: str
    campaign: str
    prefix: str
    rounds: list[tuple[float, float, float, float]] = field(default_factory=list)


def _worktree(scratch: Path, commit: str) -> Path:
    """`commit` checked out (detached) into `scratch`; "." is this working tree as it is."""
    if commit == ".":
        return REPOSITORY
    tree = scratch / f"tree-{len(list(scratch.glob('tree-*')))}"
    subprocess.run(  # noqa: S603 - git with a revision the operator named
        ["git", "-C", str(REPOSITORY), "worktree", "add", "-q", "--detach", str(tree), commit],  # noqa: S607
        check=True,
    )
    return tree


def check_revisions(commits: list[str]) -> None:
    """Every commit names one in this repository ("." this working tree), else ValueError
    naming the first that does not — before any worktree or server is started."""
    for commit in commits:
        if commit == ".":
            continue
        wanted = f"{commit}^{{commit}}"
        args = ["git", "-C", str(REPOSITORY), "rev-parse", "--verify", "--quiet", wanted]
        found = subprocess.run(args, capture_output=True, check=False)  # noqa: S603
        if found.returncode != 0:
            raise ValueError(f"{commit!r} is not a commit of this repository")


def _label(commit: str) -> str:
    """How a commit is named in the figures: "." as the working tree on its HEAD."""
    if commit != ".":
        return commit
    head = subprocess.run(  # noqa: S603
        ["git", "-C", str(REPOSITORY), "rev-parse", "--short", "HEAD"],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return f"tree on {head}"


def _market(base_url: str, targets: int) -> tuple[str, str]:
    """One campaign, one publisher, `targets` funded buyers with standing bids, through the
    routes every commit since the first HTTP benchmark has → the publisher's key, the
    campaign."""
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
    ) as client:

        def post(path: str, body: dict[str, object]) -> dict[str, str]:
            response = client.post(path, json=body)
            response.raise_for_status()
            return response.json() if response.content else {}

        publisher = post("/v1/publishers", {"name": "bench publisher"})
        campaign = post(
            "/v1/campaigns",
            {
                "name": "bench",
                "vertical": "legal",
                "publisher_payout": {"fixed": "20.00"},
                "duplicate_window_days": 0,
            },
        )["id"]
        post(f"/v1/campaigns/{campaign}/publishers", {"publisher_id": publisher["id"]})
        for n in range(targets):
            buyer = post(
                "/v1/buyers", {"name": f"buyer {n}", "time_zone": "UTC", "credit_limit": "0.00"}
            )["id"]
            post(f"/v1/buyers/{buyer}/deposits", {"amount": "100000000.00"})
            post(
                "/v1/targets",
                {
                    "buyer_id": buyer,
                    "campaign_id": campaign,
                    "destination": f"+1310555{n:04d}",
                    "bid": f"{30 + n}.00",
                },
            )
        return publisher["api_key"], campaign


def run(
    redis_url: str,
    nats_url: str,
    console: Console,
    commits: list[str],
    *,
    rounds: int = 8,
    pings: int = 1500,
    clients: int = 16,
    one_pings: int = 500,
    workers: int = 2,
    targets: int = 10,
) -> list[Figure]:
    bin_dir = Path(sys.executable).parent
    servers: list[_Server] = []
    sent = 0

    def bodies(server: _Server, count: int) -> list[dict[str, object]]:
        nonlocal sent
        out: list[dict[str, object]] = [
            {"campaign_id": server.campaign, "caller": {"number": _caller(n), "state": "CA"}}
            for n in range(sent, sent + count)
        ]
        sent += count
        return out

    with tempfile.TemporaryDirectory(prefix="ppcx-bench-commits-") as scratch:
        root = Path(scratch)
        trees: list[Path] = []
        try:
            for index, commit in enumerate(commits):
                tree = _worktree(root, commit)
                trees.append(tree)
                prefix = f"benchcommits{os.getpid()}n{index}"
                env = {
                    **os.environ,
                    "PYTHONPATH": str(tree),
                    "REDIS_URL": redis_url,
                    "NATS_URL": nats_url,
                    "PPCX_DATA_DIR": str(root / f"data-{index}"),
                    "PPCX_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
                    "PPCX_REDIS_PREFIX": prefix,
                    "PPCX_API_WORKERS": str(workers),
                }
                for name in ("SQLITE_DBNAME", "PERSISTENCE_MODULE", "PPCX_DUCKDB_PATH"):
                    env.pop(name, None)
                args = [str(bin_dir / "ppcx"), "serve", "--workers", str(workers)]
                if (tree / "ppcx" / "roles.py").exists():  # the API role alone, as before roles
                    args += ["--role", "api"]
                port = free_loopback_port()
                log = root / f"serve-{index}.log"
                process = _start([*args, "--port", str(port)], env, log)
                url = f"http://127.0.0.1:{port}"
                servers.append(_Server(_label(commit), process, url, "", "", prefix))
                _wait_ready(url + "/healthz", process, log)
                servers[-1].key, servers[-1].campaign = _market(url, targets)
                console.print(f"{commit}: serving on {url}")
            time.sleep(1.0)  # every worker's config sync has seen its market
            for server in servers:
                uvloop.run(
                    _drive(server.url, "/v1/pings", bodies(server, WARM_UP_PINGS), server.key, 4)
                )
            order = random.Random(ROUND_SEED)
            for number in range(rounds):
                shuffled = list(servers)
                order.shuffle(shuffled)
                for server in shuffled:
                    began = _group_cpu_s(server.process.pid)
                    load = uvloop.run(
                        _drive(server.url, "/v1/pings", bodies(server, pings), server.key, clients)
                    )
                    middle = _group_cpu_s(server.process.pid)
                    one = uvloop.run(
                        _drive(server.url, "/v1/pings", bodies(server, one_pings), server.key, 1)
                    )
                    ended = _group_cpu_s(server.process.pid)
                    if load.errors or one.errors:
                        first = (load.first_error or one.first_error)[0]
                        raise RuntimeError(f"{server.commit}: failed pings: {first}")
                    row = (
                        (middle - began) * 1000 / len(load.latencies_ms),
                        load.per_s,
                        one.quantile(0.5),
                        (ended - middle) * 1000 / len(one.latencies_ms),
                    )
                    server.rounds.append(row)
                    console.print(
                        f"  round {number + 1}/{rounds} {server.commit}: {row[1]:,.0f} pings/s, "
                        f"CPU {row[0]:.2f} ms a ping; one client p50 {row[2]:.2f} ms, "
                        f"CPU {row[3]:.2f} ms a ping"
                    )
        finally:
            for server in servers:
                _stop(server.process)
                drop_redis_keys(redis_url, f"{server.prefix}*")
            for tree in trees:
                if tree != REPOSITORY:
                    subprocess.run(  # noqa: S603
                        ["git", "-C", str(REPOSITORY), "worktree", "remove", "--force", str(tree)],  # noqa: S607
                        check=False,
                    )
    return _figures(servers, clients)


def _figures(servers: list[_Server], clients: int) -> list[Figure]:
    def median(server: _Server, column: int) -> float:
        return statistics.median(row[column] for row in server.rounds)

    base = servers[0]
    figures: list[Figure] = []
    for server in servers:
        baseline = f"at {base.commit}"
        figures += [
            Figure(
                f"{server.commit}: server CPU per ping, {clients} clients",
                median(server, 0),
                "ms",
                baseline,
                median(base, 0),
                higher_is_better=False,
            ),
            Figure(
                f"{server.commit}: durable pings/s, {clients} clients",
                median(server, 1),
                "pings/s",
                baseline,
                median(base, 1),
            ),
            Figure(
                f"{server.commit}: one client, ping latency p50",
                median(server, 2),
                "ms",
                baseline,
                median(base, 2),
                higher_is_better=False,
            ),
            Figure(
                f"{server.commit}: one client, server CPU per ping",
                median(server, 3),
                "ms",
                baseline,
                median(base, 3),
                higher_is_better=False,
            ),
        ]
    return figures
