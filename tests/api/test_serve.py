"""`ppcx serve` as a real process with 2 workers, and `ppcx keys create` from the shell."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from ppcx.cli import app
from ppcx.services import free_loopback_port
from ppcx.settings import Settings
from tests.support.environment import ppcx_env

pytestmark = pytest.mark.e2e


def _until(condition: Callable[[], bool], what: str, log: Path) -> None:
    """Wait for `condition` (bounded: a loaded machine is slow, never this slow)."""
    deadline = time.monotonic() + 120
    while True:
        try:
            if condition():
                return
        except (httpx.HTTPError, KeyError, OSError, ValueError):
            pass
        assert time.monotonic() < deadline, f"{what}\n{log.read_text()[-4000:]}"
        time.sleep(0.2)


def _workers(server_pid: int) -> list[int]:
    """The server's worker processes (its spawned children, not the resource tracker)."""
    found = []
    for pid in Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
            found.append(int(pid))
    return found


def test_keys_create_then_serve_with_two_workers_and_stop(
    settings: Settings, redis_client: object, nats_stream: str
) -> None:
    env = ppcx_env(settings)
    result = CliRunner().invoke(app, ["keys", "create", "--role", "admin"], env=env)
    assert result.exit_code == 0, result.output
    admin_key = result.output.strip().splitlines()[-1]
    assert admin_key.startswith("ppcx_")
    refused = CliRunner().invoke(app, ["keys", "create", "--role", "emperor"], env=env)
    assert refused.exit_code == 2

    port = free_loopback_port()
    log = Path(settings.data_dir) / "serve.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "ppcx"),
                "serve",
                "--port",
                str(port),
                "--workers",
                "2",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()
            try:
                if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        state_file = Path(settings.data_dir) / "serve.json"
        roles = orjson.loads(state_file.read_bytes())["processes"]
        assert set(roles) == {"api-1", "api-2", "relay", "projector", "sweeper", "webhooks"}
        assert sorted(roles.values()) == sorted(_workers(server.pid))
        # any role that dies is replaced: an API worker, the relay, the projector
        for name in ("api-1", "relay", "projector"):
            os.kill(roles[name], signal.SIGKILL)
            _until(
                lambda name=name: (
                    orjson.loads(state_file.read_bytes())["processes"][name]
                    not in (roles[name], None)
                    and len(_workers(server.pid)) == 6
                ),
                f"{name} was not replaced",
                log,
            )
        headers = {"Authorization": f"Bearer {admin_key}"}
        created = httpx.post(base + "/v1/publishers", json={"name": "Acme"}, headers=headers)
        assert created.status_code == 201, created.text
        assert (
            httpx.get(base + "/v1/calls", headers={"Authorization": "Bearer nope"}).status_code
            == 401
        )
        # reading routes need no other command: the projector runs under serve
        _until(
            lambda: httpx.get(base + "/readyz").json()["lag"]["projection_events"] == 0,
            "the projector did not reach the head",
            log,
        )
        listed = httpx.get(base + "/v1/calls", headers=headers)
        assert listed.status_code == 200, listed.text
        _until(
            lambda: httpx.get(base + "/readyz").json()["lag"]["relay_events"] == 0,
            "the relay did not reach the head",
            log,
        )
        # one scrape answers for both API workers
        for _ in range(20):
            httpx.get(base + "/healthz", headers={"Connection": "close"})
        metrics = httpx.get(base + "/metrics").text
        starts = [
            line for line in metrics.splitlines() if line.startswith("ppcx_process_start_time")
        ]
        assert len(starts) == 2, starts  # one per API worker process, each by its pid
        assert "ppcx_projection_lag_events 0.0" in metrics
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        code = server.wait(timeout=30)
    assert code == 0, log.read_text()
    assert not state_file.exists()
    assert _workers(server.pid) == [] if Path(f"/proc/{server.pid}").exists() else True
