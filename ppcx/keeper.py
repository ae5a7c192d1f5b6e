"""The keeper of one embedded server (`python -m ppcx.keeper <services dir> <redis|nats>`).

Exactly one keeper runs per data directory and service: it holds `<name>.lock` (flock) for
its whole life, so two commands started at once (a relay and a projector while NATS is
down) share one server instead of starting two on the same JetStream store. The keeper

* starts the server as its own child, on the port kept in `<name>.port` (the kernel SIGTERMs
  the server if the keeper dies, even by SIGKILL: no orphan);
* restarts it **on the same port, with the same data directory**, when it dies — or when it
  stays unhealthy for `UNHEALTHY_RESTART_S` (a stopped process) — so its clients reconnect
  where they dial;
* records what runs in `<name>.json` (pid, port, url, restarts);
* stops the server and exits when nobody uses it any more: no live user in `users/` (each
  command that shares the services registers its pid there while it runs) and no pin
  (`ppcx services up` pins the servers until `ppcx services down`).

A user registering and the keeper deciding to leave take `registry.lock` in turn, so a user
either is seen by the running keeper or finds its lock free and starts a new one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from ppcx.embedded import (
    SERVICE_NAMES,
    ServiceName,
    dies_with_parent,
    find_binary,
    free_loopback_port,
    healthy,
    pid_alive,
    port_free,
    server_command,
    terminate,
    url_of,
)

logger = logging.getLogger("ppcx.keeper")
WATCH_INTERVAL_S = 0.2
IDLE_GRACE_S = 1.0  # a command that ends while the next one starts does not bounce the server
UNHEALTHY_RESTART_S = 30.0
START_TIMEOUT_S = 15.0
PORT_RELEASE_WAIT_S = 5.0  # a first start waits this long for its old port before taking another
RESTART_BACKOFF_S_MAX = 5.0
USERS_DIR = "users"
REGISTRY_LOCK = "registry.lock"


def lock_path(services_dir: Path, name: str) -> Path:
    return services_dir / f"{name}.lock"


def state_path(services_dir: Path, name: str) -> Path:
    return services_dir / f"{name}.json"


def pin_path(services_dir: Path, name: str) -> Path:
    return services_dir / f"{name}.pinned"


def port_path(services_dir: Path, name: str) -> Path:
    return services_dir / f"{name}.port"


@contextlib.contextmanager
def registry(services_dir: Path) -> Iterator[None]:
    """The short critical section of registering a user / a keeper deciding to leave."""
    services_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(services_dir / REGISTRY_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def keeper_running(services_dir: Path, name: str) -> bool:
    """Whether a keeper holds the service's lock (call inside `registry`)."""
    fd = os.open(lock_path(services_dir, name), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock taken here
    return False


def live_users(services_dir: Path) -> list[int]:
    """Pids of the commands using the services now; files of dead ones are removed."""
    users = services_dir / USERS_DIR
    alive = []
    for entry in users.glob("*") if users.is_dir() else ():
        try:
            pid = int(entry.name)
        except ValueError:
            continue
        if pid_alive(pid):
            alive.append(pid)
        else:
            entry.unlink(missing_ok=True)
    return sorted(alive)


def in_use(services_dir: Path, name: str) -> bool:
    return pin_path(services_dir, name).exists() or bool(live_users(services_dir))


class Keeper:
    def __init__(self, services_dir: Path, name: ServiceName) -> None:
        self.services_dir = services_dir
        self.name = name
        self.binary = find_binary(name)
        self.stop = threading.Event()
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.restarts = 0
        self._lock_fd: int | None = None

    # -- the port ------------------------------------------------------------------------------
    def _first_port(self) -> int:
        """The kept port when it is (or soon becomes) free; otherwise a new one, kept."""
        path = port_path(self.services_dir, self.name)
        with contextlib.suppress(OSError, ValueError):
            kept = int(path.read_text())
            deadline = time.monotonic() + PORT_RELEASE_WAIT_S
            while time.monotonic() < deadline:
                if port_free(kept):
                    return kept
                time.sleep(0.1)
            logger.warning("%s: port %d is taken; choosing another", self.name, kept)
        port = free_loopback_port()
        path.write_text(str(port))
        return port

    # -- the server ------------------------------------------------------------------------------
    def _start(self) -> bool:
        command = server_command(self.name, self.binary, self.port, self.services_dir)
        self.process = subprocess.Popen(  # noqa: S603 - our own binary, fixed arguments
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=dies_with_parent(os.getpid()),  # noqa: PLW1509 - needs prctl
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and not self.stop.is_set():
            if self.process.poll() is not None:
                logger.warning(
                    "%s exited with %s at start (port %d)",
                    self.name,
                    self.process.returncode,
                    self.port,
                )
                return False
            if healthy(self.name, self.port):
                self._write_state()
                logger.info(
                    "%s serving on port %d (pid %d)", self.name, self.port, self.process.pid
                )
                return True
            time.sleep(0.05)
        self._stop_server()
        return False

    def _write_state(self) -> None:
        if self.process is None:
            return
        state = {
            "name": self.name,
            "pid": self.process.pid,
            "port": self.port,
            "url": url_of(self.name, self.port),
            "binary": str(self.binary),
            "keeper_pid": os.getpid(),
            "restarts": self.restarts,
        }
        path = state_path(self.services_dir, self.name)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(path)

    def _stop_server(self) -> None:
        if self.process is not None:
            terminate(self.process.pid)
            with contextlib.suppress(ChildProcessError):
                self.process.wait(timeout=1)
            self.process = None

    # -- the watch -----------------------------------------------------------------------------
    def run(self) -> int:
        fd = os.open(lock_path(self.services_dir, self.name), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return 0  # another keeper keeps this service
        self._lock_fd = fd
        try:
            return self._keep()
        finally:
            self._release_lock()

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def _keep(self) -> int:
        self.port = self._first_port()
        backoff_s = 0.1
        unhealthy_since: float | None = None
        idle_since: float | None = None
        while not self.stop.is_set():
            if self.process is None or self.process.poll() is not None:
                if self.process is not None:
                    self.restarts += 1
                    logger.warning(
                        "%s (pid %d) died with %s; restarting on port %d",
                        self.name,
                        self.process.pid,
                        self.process.returncode,
                        self.port,
                    )
                if not self._start():
                    self.stop.wait(backoff_s)
                    backoff_s = min(backoff_s * 2, RESTART_BACKOFF_S_MAX)
                    continue
                backoff_s = 0.1
                unhealthy_since = None
            now = time.monotonic()
            if healthy(self.name, self.port):
                unhealthy_since = None
            elif unhealthy_since is None:
                unhealthy_since = now
            elif now - unhealthy_since > UNHEALTHY_RESTART_S:
                logger.warning(
                    "%s unhealthy for %.0f s; restarting", self.name, now - unhealthy_since
                )
                self._stop_server()
                continue
            if in_use(self.services_dir, self.name):
                idle_since = None
            elif idle_since is None:
                idle_since = now
            elif now - idle_since > IDLE_GRACE_S and self._leave():
                return 0
            self.stop.wait(WATCH_INTERVAL_S)
        self._stop_server()
        state_path(self.services_dir, self.name).unlink(missing_ok=True)
        return 0

    def _leave(self) -> bool:
        """Stop the server and give up the lock if still nobody uses it (under the registry
        lock, so a user registering now sees either this keeper or a free lock)."""
        with registry(self.services_dir):
            if in_use(self.services_dir, self.name):
                return False
            self._stop_server()
            state_path(self.services_dir, self.name).unlink(missing_ok=True)
            self._release_lock()  # inside the registry's lock
        return True


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[1] not in SERVICE_NAMES:
        print("usage: python -m ppcx.keeper <services dir> <redis|nats>", file=sys.stderr)
        return 2
    services_dir, name = Path(args[0]), args[1]
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    keeper = Keeper(services_dir, name)

    def stop(signum: int, frame: FrameType | None) -> None:
        keeper.stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    return keeper.run()


if __name__ == "__main__":
    raise SystemExit(main())
