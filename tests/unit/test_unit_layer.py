"""The unit layer's own guard: a pure test cannot reach the network."""

from __future__ import annotations

import socket

import pytest


def test_a_tcp_connection_fails_the_test() -> None:
    with pytest.raises(pytest.fail.Exception, match="connected to"):
        socket.create_connection(("127.0.0.1", 9), timeout=1)


def test_a_unix_socket_is_allowed() -> None:
    left, right = socket.socketpair(socket.AF_UNIX)
    try:
        left.sendall(b"x")
        assert right.recv(1) == b"x"
    finally:
        left.close()
        right.close()
