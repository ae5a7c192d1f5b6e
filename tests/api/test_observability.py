"""Request ids, the request counter, auctions counted on every channel, and JSON logs, through
the real app over real Redis, NATS and SQLite."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient

from domain.clock import ManualClock
from ppcx.logs import configure_logging
from ppcx.settings import Settings
from ppcx.web import create_app
from tests.api.conftest import ADMIN_KEY, BASE_URL, auth, build_market
from tests.api.test_telephony import _dial_of, _twilio_post

pytestmark = pytest.mark.e2e
TIME_MS_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def _sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition (0 when absent)."""
    for line in metrics.splitlines():
        if not line.startswith(name + "{"):
            continue
        labels_text, value = line[len(name) + 1 :].rsplit("} ", 1)
        found = dict(re.findall(r'(\w+)="([^"]*)"', labels_text))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    return 0.0


def test_every_answer_carries_a_request_id_and_problems_name_it(client: TestClient) -> None:
    generated = client.get("/v1/calls/call_0", headers=auth(ADMIN_KEY))
    assert generated.status_code == 404
    request_id = generated.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert generated.json()["request_id"] == request_id
    given = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.42"})
    assert given.headers["x-request-id"] == "lb-7f3a.42"
    # a header that is not a sane token is not echoed into logs or bodies: a new id is made
    hostile = client.get(
        "/v1/calls/call_0", headers={**auth(ADMIN_KEY), "X-Request-ID": 'x"\n{"level":"bad"'}
    )
    assert hostile.headers["x-request-id"] != 'x"\n{"level":"bad"'
    assert hostile.json()["request_id"] == hostile.headers["x-request-id"]
    unauthorized = client.get("/v1/calls")
    assert unauthorized.json()["request_id"] == unauthorized.headers["x-request-id"]


def test_requests_and_auctions_are_counted_on_every_channel(client: TestClient) -> None:
    market = build_market(client)
    _, key = market.publisher
    before = client.get("/metrics").text
    assert market.ping(key).json()["accepted"] is True
    client.get("/v1/calls/call_0", headers=auth(ADMIN_KEY))
    market.tracking_number("+18005550190", source="tv")
    _dial_of(
        _twilio_post(
            client,
            "/v1/voice/inbound",
            {"CallSid": "CA-OBS", "From": "+13105550188", "To": "+18005550190"},
        )
    )
    after = client.get("/metrics").text
    for channel in ("api", "twilio"):
        grown = _sample(
            after, "ppcx_auctions_total", channel=channel, outcome="accepted"
        ) - _sample(before, "ppcx_auctions_total", channel=channel, outcome="accepted")
        assert grown == 1, channel
    not_found = _sample(
        after,
        "ppcx_http_requests_total",
        method="GET",
        route="/v1/calls/{call_id}",
        status="404",
    )
    assert not_found >= 1
    posted_pings = _sample(
        after, "ppcx_http_requests_total", method="POST", route="/v1/pings", status="200"
    )
    assert posted_pings >= 1
    assert _sample(after, "ppcx_process_start_time_seconds", role="api") > 0


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(stream=stream)
    try:
        yield stream
    finally:
        logging.getLogger().handlers[:] = []


@pytest.fixture
def logged_client(
    api_settings: Settings, clock: ManualClock, redis_client: object, log: io.StringIO
) -> Iterator[TestClient]:
    settings = api_settings.model_copy(update={"access_log": True})
    with TestClient(
        create_app(settings, clock=clock), base_url=BASE_URL, raise_server_exceptions=False
    ) as test_client:
        yield test_client


def test_logs_are_json_lines_with_utc_milliseconds_and_the_request_id(
    logged_client: TestClient, log: io.StringIO
) -> None:
    answer = logged_client.get("/v1/rtb/cmp_x.json", params={"api_key": "ppcx_secret_never_logged"})
    request_id = answer.headers["x-request-id"]
    lines = [orjson.loads(line) for line in log.getvalue().splitlines() if line]
    access = [line for line in lines if line.get("event") == "request"]
    assert access, lines
    entry = access[-1]
    assert entry["request_id"] == request_id
    assert TIME_MS_UTC.fullmatch(entry["time"])
    assert entry["path"] == "/v1/rtb/cmp_x.json"
    assert entry["status"] == answer.status_code
    assert entry["level"] == "info"
    everything = "\n".join(orjson.dumps(line).decode() for line in lines)
    assert "ppcx_secret_never_logged" not in everything
