"""A whole PPCX system on loopback, for the fault tests and the lag benchmark: `ppcx serve` as
a real process group with its own data dir and its own embedded Redis and NATS, a market set
up through its admin API, and steady traffic through its HTTP API (pings, posts, call events)
that records what was acknowledged.

Nothing here sleeps to let time pass: waits are for conditions (bounded, with a message),
and the traffic's pacing only keeps two cores from saturating."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

import tools.market
from ppcx.embedded import free_loopback_port
from ppcx.settings import Settings
from tools.market import BuyerSpec, MarketSpec, OverHttp

ADMIN_KEY = "fault-test-admin-key"
BOUND_S = 180.0  # every wait: a loaded machine is slow, never this slow
PACE_S = 0.02  # between a traffic cycle and the next (two cores, one of them for the server)
CONCURRENCY_CAP = 2
LIMITED_DEPOSIT = "400.00"  # 8 calls at 50.00: the buyer's funds run out during the test


def until(condition: Callable[[], bool], what: str, bound_s: float = BOUND_S) -> None:
    deadline = time.monotonic() + bound_s
    while True:
        try:
            if condition():
                return
        except (httpx.HTTPError, OSError, KeyError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened within {bound_s:.0f} s: {what}")
        time.sleep(0.05)


@dataclass
class System:
    data_dir: Path
    base: str
    process: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]

    def roles(self) -> dict[str, int]:
        found: dict[str, int] = orjson.loads((self.data_dir / "serve.json").read_bytes())[
            "processes"
        ]
        return found

    def service(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = orjson.loads(
            (self.data_dir / "services" / f"{name}.json").read_bytes()
        )
        return found

    def readyz(self) -> dict[str, Any]:
        found: dict[str, Any] = httpx.get(self.base + "/readyz", timeout=10).json()
        return found

    def settings(self) -> Settings:
        return Settings(data_dir=self.data_dir, redis_url=None, nats_url=None)

    def ppcx(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own command, fixed arguments
            [str(Path(sys.executable).parent / "ppcx"), *args],
            env={**self.env, "COLUMNS": "400"},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )


@contextmanager
def served(
    tmp_path: Path, workers: int = 2, settings: dict[str, str] | None = None
) -> Iterator[System]:
    """`settings`: more PPCX_* variables for the server (e.g. a Twilio auth token)."""
    data_dir = tmp_path / "system"
    data_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PPCX_", "POSTGRES_"))}
    for name in ("REDIS_URL", "NATS_URL", "SQLITE_DBNAME", "PERSISTENCE_MODULE"):
        env.pop(name, None)
    env |= {"PPCX_DATA_DIR": str(data_dir), "PPCX_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY}
    env |= settings or {}
    port = free_loopback_port()
    log = data_dir / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
            [
                str(Path(sys.executable).parent / "ppcx"),
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    system = System(data_dir, f"http://127.0.0.1:{port}", process, log, env)
    try:
        until(
            lambda: process.poll() is None and system.readyz()["status"] == "ready",
            "ppcx serve became ready",
        )
        yield system
    finally:
        with_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            with_group(process, signal.SIGKILL)
            process.wait()


def with_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


@dataclass
class TrafficMarket:
    campaign_id: str
    publisher_keys: list[str]
    capped_target: str
    limited_buyer: str
    buyer_limits: dict[str, int]  # buyer -> credit limit cents


def build(system: System) -> TrafficMarket:
    """One campaign, two publishers; a buyer whose target takes two calls at a time, a buyer
    whose funds run out, and a buyer with room for everything else."""
    spec = MarketSpec(
        campaign={
            "name": "Faults",
            "vertical": "legal",
            "publisher_payout": {"fixed": "20.00"},
            "duplicate_window_days": 0,
        },
        publishers=[{"name": "Pub A"}, {"name": "Pub B"}],
        buyers=[
            BuyerSpec(
                {"name": "Capped", "time_zone": "UTC", "credit_limit": "0.00"},
                deposit={"amount": "100000.00", "reference": "wire"},
                targets=[
                    {
                        "destination": "+13105550401",
                        "bid": "60.00",
                        "buffer_s": 60,
                        "caps": {"concurrency": CONCURRENCY_CAP},
                    }
                ],
            ),
            BuyerSpec(
                {"name": "Limited", "time_zone": "UTC", "credit_limit": "0.00"},
                deposit={"amount": LIMITED_DEPOSIT, "reference": "wire"},
                targets=[{"destination": "+13105550402", "bid": "50.00", "buffer_s": 60}],
            ),
            BuyerSpec(
                {"name": "Roomy", "time_zone": "UTC", "credit_limit": "0.00"},
                deposit={"amount": "100000.00", "reference": "wire"},
                targets=[{"destination": "+13105550403", "bid": "40.00", "buffer_s": 60}],
            ),
        ],
    )
    with httpx.Client(base_url=system.base, timeout=30) as client:
        built = tools.market.build_market(OverHttp(client, ADMIN_KEY), spec)
    capped = built.targets[0][0]
    return TrafficMarket(
        built.campaign_id,
        [str(p.api_key) for p in built.publishers],
        capped,
        built.buyers[1].id,
        {b.id: 0 for b in built.buyers},
    )


@dataclass
class Traffic:
    """Pings, posts and call events in a loop, recording what was acknowledged."""

    system: System
    market: TrafficMarket
    statuses: Counter[str] = field(default_factory=Counter)
    connection_errors: int = 0
    pings: set[str] = field(default_factory=set)  # acknowledged: accepted or not
    posts: set[str] = field(default_factory=set)
    completions: set[str] = field(default_factory=set)
    cycles: int = 0
    unanswered_from: float | None = None
    unanswered_until: float | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _open: list[tuple[str, str]] = field(default_factory=list)  # (call id, key) not completed
    _number: int = 0

    def start(self) -> Traffic:
        self._thread = threading.Thread(target=self._run, name="fault-traffic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=BOUND_S)

    def wait_cycles(self, more: int) -> None:
        target = self.cycles + more
        until(lambda: self.cycles >= target, f"{more} traffic cycles")

    def _caller(self) -> str:
        self._number += 1
        return f"+1212555{self._number % 10000:04d}"

    def _request(self, client: httpx.Client, method: str, path: str, **kw: Any) -> Any:
        kind = "post" if path.endswith("/post") else path.split("/")[2]
        try:
            response = client.request(method, path, **kw)
        except httpx.TransportError:
            self.connection_errors += 1
            self._unanswered()
            return None
        self.statuses[f"{kind} {response.status_code}"] += 1
        if response.status_code >= 500:
            self._unanswered()
        return response

    def _unanswered(self) -> None:
        now = time.monotonic()
        if self.unanswered_from is None:
            self.unanswered_from = now
        self.unanswered_until = now

    @property
    def unanswered_s(self) -> float:
        """From the first answer that was not served (a 503, a dropped connection) to the
        last: what an operator sees of the fault."""
        if self.unanswered_from is None or self.unanswered_until is None:
            return 0.0
        return self.unanswered_until - self.unanswered_from

    def _run(self) -> None:
        with httpx.Client(base_url=self.system.base, timeout=30) as client:
            while not self._stop.is_set():
                self._cycle(client)
                self.cycles += 1
                self._stop.wait(PACE_S)
        with httpx.Client(base_url=self.system.base, timeout=30) as client:
            for call_id, key in self._open:  # end what is still open, for the checks
                self._complete(client, call_id, key)

    def _cycle(self, client: httpx.Client) -> None:
        key = self.market.publisher_keys[self.cycles % len(self.market.publisher_keys)]
        headers = {"Authorization": f"Bearer {key}"}
        ping = self._request(
            client,
            "POST",
            "/v1/pings",
            json={"campaign_id": self.market.campaign_id, "caller": {"number": self._caller()}},
            headers=headers,
        )
        if ping is None or ping.status_code != 200:
            return
        offer = ping.json()
        self.pings.add(offer["ping_id"])
        if not offer["accepted"]:
            return
        post = self._request(client, "POST", f"/v1/pings/{offer['ping_id']}/post", headers=headers)
        if post is None or post.status_code != 200:
            return
        call_id = post.json()["call_id"]
        self.posts.add(call_id)
        answered = self._request(
            client, "POST", f"/v1/calls/{call_id}/events", json={"type": "answered"},
            headers=headers,
        )  # fmt: skip
        if answered is None or answered.status_code != 200:
            self._open.append((call_id, key))
            return
        self._open.append((call_id, key))
        while len(self._open) > CONCURRENCY_CAP:  # keep a few calls in progress
            self._complete(client, *self._open.pop(0))

    def _complete(self, client: httpx.Client, call_id: str, key: str) -> None:
        done = self._request(
            client,
            "POST",
            f"/v1/calls/{call_id}/events",
            json={"type": "completed", "duration_s": 95},
            headers={"Authorization": f"Bearer {key}"},
        )
        if done is not None and done.status_code == 200:
            self.completions.add(call_id)
