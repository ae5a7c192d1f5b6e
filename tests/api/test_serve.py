"""`ppcx serve` as a real process with 2 workers, and `ppcx keys create` from the shell."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from ppcx.cli import app
from ppcx.services import free_loopback_port
from ppcx.settings import Settings

pytestmark = pytest.mark.e2e


def _env(settings: Settings) -> dict[str, str]:
    assert settings.redis_url is not None
    assert settings.nats_url is not None
    env = {
        **os.environ,
        "PPCX_DATA_DIR": str(settings.data_dir),
        "REDIS_URL": settings.redis_url,
        "NATS_URL": settings.nats_url,
        "PPCX_REDIS_PREFIX": settings.redis_prefix,
        "SQLITE_DBNAME": str(settings.sqlite_dbname),
        "PPCX_SECRET_KEY": str(settings.secret_key),
        "PPCX_AUDIT_KEY": str(settings.audit_key),
    }
    env.pop("PPCX_BOOTSTRAP_ADMIN_KEY", None)
    return env


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
    settings: Settings, redis_client: object
) -> None:
    env = _env(settings)
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
        # two workers, each on its own socket; one that dies is replaced
        workers = _workers(server.pid)
        assert len(workers) == 2, workers
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while True:
            now_serving = _workers(server.pid)
            if len(now_serving) == 2 and workers[0] not in now_serving:
                break
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        headers = {"Authorization": f"Bearer {admin_key}"}
        created = httpx.post(base + "/v1/publishers", json={"name": "Acme"}, headers=headers)
        assert created.status_code == 201, created.text
        assert (
            httpx.get(base + "/v1/calls", headers={"Authorization": "Bearer nope"}).status_code
            == 401
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        code = server.wait(timeout=30)
    assert code == 0, log.read_text()
    assert "Traceback" not in log.read_text()
