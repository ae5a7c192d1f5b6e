"""Two PPCX hosts on one PostgreSQL store under steady traffic through both HTTP APIs; one
host's whole process group is SIGKILLed mid-traffic. The other keeps answering; afterwards
every acknowledged request (each 2xx ping, post, completion, through either host) is in the log
exactly once, no cap or fund limit was exceeded, the ids are contiguous (no append spent one
and rolled back), the relay and both hosts' projections reach the head, and `replay verify`
passes against the relay's signed checkpoint — appends from two hosts were ordered by the
store's own lock (PostgreSQL's EXCLUSIVE table lock), never by SQLite's per-machine lock file.

Every host runs every role; the relay and the webhook worker act on one host at a time (a
PostgreSQL advisory lock). The host killed is the one whose relay leads: the other's relay
takes over, so the projections and the checkpoint still reach the head."""

from __future__ import annotations

import pytest

from ppcx.bootstrap import build_application
from tests.support.system import check_answers, check_log
from tools.cluster.hosts import START_BOUND_S, Hosts, wait_all_caught_up
from tools.sim.served import Traffic, build, until

pytestmark = [pytest.mark.integration, pytest.mark.cluster]
CYCLES_AROUND = 25  # traffic cycles (per host) before, during and after the fault


def _contiguous_ids(rig: Hosts) -> tuple[int, int]:
    """(events, head) of the shared store: equal when no notification id is missing."""
    app = build_application(rig.hosts[0].settings())
    try:
        events, start = 0, 1
        while rows := app.store.read_chained(start, 5000):
            events += sum(1 for row in rows if row[3] is not None)
            start = rows[-1][0] + 1
        return events, app.store.head()
    finally:
        app.close()


def test_a_host_killed_under_traffic_loses_no_acknowledged_request(two_hosts: Hosts) -> None:
    rig = two_hosts
    until(lambda: rig.leader_of("relay") is not None, "a host's relay leads", START_BOUND_S)
    victim = rig.leader_of("relay")
    assert victim is not None
    survivor_n = 1 - victim
    survivor = rig.hosts[survivor_n]
    market = build(survivor)
    traffics = [Traffic(host, market).start() for host in rig.hosts]
    try:
        for traffic in traffics:
            traffic.wait_cycles(CYCLES_AROUND)
        rig.kill(victim)
        before = traffics[survivor_n].statuses["pings 200"]
        traffics[survivor_n].wait_cycles(CYCLES_AROUND)  # it answers while its peer is gone
        assert traffics[survivor_n].statuses["pings 200"] > before
        until(lambda: rig.leader_of("relay") == survivor_n, "the relay taken over", START_BOUND_S)
        rig.start(victim)  # same port, same data dir: its traffic goes on
        accepted = traffics[victim].statuses["pings 200"]
        traffics[victim].wait_cycles(CYCLES_AROUND)
        assert traffics[victim].statuses["pings 200"] > accepted
    finally:
        for traffic in traffics:
            traffic.stop()
    print(
        f"\nhost {victim} (the relay's leader) killed: "
        + "; ".join(
            f"host {n}: {dict(t.statuses)}, dropped {t.connection_errors}, "
            f"unanswered for {t.unanswered_s:.1f} s"
            for n, t in enumerate(traffics)
        )
    )
    check_answers(traffics[survivor_n])  # no 5xx, no dropped connection
    check_answers(traffics[victim], connection_errors_allowed=True)  # cut with its host
    assert traffics[victim].connection_errors > 0  # the kill did cut the victim's traffic
    wait_all_caught_up(rig)
    for traffic in traffics:
        check_log(survivor, traffic, market)
    events, head = _contiguous_ids(rig)
    assert events == head > 0
    verified = rig.ppcx("replay", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "checked against the checkpoint from" in verified.stdout, verified.stdout
