"""A Redis Cluster on loopback from the `redis-server` the project ships: three masters with a
replica each, every node in a directory of its own, formed with plain cluster commands (no
`redis-cli`), and gone when `stop()` runs or this process dies (the nodes die with it).

    with RedisClusterRig(tmp_path) as rig:
        url = rig.url                      # any node; clients discover the rest
        rig.kill_master_of("ppcx:{m:a}:cfg")  # SIGKILL, then its replica is promoted
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import redis
from redis.crc import key_slot

from ppcx.embedded import dies_with_parent, find_binary, port_free, redis_ping

SLOTS = 16384
MASTERS = 3
NODE_TIMEOUT_MS = 1500  # how long a silent master lasts before its replica takes over
READY_TIMEOUT_S = 60.0
FAILOVER_TIMEOUT_S = 60.0
HOST = "127.0.0.1"
BUS_OFFSET = 10_000  # a node's cluster bus listens on its port + 10000 (so ports < 55536)
PORTS = (20_000, 45_000)


class ClusterRigError(RuntimeError):
    """The cluster did not form, or did not heal, in time."""


def _free_port_pair() -> int:
    """A loopback port that is free with its cluster bus port (port + 10000)."""
    rng = random.SystemRandom()
    for _ in range(1000):
        port = rng.randrange(*PORTS)
        if port_free(port) and port_free(port + BUS_OFFSET):
            return port
    raise ClusterRigError("no free loopback port pair for a Redis Cluster node")


@dataclass
class Node:
    port: int
    directory: Path
    process: subprocess.Popen[bytes]
    node_id: str = ""

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def client(self) -> redis.Redis:
        return redis.Redis(
            host=HOST, port=self.port, socket_timeout=2.0, socket_connect_timeout=1.0
        )

    def ask(self, *command: object) -> object:
        with self.client() as client:
            return client.execute_command(*command)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _until(condition: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if condition():  # type: ignore[operator]
                return
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise ClusterRigError(f"the Redis Cluster: {what} not within {timeout_s:.0f} s")
        time.sleep(0.05)


@dataclass
class RedisClusterRig:
    """Three masters and three replicas on loopback ports under `root`."""

    root: Path
    node_timeout_ms: int = NODE_TIMEOUT_MS
    nodes: list[Node] = field(default_factory=list)

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> RedisClusterRig:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        try:
            for index in range(MASTERS * 2):
                self.nodes.append(self._spawn(index))
            self._form()
        except BaseException:
            self.stop()
            raise

    def _spawn(self, index: int) -> Node:
        binary = find_binary("redis")
        port = _free_port_pair()
        directory = self.root / f"redis-node-{index}"
        directory.mkdir(parents=True, exist_ok=True)
        command = [
            str(binary),
            "--bind", HOST,
            "--port", str(port),
            "--dir", str(directory),
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(self.node_timeout_ms),
            "--cluster-replica-validity-factor", "0",  # a replica may always take over
            "--cluster-require-full-coverage", "no",  # the other masters go on serving
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--logfile", str(directory / "redis.log"),
        ]  # fmt: skip
        process = subprocess.Popen(  # noqa: S603 - our own binary, loopback only
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=dies_with_parent(os.getpid()),  # noqa: PLW1509 - the point
        )
        node = Node(port, directory, process)

        def up() -> bool:
            if not node.alive:
                log = (directory / "redis.log").read_text(errors="replace")[-2000:]
                raise ClusterRigError(f"redis-server on :{port} exited:\n{log}")
            return redis_ping(HOST, port)

        _until(up, READY_TIMEOUT_S, f"node :{port} up")
        node.node_id = _text(node.ask("CLUSTER", "MYID"))
        return node

    def _form(self) -> None:
        masters, replicas = self.nodes[:MASTERS], self.nodes[MASTERS:]
        per_master = SLOTS // MASTERS
        for index, master in enumerate(masters):
            first = index * per_master
            last = SLOTS - 1 if index == MASTERS - 1 else first + per_master - 1
            master.ask("CLUSTER", "SET-CONFIG-EPOCH", index + 1)
            master.ask("CLUSTER", "ADDSLOTS", *range(first, last + 1))
        for node in self.nodes[1:]:
            self.nodes[0].ask("CLUSTER", "MEET", HOST, node.port)
        _until(lambda: all(self._knows_everyone(n) for n in self.nodes), READY_TIMEOUT_S, "meet")
        for master, replica in zip(masters, replicas, strict=True):
            replica.ask("CLUSTER", "REPLICATE", master.node_id)
        _until(self.healthy, READY_TIMEOUT_S, "state ok with synced replicas")

    def _knows_everyone(self, node: Node) -> bool:
        lines = _text(node.ask("CLUSTER", "NODES")).strip().splitlines()
        return len(lines) == len(self.nodes) and not any("handshake" in ln for ln in lines)

    def stop(self) -> None:
        """Kill every node (SIGKILL: nothing of theirs is kept) and reap it."""
        for node in self.nodes:
            if node.alive:
                node.process.send_signal(signal.SIGKILL)
        for node in self.nodes:
            node.process.wait(timeout=30)

    # -- what a test asks --------------------------------------------------------------------
    @property
    def url(self) -> str:
        """A live master's URL: a cluster client's startup node."""
        return f"redis://{HOST}:{self.live_masters()[0].port}"

    @property
    def urls(self) -> list[str]:
        return [f"redis://{HOST}:{n.port}" for n in self.nodes if n.alive]

    def _slot_owners(self) -> dict[int, Node]:
        """Slot → the live node that serves it, as a live node sees the cluster."""
        by_port = {n.port: n for n in self.nodes}
        for node in self.nodes:
            if not node.alive:
                continue
            try:
                ranges = node.ask("CLUSTER", "SLOTS")
            except redis.RedisError:
                continue
            owners: dict[int, Node] = {}
            for entry in ranges:  # type: ignore[attr-defined]
                first, last, master = int(entry[0]), int(entry[1]), entry[2]
                owner = by_port.get(int(master[1]))
                if owner is not None:
                    for slot in range(first, last + 1):
                        owners[slot] = owner
            return owners
        raise ClusterRigError("no node of the Redis Cluster answers")

    def master_for(self, key: str) -> Node:
        """The node serving `key`'s hash slot now."""
        return self._slot_owners()[key_slot(key.encode())]

    def live_masters(self) -> list[Node]:
        return [n for n in self.nodes if n.alive and self._role(n) == "master"]

    @staticmethod
    def _role(node: Node) -> str:
        with node.client() as client:
            return str(client.info("replication")["role"])

    def healthy(self) -> bool:
        """Every live node says `cluster_state:ok`, every slot has a live master and every
        live master's replica (when it has one alive) is in sync."""
        live = [n for n in self.nodes if n.alive]
        for node in live:
            if "cluster_state:ok" not in _text(node.ask("CLUSTER", "INFO")):
                return False
        owners = self._slot_owners()
        if len(owners) != SLOTS or not all(n.alive for n in owners.values()):
            return False
        for node in live:
            with node.client() as client:
                info = client.info("replication")
            if info["role"] == "slave" and info.get("master_link_status") != "up":
                return False
        return True

    def replica_of(self, master: Node) -> Node:
        """The live replica that follows `master`."""
        for node in self.nodes:
            if node is master or not node.alive:
                continue
            with node.client() as client:
                info = client.info("replication")
            if info["role"] == "slave" and int(info["master_port"]) == master.port:
                return node
        raise ClusterRigError(f"no live replica follows the master on port {master.port}")

    def kill_master_of(self, key: str) -> tuple[Node, Node]:
        """SIGKILL the master serving `key`, wait until its replica serves the slot and the
        cluster is healthy again → (the killed node, the promoted one)."""
        slot = key_slot(key.encode())
        victim = self.master_for(key)
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(timeout=30)

        def promoted() -> bool:
            owner = self._slot_owners().get(slot)
            return owner is not None and owner is not victim and owner.alive and self.healthy()

        _until(promoted, FAILOVER_TIMEOUT_S, f"a replica serving slot {slot}")
        return victim, self._slot_owners()[slot]
