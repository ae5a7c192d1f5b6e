"""The cluster tests' fixtures: a NATS cluster of this test's own (three `nats-server`s on
loopback, `tools.cluster.nats_cluster`), and a test's market on its event store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.cluster.nats_cluster import NatsCluster


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    """Three JetStream nodes routed to each other, formed (a meta leader elected); stopped
    (no process left) after the test."""
    with NatsCluster(tmp_path / "nats-cluster") as cluster:
        yield cluster
