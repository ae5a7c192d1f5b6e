"""Faults under steady traffic, with real processes: `ppcx serve` on a data dir of its own,
its own embedded Redis and NATS (kept by their keepers), pings, posts and call events flowing
through its HTTP API while one part is killed, stopped or emptied. After each fault: no cap
or fund limit was exceeded, every acknowledged request is in the log exactly once, the relay
and the projections reach the head, and `replay verify` passes (against the relay's newest
signed checkpoint). What an operator sees meanwhile is printed (`-s`) and in the README."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.support.system import check_answers, check_caught_up, check_log, check_verify
from tools.sim.served import System, Traffic, TrafficMarket, build, served, until

pytestmark = [pytest.mark.e2e, pytest.mark.faults]
CYCLES_AROUND = 30  # traffic cycles before and after each fault (work, not time)


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[System, TrafficMarket]]:
    with served(tmp_path_factory.mktemp("faults")) as found:
        yield found, build(found)


def _under_traffic(
    system: System,
    market: TrafficMarket,
    fault: Callable[[Traffic], None],
    *,
    connection_errors_allowed: bool = False,
) -> Traffic:
    traffic = Traffic(system, market).start()
    try:
        traffic.wait_cycles(CYCLES_AROUND)
        fault(traffic)
        traffic.wait_cycles(CYCLES_AROUND)
        accepted = traffic.statuses.copy()
        traffic.wait_cycles(CYCLES_AROUND)  # and the system answers normally again
        assert traffic.statuses["pings 200"] > accepted["pings 200"]
    finally:
        traffic.stop()
    print(
        f"\n{fault.__name__}: {dict(traffic.statuses)}; dropped {traffic.connection_errors}; "
        f"unanswered for {traffic.unanswered_s:.1f} s"
    )
    check_answers(traffic, connection_errors_allowed=connection_errors_allowed)
    check_caught_up(system)
    check_log(system, traffic, market)
    check_verify(system)
    return traffic


def _signal_service(system: System, name: str, sig: signal.Signals) -> int:
    pid = int(system.service(name)["pid"])
    os.kill(pid, sig)
    return pid


def test_redis_killed(system: tuple[System, TrafficMarket]) -> None:
    served_system, market = system

    def redis_killed(traffic: Traffic) -> None:
        port = served_system.service("redis")["port"]
        killed = _signal_service(served_system, "redis", signal.SIGKILL)
        until(
            lambda: served_system.service("redis")["pid"] != killed,
            "the keeper restarted Redis",
        )
        assert served_system.service("redis")["port"] == port  # where the workers dial

    _under_traffic(served_system, market, redis_killed)


def test_redis_flushed(system: tuple[System, TrafficMarket]) -> None:
    served_system, market = system

    def redis_flushed(traffic: Traffic) -> None:
        client = redis.Redis.from_url(served_system.service("redis")["url"])
        try:
            client.flushall()  # our own embedded server: nothing else lives in it
            until(lambda: bool(client.exists("ppcx:generation")), "the state was rebuilt")
        finally:
            client.close()

    traffic = _under_traffic(served_system, market, redis_flushed)
    assert traffic.statuses["pings 503"] > 0  # refused while the state was missing


def test_nats_killed(system: tuple[System, TrafficMarket]) -> None:
    served_system, market = system

    def nats_killed(traffic: Traffic) -> None:
        killed = _signal_service(served_system, "nats", signal.SIGKILL)
        until(
            lambda: served_system.service("nats")["pid"] != killed,
            "the keeper restarted NATS",
        )

    _under_traffic(served_system, market, nats_killed)


def test_nats_stopped_then_continued(system: tuple[System, TrafficMarket]) -> None:
    served_system, market = system

    def nats_stopped(traffic: Traffic) -> None:
        pid = _signal_service(served_system, "nats", signal.SIGSTOP)
        try:
            traffic.wait_cycles(CYCLES_AROUND)  # pings go on while NATS does not answer
            assert served_system.readyz()["checks"]["nats"].startswith("error")
        finally:
            os.kill(pid, signal.SIGCONT)

    _under_traffic(served_system, market, nats_stopped)


def test_projector_killed(system: tuple[System, TrafficMarket]) -> None:
    served_system, market = system

    def projector_killed(traffic: Traffic) -> None:
        killed = served_system.roles()["projector"]
        os.kill(killed, signal.SIGKILL)
        until(lambda: served_system.roles()["projector"] != killed, "the projector restarted")

    _under_traffic(served_system, market, projector_killed)


def test_api_worker_killed(system: tuple[System, TrafficMarket]) -> None:
    served_system, market = system

    def api_worker_killed(traffic: Traffic) -> None:
        killed = served_system.roles()["api-1"]
        os.kill(killed, signal.SIGKILL)
        until(lambda: served_system.roles()["api-1"] != killed, "the worker restarted")

    # requests in flight on the killed worker are cut: the only fault that drops any
    _under_traffic(served_system, market, api_worker_killed, connection_errors_allowed=True)


def test_the_served_system_left_no_process_behind(
    system: tuple[System, TrafficMarket], tmp_path: Path
) -> None:
    served_system, _ = system
    assert served_system.process.poll() is None
    assert set(served_system.roles()) == {
        "api-1",
        "api-2",
        "relay",
        "projector",
        "sweeper",
        "webhooks",
    }
