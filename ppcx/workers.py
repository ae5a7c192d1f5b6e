"""`ppcx serve --workers N`: N uvicorn servers, each listening on a socket of its own bound
with SO_REUSEPORT, so the kernel spreads new connections over them.

uvicorn's own workers share one listening socket, and whichever process is waiting in
`accept` first takes the connection: a handful of keep-alive clients (a load balancer's
pool, a busy publisher, the benchmark) all land on one worker while the other idles. A worker
that dies is replaced; SIGTERM or SIGINT stops them all (each finishes its requests)."""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
import time
from collections.abc import Callable
from multiprocessing.context import SpawnProcess
from types import FrameType
from typing import Any

import uvicorn

from domain.invariant import invariant
from ppcx.commands.common import configure_logging

logger = logging.getLogger(__name__)
LISTEN_BACKLOG = 2048
STOP_GRACE_S = 20.0
RESTARTS_MAX = 5  # a worker that keeps dying at start-up is a configuration error, not bad luck
QUICK_DEATH_S = 10.0
WATCH_INTERVAL_S = 0.5


class PortUnavailable(RuntimeError):
    pass


def reuse_port_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _worker(app_ref: str, host: str, port: int, uvicorn_options: dict[str, Any]) -> None:
    configure_logging()
    sock = reuse_port_socket(host, port)
    sock.listen(LISTEN_BACKLOG)
    config = uvicorn.Config(app_ref, factory=True, host=host, port=port, **uvicorn_options)
    uvicorn.Server(config).run(sockets=[sock])


def run_workers(
    app_ref: str, host: str, port: int, workers: int, uvicorn_options: dict[str, Any]
) -> int:
    """Serve until SIGTERM/SIGINT → exit code (1 when workers kept dying at start-up)."""
    invariant(workers >= 1, "at least one worker")
    try:  # fail here, clearly, if the port is taken by a process that does not share it
        reuse_port_socket(host, port).close()
    except OSError as error:
        raise PortUnavailable(f"cannot listen on {host}:{port}: {error.strerror}") from None
    context = multiprocessing.get_context("spawn")

    def start() -> tuple[SpawnProcess, float]:
        process = context.Process(
            target=_worker, args=(app_ref, host, port, uvicorn_options), name="ppcx-api"
        )
        process.start()
        return process, time.monotonic()

    stop = threading.Event()
    previous = {sig: signal.signal(sig, _setter(stop)) for sig in (signal.SIGTERM, signal.SIGINT)}
    running = [start() for _ in range(workers)]
    logger.info("serving on http://%s:%d with %d workers (SO_REUSEPORT)", host, port, workers)
    quick_deaths = 0
    code = 0
    try:
        while not stop.wait(WATCH_INTERVAL_S):
            for n, (process, started) in enumerate(running):
                if process.is_alive():
                    continue
                quick_deaths += time.monotonic() - started < QUICK_DEATH_S
                if quick_deaths > RESTARTS_MAX:
                    logger.error("workers keep dying at start-up; stopping (see above)")
                    code = 1
                    stop.set()
                    break
                logger.warning(
                    "worker %s exited with %s; starting another", process.pid, process.exitcode
                )
                running[n] = start()
    finally:
        for process, _ in running:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes what it is serving
        deadline = time.monotonic() + STOP_GRACE_S
        for process, _ in running:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code


def _setter(stop: threading.Event) -> Callable[[int, FrameType | None], None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    return handler
