"""The deliveries over HTTP: a test event sent now, signed, to a real receiver on loopback and
recorded; the list of a webhook's deliveries (its owner's only); a delivery sent again."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient
from standardwebhooks.webhooks import Webhook as StandardWebhook

from domain.clock import ManualClock
from ppcx.settings import Settings
from ppcx.web import create_app
from tests.api.conftest import ADMIN_KEY, BASE_URL, auth, build_market

pytestmark = pytest.mark.integration


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    status: ClassVar[int] = 200

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        type(self).received.append((dict(self.headers), self.rfile.read(length)))
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"got it")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"received": [], "status": 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def client(settings: Settings, redis_client: object) -> Iterator[TestClient]:
    # near the wall clock: a receiver checks a signature's timestamp against its own
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    api_settings = settings.model_copy(
        update={
            "bootstrap_admin_key": ADMIN_KEY,
            "public_base_url": BASE_URL,
            "webhook_allowed_networks": "127.0.0.0/8",
        }
    )
    with TestClient(
        create_app(api_settings, clock=clock), base_url=BASE_URL, raise_server_exceptions=False
    ) as test_client:
        yield test_client


def _register(client: TestClient, key: str, url: str) -> dict[str, Any]:
    created = client.post(
        "/v1/webhooks", json={"url": url, "events": ["call.billed"]}, headers=auth(key)
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def test_a_test_event_is_signed_sent_now_and_listed(
    client: TestClient, receiver: tuple[str, type[_Receiver]]
) -> None:
    url, handler = receiver
    hook = _register(client, ADMIN_KEY, url)
    sent = client.post(f"/v1/webhooks/{hook['id']}/test", headers=auth(ADMIN_KEY))
    assert sent.status_code == 200, sent.text
    delivery = sent.json()
    assert delivery["state"] == "delivered"
    assert delivery["event"] == "webhook.test"
    assert delivery["last_status"] == 200
    assert delivery["attempts"][0]["response_excerpt"] == "got it"
    assert len(handler.received) == 1
    headers, body = handler.received[0]
    assert StandardWebhook(hook["secret"]).verify(body, headers)["type"] == "webhook.test"
    assert headers["webhook-id"] == delivery["id"]
    listed = client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=auth(ADMIN_KEY))
    assert listed.status_code == 200
    assert [d["id"] for d in listed.json()["items"]] == [delivery["id"]]


def test_a_refused_test_fails_and_is_sent_again_by_hand(
    client: TestClient, receiver: tuple[str, type[_Receiver]]
) -> None:
    url, handler = receiver
    handler.status = 410
    hook = _register(client, ADMIN_KEY, url)
    failed = client.post(f"/v1/webhooks/{hook['id']}/test", headers=auth(ADMIN_KEY)).json()
    assert failed["state"] == "failed"
    assert failed["next_attempt_at"] is None
    again = client.post(
        f"/v1/webhooks/{hook['id']}/deliveries/{failed['id']}/retry", headers=auth(ADMIN_KEY)
    )
    assert again.status_code == 200, again.text
    assert again.json()["state"] == "pending"
    assert again.json()["next_attempt_at"] is not None
    assert len(again.json()["attempts"]) == 1


def test_another_owners_deliveries_are_unknown(
    client: TestClient, receiver: tuple[str, type[_Receiver]]
) -> None:
    market = build_market(client)
    (_, publisher_key) = market.publisher
    buyer_key = next(iter(market.buyers.values()))
    url, _ = receiver
    hook = _register(client, publisher_key, url)
    sent = client.post(f"/v1/webhooks/{hook['id']}/test", headers=auth(publisher_key)).json()
    for path in (f"/v1/webhooks/{hook['id']}/deliveries",):
        assert client.get(path, headers=auth(buyer_key)).status_code == 404
        assert client.get(path, headers=auth(publisher_key)).status_code == 200
    retry = f"/v1/webhooks/{hook['id']}/deliveries/{sent['id']}/retry"
    assert client.post(retry, headers=auth(buyer_key)).status_code == 404
    other = _register(client, publisher_key, url)
    misplaced = f"/v1/webhooks/{other['id']}/deliveries/{sent['id']}/retry"
    assert client.post(misplaced, headers=auth(publisher_key)).status_code == 404
