"""Real HTTP bidders on loopback: each path behaves as configured (a bid, no bid, late past
any deadline, an error, malformed JSON) and every request body is recorded.

A bidder whose outcome must not depend on the machine's speed is either on time (no delay,
or a fixed one far inside its deadline) or `late`: it answers only once the server is
stopping, so no deadline, however loaded the machine, ever sees its answer."""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import multiprocessing.process
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from domain.invariant import present
from ppcx.services import die_with_parent

STARTUP_TIMEOUT_S = 10.0


@dataclass
class Bidder:
    """How one bidder answers. `bid` may be a function of the request (the demo's logic).
    `delay_ms` is a fixed answer time; `jitter_ms` adds a random one (benchmarks only: an
    outcome that must repeat cannot depend on it); a `late` bidder holds every request until
    the server stops."""

    bid: str | Callable[[dict[str, Any]], str | None] | None = "50.00"
    delay_ms: int = 0
    jitter_ms: int = 0
    late: bool = False
    status: int = 200
    body: bytes | None = None  # raw body overrides everything (malformed answers)
    expires_in_s: int | None = 60


@dataclass
class RtbServer:
    bidders: dict[str, Bidder] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    abandoned: int = 0  # requests whose client went away before their body was read
    seed: int = 0
    port: int = 0
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loop: asyncio.AbstractEventLoop | None = None
    _stopping: asyncio.Event | None = None  # set when the server stops: late bidders answer

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/bid/{name}"

    async def _handle(self, request: Request) -> Response:
        name = request.path_params["name"]
        try:
            body = await request.body()
        except ClientDisconnect:  # the exchange gave up (its timeout) before we read it
            with self._lock:
                self.abandoned += 1
            return Response(status_code=499)
        payload = orjson.loads(body)
        with self._lock:
            self.requests.append((name, payload))
        bidder = self.bidders.get(name)
        if bidder is None:
            return Response(status_code=404)
        if bidder.late:
            await present(self._stopping, "a late bidder's server is running").wait()
        delay = bidder.delay_ms + (random.randint(0, bidder.jitter_ms) if bidder.jitter_ms else 0)
        if delay:
            await asyncio.sleep(delay / 1000)
        if bidder.body is not None:
            return Response(bidder.body, status_code=bidder.status, media_type="application/json")
        if bidder.status != 200:
            return Response(b'{"error": "nope"}', status_code=bidder.status)
        amount = bidder.bid(payload) if callable(bidder.bid) else bidder.bid
        answer: dict[str, Any] = {"bid": amount}
        if bidder.expires_in_s is not None:
            answer["expires_in_s"] = bidder.expires_in_s
        return Response(orjson.dumps(answer), media_type="application/json")

    def start(self) -> RtbServer:
        app = Starlette(routes=[Route("/bid/{name}", self._handle, methods=["POST"])])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        server = self._server = uvicorn.Server(config)

        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stopping = asyncio.Event()
            await server.serve(sockets=[sock])

        self._thread = threading.Thread(
            target=asyncio.run, args=(serve(),), daemon=True, name=f"rtb-{self.port}"
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the loopback bidder did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)  # late bidders answer now
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=STARTUP_TIMEOUT_S)

    def __enter__(self) -> RtbServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _serve_forever(
    bidders: dict[str, Bidder], parent_pid: int, ready: multiprocessing.connection.Connection
) -> None:
    die_with_parent(parent_pid)
    server = RtbServer(bidders).start()
    ready.send(server.port)
    while True:
        time.sleep(3600)


class RtbProcess:
    """The same bidders in a child process of their own, so that answering them does not
    compete with the exchange for this process's GIL (as remote bidders would not). The
    child dies with its parent, even if the parent is killed."""

    def __init__(self, bidders: dict[str, Bidder]) -> None:
        self.bidders = bidders
        self.port = 0
        self._process: multiprocessing.process.BaseProcess | None = None

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/bid/{name}"

    def __enter__(self) -> RtbProcess:
        context = multiprocessing.get_context("spawn")
        receive, send = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_serve_forever, args=(self.bidders, os.getpid(), send), daemon=True
        )
        self._process.start()
        if not receive.poll(STARTUP_TIMEOUT_S * 3):
            self._process.kill()
            raise RuntimeError("the bidder process did not start")
        self.port = int(receive.recv())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.join(timeout=STARTUP_TIMEOUT_S)
            if self._process.is_alive():
                self._process.kill()
