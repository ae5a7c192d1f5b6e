"""The embedded-services runner against the real redis-server and nats-server binaries."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson
import pytest
import redis

from ppcx.services import (
    STOP_TIMEOUT_S,
    ServiceRunner,
    drop_redis_keys,
    find_binary,
    nats_info,
    pid_alive,
    redis_ping,
)
from ppcx.settings import Settings

pytestmark = pytest.mark.integration

STANDARD_PORTS = {6379, 4222}


def _runner(tmp_path: Path) -> ServiceRunner:
    return ServiceRunner(Settings(data_dir=tmp_path / "data", redis_url=None, nats_url=None))


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


# The runner gives a server up to STOP_TIMEOUT_S after SIGTERM (it flushes its files, slowly
# on a busy disk) before it kills it: the tests wait ten times what the runner allows.
DEAD_WAIT_S = 10 * STOP_TIMEOUT_S
PARENT_EXIT_WAIT_S = 10 * 2 * STOP_TIMEOUT_S  # the parent stops two servers in turn


def _wait_dead(pids: list[int], deadline_s: float = DEAD_WAIT_S) -> list[int]:
    """Pids still alive after waiting up to the deadline (an upper bound, not a timing)."""
    end = time.monotonic() + deadline_s
    alive = pids
    while time.monotonic() < end:
        alive = [pid for pid in pids if pid_alive(pid)]
        if not alive:
            return []
        time.sleep(0.05)
    return alive


def test_binaries_come_from_the_wheels() -> None:
    assert find_binary("redis").name == "redis-server"
    assert find_binary("nats").name == "nats-server"


def test_session_starts_real_servers_and_stops_them(tmp_path: Path) -> None:
    runner = _runner(tmp_path)
    with runner.session() as endpoints:
        redis_port, nats_port = _port(endpoints.redis_url), _port(endpoints.nats_url)
        assert {redis_port, nats_port}.isdisjoint(STANDARD_PORTS)
        assert redis_ping("127.0.0.1", redis_port)
        info = nats_info("127.0.0.1", nats_port)
        assert info is not None
        assert info["jetstream"] is True
        pids = [s.pid for s in runner.status() if s.pid is not None]
        assert len(pids) == 2
        assert all(s.kind == "embedded" and s.healthy for s in runner.status())
        services_dir = tmp_path / "data" / "services"
        assert (services_dir / "redis.log").exists()
        assert (services_dir / "nats.pid").exists()
    assert _wait_dead(pids) == []
    assert [s.kind for s in runner.status()] == ["stopped", "stopped"]


def test_up_is_reused_by_up_and_session_and_stopped_by_down(tmp_path: Path) -> None:
    runner = _runner(tmp_path)
    first = runner.up()
    try:
        pids = {s.name: s.pid for s in runner.status()}
        assert runner.up() == first
        with runner.session() as endpoints:
            assert endpoints == first
        # the session reused detached servers, so it must not have stopped them
        assert {s.name: s.pid for s in runner.status()} == pids
        assert all(pid is not None and pid_alive(pid) for pid in pids.values())
    finally:
        stopped = runner.down()
    assert sorted(stopped) == ["nats", "redis"]
    assert _wait_dead([pid for pid in pids.values() if pid is not None]) == []


def test_dead_server_is_replaced_on_next_start(tmp_path: Path) -> None:
    runner = _runner(tmp_path)
    runner.up()
    try:
        redis_pid = next(s.pid for s in runner.status() if s.name == "redis")
        assert redis_pid is not None
        os.kill(redis_pid, signal.SIGKILL)
        assert _wait_dead([redis_pid]) == []
        endpoints = runner.up()
        assert redis_ping("127.0.0.1", _port(endpoints.redis_url))
        assert next(s.pid for s in runner.status() if s.name == "redis") != redis_pid
    finally:
        runner.down()


def test_external_urls_are_used_and_nothing_is_started(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", redis_url="redis://example:1", nats_url="nats://example:2"
    )
    runner = ServiceRunner(settings)
    with runner.session() as endpoints:
        assert endpoints.redis_url == "redis://example:1"
        assert endpoints.nats_url == "nats://example:2"
    assert [s.kind for s in runner.status()] == ["external", "external"]
    assert not (tmp_path / "data" / "services" / "redis.json").exists()


PARENT_SCRIPT = textwrap.dedent(
    """
    import signal, sys, time, orjson
    from pathlib import Path
    from ppcx.services import ServiceRunner
    from ppcx.settings import Settings

    # Ctrl-C as at a terminal, even when the suite runs where SIGINT is ignored (a background
    # job of a non-interactive shell inherits it ignored, and so would this child)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    runner = ServiceRunner(Settings(data_dir=Path(sys.argv[1]), redis_url=None, nats_url=None))
    with runner.session():
        pids = [s.pid for s in runner.status()]
        print(orjson.dumps(pids).decode(), flush=True)
        time.sleep(600)
    """
)


@pytest.mark.parametrize("kill_signal", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_killed_parent_leaves_no_orphan(tmp_path: Path, kill_signal: signal.Signals) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT_SCRIPT, str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        pids = orjson.loads(line)
        assert len(pids) == 2
        assert all(pid_alive(pid) for pid in pids)
        parent.send_signal(kill_signal)
        parent.wait(timeout=PARENT_EXIT_WAIT_S)
        assert _wait_dead(pids) == [], f"orphans left after {kill_signal.name}"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_cli_up_status_down_leaves_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "PPCX_DATA_DIR": str(tmp_path / "data")}
    env.pop("REDIS_URL", None)
    env.pop("NATS_URL", None)
    ppcx = [sys.executable, "-m", "ppcx.cli"]

    def run(*args: str) -> str:
        done = subprocess.run([*ppcx, *args], env=env, capture_output=True, text=True, check=True)
        return done.stdout

    run("services", "up")
    state_dir = tmp_path / "data" / "services"
    pids = [orjson.loads((state_dir / f"{n}.json").read_bytes())["pid"] for n in ("redis", "nats")]
    status = run("services", "status")
    assert status.count("embedded") == 2
    assert "stopped: redis, nats" in run("services", "down")
    assert _wait_dead(pids) == []
    assert "stopped" in run("services", "status")


def test_dropping_a_namespace_leaves_the_others(settings: Settings, unique: str) -> None:
    """What a benchmark run or the demo leaves in a shared Redis is dropped, nothing else."""
    assert settings.redis_url is not None
    client = redis.Redis.from_url(settings.redis_url)
    try:
        ours = [f"{unique}-run:{n}" for n in range(2500)]  # more than one batch
        theirs = f"{unique}-other:kept"
        client.mset({key: b"1" for key in [*ours, theirs]})
        assert drop_redis_keys(settings.redis_url, f"{unique}-run*") == len(ours)
        assert client.exists(*ours) == 0
        assert client.get(theirs) == b"1"
    finally:
        client.delete(theirs)
        client.close()
