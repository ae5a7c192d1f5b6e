"""API worker sockets: each uvicorn server listens on a socket of its own bound with
SO_REUSEPORT, so the kernel spreads new connections over them.

uvicorn's own workers share one listening socket, and whichever process is waiting in
`accept` first takes the connection: a handful of keep-alive clients (a load balancer's
pool, a busy publisher, the benchmark) all land on one worker while the other idles. The
processes are supervised by `ppcx.supervisor` (a dead one is replaced; SIGTERM or SIGINT stops
them all, each finishing its requests)."""

from __future__ import annotations

import logging
import socket
from typing import Any

import uvicorn

from domain.invariant import invariant
from ppcx.logs import configure_logging
from ppcx.supervisor import ProcessSpec, Supervisor

logger = logging.getLogger(__name__)
LISTEN_BACKLOG = 2048


class PortUnavailable(RuntimeError):
    pass


def reuse_port_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _bare_worker(app_ref: str, host: str, port: int, uvicorn_options: dict[str, Any]) -> None:
    configure_logging()
    sock = reuse_port_socket(host, port)
    sock.listen(LISTEN_BACKLOG)
    config = uvicorn.Config(app_ref, factory=True, host=host, port=port, **uvicorn_options)
    uvicorn.Server(config).run(sockets=[sock])


def check_port(host: str, port: int) -> None:
    """Fail here, clearly, if the port is taken by a process that does not share it."""
    try:
        reuse_port_socket(host, port).close()
    except OSError as error:
        raise PortUnavailable(f"cannot listen on {host}:{port}: {error.strerror}") from None


def run_workers(
    app_ref: str, host: str, port: int, workers: int, uvicorn_options: dict[str, Any]
) -> int:
    """`workers` uvicorn servers of the app factory `app_ref`, supervised until SIGTERM or
    SIGINT → exit code (the benchmark's bare baseline is served this way, like the API)."""
    invariant(workers >= 1, "at least one worker")
    check_port(host, port)
    specs = [
        ProcessSpec(f"worker-{n + 1}", _bare_worker, (app_ref, host, port, uvicorn_options))
        for n in range(workers)
    ]
    logger.info("serving on http://%s:%d with %d workers (SO_REUSEPORT)", host, port, workers)
    return Supervisor(specs).run()
