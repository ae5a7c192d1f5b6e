"""Readiness and a stopped Redis, with real processes: `/readyz` answers at once whatever is
down and says how far the relay and the projections trail; a request that needs Redis while
it does not answer is a 503 with Retry-After, never a hang or a 500."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from domain.clock import ManualClock
from ppcx.embedded import find_binary, free_loopback_port, redis_ping, server_command, terminate
from ppcx.health import CHECK_TIMEOUT_S
from ppcx.settings import Settings
from ppcx.web import create_app
from tests.api.conftest import ADMIN_KEY, BASE_URL, auth, build_market, project

pytestmark = pytest.mark.e2e
# An upper bound that proves "no hang" (a stopped server used to hold /readyz for 20 s);
# far above the checks' own bound, so a loaded machine does not fail it.
ANSWER_BOUND_S = 10 * CHECK_TIMEOUT_S


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """A redis-server of this test's own (port, pid), to stop and continue at will."""
    port = free_loopback_port()
    binary = find_binary("redis")
    process = subprocess.Popen(
        server_command("redis", binary, port, tmp_path / "redis-services"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not redis_ping("127.0.0.1", port):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        yield port, process.pid
    finally:
        os.kill(process.pid, signal.SIGCONT)
        terminate(process.pid)


@pytest.fixture
def silent_nats() -> Iterator[str]:
    """A port that accepts connections and never says a word (a stopped NATS)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"nats://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for connection in held:
            connection.close()
        server.close()


def test_readyz_answers_at_once_when_redis_and_nats_do_not(
    api_settings: Settings,
    clock: ManualClock,
    own_redis: tuple[int, int],
    silent_nats: str,
) -> None:
    port, pid = own_redis
    settings = api_settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{port}/0", "nats_url": silent_nats}
    )
    with TestClient(
        create_app(settings, clock=clock), base_url=BASE_URL, raise_server_exceptions=False
    ) as client:
        market = build_market(client, bids=("50.00",))
        _, key = market.publisher
        os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            ready = client.get("/readyz")
            assert time.monotonic() - started < ANSWER_BOUND_S
            assert ready.status_code == 503
            checks = ready.json()["checks"]
            assert checks["event_store"] == "ok"
            assert checks["redis"].startswith("error")
            assert checks["nats"].startswith("error")
            refused = market.ping(key)
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"] == "1"
            assert refused.headers["content-type"] == "application/problem+json"
            # an idempotent POST cannot be recognised without Redis: 503 too, not a 500
            retried = client.post(
                "/v1/pings",
                json={"campaign_id": market.campaign_id, "caller": {"number": "+13105550177"}},
                headers={**auth(key), "Idempotency-Key": "k-1"},
            )
            assert retried.status_code == 503, retried.text
        finally:
            os.kill(pid, signal.SIGCONT)
        assert market.ping(key, "+13105550178").json()["accepted"] is True
        ready = client.get("/readyz").json()
        assert ready["checks"]["redis"] == "ok"


def test_readyz_reports_how_far_relay_and_projections_trail(
    client: TestClient, api_settings: Settings
) -> None:
    market = build_market(client)
    _, key = market.publisher
    nothing = client.get("/readyz").json()["lag"]
    assert nothing["projection_events"] is None  # nothing projected yet
    project(api_settings)
    caught_up = client.get("/readyz").json()
    assert caught_up["status"] == "ready"
    lag = caught_up["lag"]
    assert lag["projection_events"] == 0
    assert lag["projection_seconds"] == 0
    assert lag["relay_events"] == lag["head"]  # no relay ran in this test
    assert market.ping(key).json()["accepted"] is True
    behind = client.get("/readyz", headers=auth(ADMIN_KEY)).json()["lag"]
    assert behind["head"] > lag["head"]
    assert behind["projection_events"] == behind["head"] - lag["head"]
    assert behind["projection_seconds"] >= 0
