"""Pure tests: no Redis, NATS or PostgreSQL, no network (`make test-fast` runs them alone).

A test here that asks for a service fixture is refused when it is collected (before any
server starts), and an outbound TCP/IP connection fails the test that opens it. Files under
the test's tmp dir and in-memory or SQLite stores are fine."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
SERVICE_FIXTURES = frozenset(
    {
        "endpoints",
        "settings",
        "redis_client",
        "nats_stream",
        "postgres_database",
        "postgres_settings",
    }
)
NETWORK_FAMILIES = (socket.AF_INET, socket.AF_INET6)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE not in item.path.parents:
            continue
        item.add_marker(pytest.mark.unit)
        used = SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if used:
            raise pytest.UsageError(
                f"{item.nodeid} is a unit test and asks for {', '.join(sorted(used))}: "
                "move it out of tests/unit (or ask for local_settings)"
            )


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every TCP/IP connect fails: a unit test talks to nothing."""
    connect = socket.socket.connect
    connect_ex = socket.socket.connect_ex

    def guarded(sock: socket.socket, address: Any) -> None:
        if sock.family in NETWORK_FAMILIES:
            pytest.fail(f"a unit test connected to {address!r}")
        connect(sock, address)

    def guarded_ex(sock: socket.socket, address: Any) -> int:
        if sock.family in NETWORK_FAMILIES:
            pytest.fail(f"a unit test connected to {address!r}")
        return connect_ex(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_ex)
