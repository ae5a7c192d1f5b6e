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
    _await(
        lambda: [s.kind for s in runner.status()] == ["stopped", "stopped"],
        "the keepers did not stop",
    )


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


def _state(tmp_path: Path, name: str) -> dict[str, object]:
    raw: dict[str, object] = orjson.loads(
        (tmp_path / "data" / "services" / f"{name}.json").read_bytes()
    )
    return raw


def _await(condition: object, what: str, deadline_s: float = 30.0) -> None:
    """Wait for `condition()` (a generous bound, not a timing: the test fails with `what`)."""
    end = time.monotonic() + deadline_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < end, what
        time.sleep(0.05)


@pytest.mark.parametrize("name", ["redis", "nats"])
def test_a_killed_server_is_restarted_on_the_same_port(tmp_path: Path, name: str) -> None:
    runner = _runner(tmp_path)
    with runner.session() as endpoints:
        url = endpoints.redis_url if name == "redis" else endpoints.nats_url
        first = _state(tmp_path, name)
        if name == "redis":
            client = redis.Redis.from_url(url)
            client.set("kept", "across the restart")
            client.execute_command("BGREWRITEAOF")  # on disk now, not within the next second
            _await(
                lambda: client.info("persistence")["aof_rewrite_in_progress"] == 0,
                "the AOF rewrite did not finish",
            )
        os.kill(int(first["pid"]), signal.SIGKILL)  # type: ignore[call-overload]

        def restarted() -> bool:
            try:
                state = _state(tmp_path, name)
            except OSError:
                return False
            return state["pid"] != first["pid"] and int(state["restarts"]) >= 1  # type: ignore[call-overload]

        _await(restarted, f"{name} was not restarted")
        again = _state(tmp_path, name)
        assert again["port"] == first["port"]
        assert again["url"] == url
        port = _port(url)
        _await(
            lambda: (
                redis_ping("127.0.0.1", port)
                if name == "redis"
                else bool((nats_info("127.0.0.1", port) or {}).get("jetstream"))
            ),
            f"{name} is not healthy after its restart",
        )
        if name == "redis":
            assert client.get("kept") == b"across the restart"  # same data directory
            client.close()


SHARER_SCRIPT = textwrap.dedent(
    """
    import sys, orjson
    from pathlib import Path
    from ppcx.services import ServiceRunner
    from ppcx.settings import Settings

    runner = ServiceRunner(Settings(data_dir=Path(sys.argv[1]), redis_url=None, nats_url=None))
    with runner.session() as endpoints:
        print(orjson.dumps([endpoints.redis_url, endpoints.nats_url]).decode(), flush=True)
        sys.stdin.readline()  # runs until told to end
    """
)


def _sharer(tmp_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SHARER_SCRIPT, str(tmp_path / "data")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_commands_sharing_a_data_dir_share_its_servers(tmp_path: Path) -> None:
    """Two commands started at once get one server each, not two; the first one ending never
    stops the servers the other uses; the last one ending stops them."""
    first, second = _sharer(tmp_path), _sharer(tmp_path)
    try:
        assert first.stdout is not None
        assert second.stdout is not None
        urls = orjson.loads(first.stdout.readline())
        assert orjson.loads(second.stdout.readline()) == urls
        runner = _runner(tmp_path)
        pids = [s.pid for s in runner.status()]
        assert all(pid is not None and pid_alive(pid) for pid in pids)
        services_dir = tmp_path / "data" / "services"
        assert len(_pgrep(f"ppcx.keeper {services_dir}")) == 2  # one keeper per service
        assert len(_pgrep(f"nats-server.*{services_dir}")) == 1  # one server on the store
        assert len(_redis_in(services_dir / "redis")) == 1  # redis runs in its --dir
        assert first.stdin is not None
        first.stdin.write("end\n")
        first.stdin.flush()
        first.wait(timeout=30)
        time.sleep(keeper_grace_s())  # past the keeper's grace: it must still be serving
        assert [s.pid for s in runner.status()] == pids
        assert redis_ping("127.0.0.1", _port(urls[0]))
        # an operator's `down` does not pull the servers from under a running command
        assert runner.down() == []
        assert redis_ping("127.0.0.1", _port(urls[0]))
        assert second.stdin is not None
        second.stdin.write("end\n")
        second.stdin.flush()
        second.wait(timeout=30)
        assert _wait_dead([pid for pid in pids if pid is not None]) == []
    finally:
        for process in (first, second):
            if process.poll() is None:
                process.kill()
                process.wait()


def _pgrep(pattern: str) -> list[str]:
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True, check=False)
    return found.stdout.split()


def _redis_in(directory: Path) -> list[int]:
    """Processes whose working directory is `directory` (redis-server chdirs to its --dir and
    rewrites its command line)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if Path(os.readlink(proc / "cwd")) == directory:
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def keeper_grace_s() -> float:
    from ppcx.keeper import IDLE_GRACE_S, WATCH_INTERVAL_S

    return IDLE_GRACE_S + 3 * WATCH_INTERVAL_S


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
