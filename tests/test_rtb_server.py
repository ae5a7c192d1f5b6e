"""The simulated bidders themselves (`tools.sim.rtb_server`), on loopback."""

from __future__ import annotations

import logging
import socket

import httpx
import pytest

from tests.support.waiting import wait_until
from tools.sim.rtb_server import Bidder, RtbServer

pytestmark = pytest.mark.integration


def test_a_request_given_up_before_it_was_read_is_no_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """On a loaded machine the exchange's short timeout for a late bidder can fire before the
    bidder has read the request: the bidder counts it (no traceback, as `ppcx demo` printed)
    and goes on answering."""
    server_log = logging.getLogger("uvicorn.error")  # uvicorn's own, which does not propagate
    server_log.addHandler(caplog.handler)
    with RtbServer({"late": Bidder(late=True), "on_time": Bidder(bid="12.00")}) as server:
        with socket.create_connection(("127.0.0.1", server.port)) as given_up:
            given_up.sendall(
                b"POST /bid/late HTTP/1.1\r\nHost: bidder\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                b'{"ping_id": '  # the rest never comes: the client goes away
            )
        wait_until(lambda: server.abandoned == 1, "the bidder saw the request given up")
        answer = httpx.post(server.url("on_time"), json={"ping_id": "p"}, timeout=30)
        assert answer.json() == {"bid": "12.00", "expires_in_s": 60}
        assert [name for name, _ in server.requests] == ["on_time"]
    server_log.removeHandler(caplog.handler)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
