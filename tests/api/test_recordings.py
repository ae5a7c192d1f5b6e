"""Call recordings and the whisper through HTTP (issue 24, items 1 and 3): a Twilio journey
against the real app — signed webhooks, the disclosure said before a recording `<Dial>`, the
whisper route, the recording-status callback, the fetch from a loopback server playing
Twilio's API (a WAV spoken by espeak-ng), the `CallRecorded` hash, range requests, tenancy,
retention, deletion, and `ppcx replay verify` failing once a stored byte changes."""

from __future__ import annotations

import base64
import hashlib
import io
import subprocess
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from fastapi.testclient import TestClient
from rich.console import Console

from domain.clock import ManualClock
from ppcx.commands.replay import verify_log
from ppcx.services import drop_redis_keys
from ppcx.settings import Settings
from ppcx.web import create_app
from tests.api.conftest import ADMIN_KEY, BASE_URL, Market, auth, build_market, project
from tests.api.test_telephony import sign

pytestmark = pytest.mark.e2e
ACCOUNT_SID = "AC" + "0" * 32
RECORDING_SID = "RE" + "5" * 32
DISCLOSURE = "This call is recorded for quality and compliance."
WHISPER = "Call from PPCX: legal, California, qualified"


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A short WAV file spoken by Debian's espeak-ng."""
    path = tmp_path_factory.mktemp("audio") / "call.wav"
    subprocess.run(
        ["espeak-ng", "-w", str(path), "Hello, I was in a car accident in Los Angeles."],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return path.read_bytes()


@dataclass
class FakeTwilio:
    """A loopback HTTP server playing Twilio's REST API: it serves the recording's media to
    the account's basic auth, and remembers every request."""

    media: bytes
    token: str
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    failures_first: int = 0  # answer 503 this many times first
    url: str = ""

    def handler(self) -> type[BaseHTTPRequestHandler]:
        twilio = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                twilio.requests.append((self.path, self.headers.get("Authorization")))
                expected = (
                    "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{twilio.token}".encode()).decode()
                )
                if self.headers.get("Authorization") != expected:
                    self._answer(401, b'{"code": 20003}', "application/json")
                elif twilio.failures_first > 0:
                    twilio.failures_first -= 1
                    self._answer(503, b"busy", "text/plain")
                elif (
                    self.path
                    == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{RECORDING_SID}.wav"
                ):
                    self._answer(200, twilio.media, "audio/x-wav")
                else:
                    self._answer(404, b'{"code": 20404}', "application/json")

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        return Handler


@pytest.fixture
def fake_twilio(wav: bytes, api_settings: Settings) -> Iterator[FakeTwilio]:
    twilio = FakeTwilio(wav, str(api_settings.twilio_auth_token))
    server = ThreadingHTTPServer(("127.0.0.1", 0), twilio.handler())
    thread = threading.Thread(target=server.serve_forever, name="fake-twilio", daemon=True)
    thread.start()
    twilio.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield twilio
    finally:
        server.shutdown()
        thread.join(timeout=30)
        server.server_close()


@pytest.fixture
def rec_settings(api_settings: Settings, fake_twilio: FakeTwilio) -> Settings:
    return api_settings.model_copy(
        update={"twilio_account_sid": ACCOUNT_SID, "twilio_api_base": fake_twilio.url}
    )


@pytest.fixture
def rec_client(
    rec_settings: Settings, clock: ManualClock, redis_client: object
) -> Iterator[TestClient]:
    """The app without its background sweep: the test drives the recordings worker through
    `POST /v1/ops/sweep`, so nothing is fetched behind its back."""
    app = create_app(rec_settings, clock=clock, background_sweep=False)
    with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
        yield client


def _twilio_post(client: TestClient, url: str, params: dict[str, str]) -> Any:
    split = urlsplit(url)
    path = f"{split.path}?{split.query}" if split.query else split.path
    return client.post(
        path, data=params, headers={"X-Twilio-Signature": sign(BASE_URL + path, params)}
    )


@dataclass
class Journey:
    market: Market
    call_id: str
    winner_key: str
    loser_key: str
    publisher_key: str
    other_publisher_key: str
    recording_url: str


def _sweep(client: TestClient) -> dict[str, Any]:
    answer = client.post("/v1/ops/sweep", headers=auth(ADMIN_KEY))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _winning_target(market: Market) -> tuple[str, str]:
    """(target id, buyer id) of the target dialled first (+13105550200, the 50.00 bid)."""
    for target_id, buyer_id in market.targets.items():
        if market.admin("GET", f"/v1/targets/{target_id}")["destination"] == "+13105550200":
            return target_id, buyer_id
    raise AssertionError("no winning target")


def _call_recorded_twilio_journey(client: TestClient, *, publisher_access: bool = False) -> Journey:
    market = build_market(client)
    publisher_id, publisher_key = market.publisher
    market.tracking_number("+18005550100", source="tv")
    changed = market.admin(
        "PATCH",
        f"/v1/campaigns/{market.campaign_id}",
        json={
            "recording": {
                "enabled": True,
                "disclosure": DISCLOSURE,
                "retention_days": 30,
                "publisher_access": publisher_access,
            }
        },
    )
    assert changed["recording"] == {
        "enabled": True,
        "disclosure": DISCLOSURE,
        "retention_days": 30,
        "publisher_access": publisher_access,
    }
    target_id, winner_id = _winning_target(market)
    winner_key = market.buyers[winner_id]
    patched = client.patch(
        f"/v1/targets/{target_id}", json={"whisper": WHISPER}, headers=auth(winner_key)
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["whisper"] == WHISPER
    # the caller: the disclosure, then a recording dial whose number whispers
    inbound = _twilio_post(
        client,
        "/v1/voice/inbound",
        {"CallSid": "CA9001", "From": "+13105550123", "To": "+18005550100", "FromState": "CA"},
    )
    assert inbound.status_code == 200, inbound.text
    root = ET.fromstring(inbound.text)
    assert [child.tag for child in root] == ["Say", "Dial"]
    assert root.findtext("Say") == DISCLOSURE
    verb = root.find("Dial")
    assert verb is not None
    assert verb.get("record") == "record-from-answer-dual"
    assert verb.get("recordingStatusCallbackEvent") == "completed"
    recording_url = str(verb.get("recordingStatusCallback"))
    number = verb.find("Number")
    assert number is not None
    assert number.text == "+13105550200"
    whisper_url = str(number.get("url"))
    call_id = parse_qs(urlsplit(str(verb.get("action"))).query)["call_id"][0]
    assert urlsplit(whisper_url).path == "/v1/voice/whisper"
    assert parse_qs(urlsplit(recording_url).query) == {"call_id": [call_id]}
    # the buyer's agent picks up: Twilio plays the whisper first
    whispered = _twilio_post(
        client, whisper_url, {"CallSid": "CA9002", "CallStatus": "in-progress"}
    )
    assert whispered.status_code == 200, whispered.text
    assert [c.tag for c in ET.fromstring(whispered.text)] == ["Say"]
    assert ET.fromstring(whispered.text).findtext("Say") == WHISPER
    # the dial completes (billed), then Twilio reports the recording
    done = _twilio_post(
        client,
        str(verb.get("action")),
        {"CallSid": "CA9001", "DialCallStatus": "completed", "DialCallDuration": "95"},
    )
    assert done.status_code == 200, done.text
    loser_id = next(b for b in market.buyers if b != winner_id)
    other_publisher_key = next(k for p, k in market.publishers.items() if p != publisher_id)
    return Journey(
        market,
        call_id,
        winner_key,
        market.buyers[loser_id],
        publisher_key,
        other_publisher_key,
        recording_url,
    )


def _report_recording(client: TestClient, journey: Journey) -> Any:
    return _twilio_post(
        client,
        journey.recording_url,
        {
            "CallSid": "CA9001",
            "RecordingSid": RECORDING_SID,
            # never fetched: PPCX builds the URL from its configured API base and the SID
            "RecordingUrl": "http://169.254.169.254/latest/meta-data",
            "RecordingStatus": "completed",
            "RecordingDuration": "12",
            "RecordingChannels": "2",
        },
    )


def _timeline(client: TestClient, call_id: str, key: str) -> list[dict[str, Any]]:
    answer = client.get(f"/v1/calls/{call_id}", headers=auth(key))
    assert answer.status_code == 200, answer.text
    return list(answer.json()["events"])


def _verify(settings: Settings, tmp: Path) -> dict[str, Any]:
    out = tmp / "verify.json"
    verify_log(settings, Console(file=io.StringIO()), out, use_checkpoints=False)
    return dict(orjson.loads(out.read_bytes()))


def test_a_twilio_call_is_disclosed_whispered_recorded_fetched_hashed_and_verified(
    rec_client: TestClient,
    rec_settings: Settings,
    fake_twilio: FakeTwilio,
    wav: bytes,
    tmp_path: Path,
) -> None:
    client = rec_client
    journey = _call_recorded_twilio_journey(client)
    reported = _report_recording(client, journey)
    assert reported.status_code == 200, reported.text
    assert _report_recording(client, journey).status_code == 200  # Twilio retried: one fetch
    # answered at once: nothing fetched within the callback
    assert fake_twilio.requests == []
    types = [e["type"] for e in _timeline(client, journey.call_id, ADMIN_KEY)]
    assert "CallRecorded" not in types
    # the worker's tick: fetched from the configured API with the account's credentials
    assert _sweep(client)["recordings_fetched"] == 1
    expected_auth = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:12345".encode()).decode()
    assert fake_twilio.requests == [
        (f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{RECORDING_SID}.wav", expected_auth)
    ]
    assert _sweep(client)["recordings_fetched"] == 0  # done: nothing queued
    recorded = [
        e for e in _timeline(client, journey.call_id, ADMIN_KEY) if e["type"] == "CallRecorded"
    ]
    assert len(recorded) == 1
    event = recorded[0]
    assert event["sha256"] == hashlib.sha256(wav).hexdigest()
    assert event["size_bytes"] == len(wav)
    assert event["duration_s"] == 12
    assert event["content_type"] == "audio/wav"
    assert event["location"] == f"{journey.call_id}/{event['recording_id']}.wav"
    stored = rec_settings.resolved_recordings_dir / event["location"]
    assert stored.read_bytes() == wav
    # the buyer's timeline shows the recording's facts, never where it is stored
    seen = next(
        e
        for e in _timeline(client, journey.call_id, journey.winner_key)
        if e["type"] == "CallRecorded"
    )
    assert seen["sha256"] == event["sha256"]
    assert "location" not in seen
    # the winning buyer streams it, whole and by ranges
    path = f"/v1/calls/{journey.call_id}/recording"
    whole = client.get(path, headers=auth(journey.winner_key))
    assert whole.status_code == 200, whole.text
    assert whole.content == wav
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "audio/wav"
    assert whole.headers["etag"] == f'"{event["sha256"]}"'
    part = client.get(path, headers={**auth(journey.winner_key), "Range": "bytes=100-1099"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-1099/{len(wav)}"
    assert part.content == wav[100:1100]
    tail = client.get(path, headers={**auth(journey.winner_key), "Range": "bytes=-44"})
    assert tail.status_code == 206
    assert tail.content == wav[-44:]
    outside = client.get(path, headers={**auth(journey.winner_key), "Range": f"bytes={len(wav)}-"})
    assert outside.status_code == 416
    assert outside.headers["content-range"] == f"bytes */{len(wav)}"
    # finance listens; the losing buyer, the publishers (no access) and an analyst do not
    assert client.get(path, headers=auth(journey.market.finance_key)).status_code == 200
    for key in (
        journey.loser_key,
        journey.publisher_key,
        journey.other_publisher_key,
        journey.market.analyst_key,
    ):
        refused = client.get(path, headers=auth(key))
        assert refused.status_code == 404, key
        assert refused.json()["detail"] == f"call_id {journey.call_id!r} does not exist"
    # replay verify rehashes the stored bytes: it passes, then fails once one byte changes
    report = _verify(rec_settings, tmp_path)
    assert report["ok"], report["failures"]
    assert report["checked"]["recordings"] == 1
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x01
    stored.write_bytes(bytes(data))
    broken = _verify(rec_settings, tmp_path)
    assert not broken["ok"]
    assert [(f["check"], f["aggregate_id"]) for f in broken["failures"]] == [
        ("recordings", journey.call_id)
    ]
    assert "it was changed" in broken["failures"][0]["message"]
    # an admin deletes it: the bytes go, the event stays with the reason; verify passes again
    forbidden = client.request(
        "DELETE", path, json={"reason": "caller request"}, headers=auth(journey.winner_key)
    )
    assert forbidden.status_code == 403
    deleted = client.request(
        "DELETE", path, json={"reason": "caller request"}, headers=auth(ADMIN_KEY)
    )
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"call_id": journey.call_id, "deleted": [event["recording_id"]]}
    again = client.request("DELETE", path, json={"reason": "again"}, headers=auth(ADMIN_KEY))
    assert again.json()["deleted"] == []
    assert not stored.exists()
    gone = client.get(path, headers=auth(journey.winner_key))
    assert gone.status_code == 404
    assert "deleted" in gone.json()["detail"]
    removal = [
        e
        for e in _timeline(client, journey.call_id, journey.winner_key)
        if e["type"] == "RecordingDeleted"
    ]
    assert [e["reason"] for e in removal] == ["caller request"]
    assert "by" not in removal[0]
    assert _verify(rec_settings, tmp_path)["ok"]
    # the projections take the new events and rules in their stride
    project(rec_settings)
    listed = client.get("/v1/calls", headers=auth(ADMIN_KEY))
    assert listed.status_code == 200, listed.text
    assert journey.call_id in {c["call_id"] for c in listed.json()["items"]}
    for path in ("/v1/targets", "/v1/campaigns"):
        assert client.get(path, headers=auth(ADMIN_KEY)).status_code == 200, path


def test_retention_deletes_a_recording_and_the_publisher_listens_when_allowed(
    rec_client: TestClient,
    rec_settings: Settings,
    clock: ManualClock,
    fake_twilio: FakeTwilio,
    redis_client: Any,
) -> None:
    client = rec_client
    journey = _call_recorded_twilio_journey(client, publisher_access=True)
    fake_twilio.failures_first = 2  # Twilio is busy twice: tenacity retries within the tick
    assert _report_recording(client, journey).status_code == 200
    assert _sweep(client)["recordings_fetched"] == 1
    assert len(fake_twilio.requests) == 3
    path = f"/v1/calls/{journey.call_id}/recording"
    assert client.get(path, headers=auth(journey.publisher_key)).status_code == 200
    assert client.get(path, headers=auth(journey.other_publisher_key)).status_code == 404
    # Redis loses the retention index: the next tick builds it again from the log
    prefix = rec_settings.redis_prefix
    assert redis_client.zcard(f"{prefix}:recordings:expiry") == 1
    redis_client.delete(f"{prefix}:recordings:expiry", f"{prefix}:recordings:indexed")
    clock.advance(timedelta(days=29))
    assert _sweep(client)["recordings_deleted"] == 0
    assert redis_client.zcard(f"{prefix}:recordings:expiry") == 1
    clock.advance(timedelta(days=1, seconds=1))
    assert _sweep(client)["recordings_deleted"] == 1
    events = _timeline(client, journey.call_id, ADMIN_KEY)
    removal = [e for e in events if e["type"] == "RecordingDeleted"]
    assert [(e["reason"], e["by"]) for e in removal] == [("retention", "system")]
    assert not list(rec_settings.resolved_recordings_dir.rglob("*.wav"))
    assert client.get(path, headers=auth(journey.publisher_key)).status_code == 404


def _types(client: TestClient, call_id: str, key: str) -> list[str]:
    return [e["type"] for e in _timeline(client, call_id, key)]


def test_a_recording_reported_before_redis_lost_its_data_is_still_fetched_once(
    rec_client: TestClient,
    rec_settings: Settings,
    fake_twilio: FakeTwilio,
    redis_client: Any,
    tmp_path: Path,
) -> None:
    client = rec_client
    journey = _call_recorded_twilio_journey(client)
    prefix = rec_settings.redis_prefix
    pending = f"{prefix}:recordings:pending"
    assert _report_recording(client, journey).status_code == 200
    assert _report_recording(client, journey).status_code == 200  # Twilio retried
    # the callback's fact is in the log, once; it is the exchange's, not its parties'
    available = [
        e
        for e in _timeline(client, journey.call_id, ADMIN_KEY)
        if e["type"] == "RecordingAvailable"
    ]
    assert [(e["recording_sid"], e["duration_s"]) for e in available] == [(RECORDING_SID, 12)]
    assert "RecordingAvailable" not in _types(client, journey.call_id, journey.winner_key)
    assert redis_client.hlen(pending) == 1
    assert fake_twilio.requests == []
    # Redis loses the namespace's data (a FLUSHALL, a Redis restarted empty) before the fetch
    drop_redis_keys(
        settings_redis_url(rec_settings), f"{prefix}*", cluster=rec_settings.redis_cluster
    )
    assert redis_client.hlen(pending) == 0
    assert not redis_client.exists(f"{prefix}:recordings:pending:indexed")
    # the tick queues it again from the log, and fetches it
    assert _sweep(client)["recordings_fetched"] == 1
    assert redis_client.exists(f"{prefix}:recordings:pending:indexed")
    assert len(fake_twilio.requests) == 1
    assert _types(client, journey.call_id, ADMIN_KEY).count("CallRecorded") == 1
    # recorded: neither another loss nor a late retried callback fetches it again
    drop_redis_keys(
        settings_redis_url(rec_settings), f"{prefix}*", cluster=rec_settings.redis_cluster
    )
    assert _report_recording(client, journey).status_code == 200
    assert redis_client.hlen(pending) == 0
    assert _sweep(client)["recordings_fetched"] == 0
    assert len(fake_twilio.requests) == 1
    types = _types(client, journey.call_id, ADMIN_KEY)
    assert (types.count("RecordingAvailable"), types.count("CallRecorded")) == (1, 1)
    report = _verify(rec_settings, tmp_path)
    assert report["ok"], report["failures"]
    assert report["checked"]["recordings"] == 1


def test_a_deleted_recording_is_not_queued_again_when_redis_is_lost(
    rec_client: TestClient,
    rec_settings: Settings,
    fake_twilio: FakeTwilio,
    redis_client: Any,
) -> None:
    client = rec_client
    journey = _call_recorded_twilio_journey(client)
    prefix = rec_settings.redis_prefix
    assert _report_recording(client, journey).status_code == 200
    assert _sweep(client)["recordings_fetched"] == 1
    path = f"/v1/calls/{journey.call_id}/recording"
    deleted = client.request("DELETE", path, json={"reason": "caller"}, headers=auth(ADMIN_KEY))
    assert deleted.status_code == 200, deleted.text
    # the pending hash and its marker go, as with a Redis that lost its data
    redis_client.delete(f"{prefix}:recordings:pending", f"{prefix}:recordings:pending:indexed")
    assert _sweep(client)["recordings_fetched"] == 0
    assert redis_client.hlen(f"{prefix}:recordings:pending") == 0
    assert len(fake_twilio.requests) == 1
    assert _types(client, journey.call_id, ADMIN_KEY).count("CallRecorded") == 1


def settings_redis_url(settings: Settings) -> str:
    assert settings.redis_url is not None
    return settings.redis_url


def test_the_recording_callback_is_signed_checked_and_queues_only_a_completed_recording(
    rec_client: TestClient, fake_twilio: FakeTwilio
) -> None:
    client = rec_client
    journey = _call_recorded_twilio_journey(client)
    params = {
        "RecordingSid": RECORDING_SID,
        "RecordingStatus": "completed",
        "RecordingDuration": "3",
    }
    split = urlsplit(journey.recording_url)
    path = f"{split.path}?{split.query}"
    forged = client.post(path, data=params, headers={"X-Twilio-Signature": "forged"})
    assert forged.status_code == 403
    bad_sid = _twilio_post(client, journey.recording_url, {**params, "RecordingSid": "RE/../x"})
    assert bad_sid.status_code == 422
    bad_length = _twilio_post(client, journey.recording_url, {**params, "RecordingDuration": "x"})
    assert bad_length.status_code == 422
    failed = _twilio_post(client, journey.recording_url, {**params, "RecordingStatus": "failed"})
    assert failed.status_code == 200
    unknown = _twilio_post(client, f"{BASE_URL}/v1/voice/recording?call_id=call_{'9' * 32}", params)
    assert unknown.status_code == 404
    assert _sweep(client)["recordings_fetched"] == 0
    assert fake_twilio.requests == []
    no_recording = client.get(
        f"/v1/calls/{journey.call_id}/recording", headers=auth(journey.winner_key)
    )
    assert no_recording.status_code == 404
    assert "no recording" in no_recording.json()["detail"]


def test_a_campaign_without_recording_dials_as_before_and_a_bad_rule_is_refused(
    rec_client: TestClient,
) -> None:
    client = rec_client
    market = build_market(client)
    market.tracking_number("+18005550100", source="tv")
    refused = client.patch(
        f"/v1/campaigns/{market.campaign_id}",
        json={"recording": {"enabled": True, "retention_days": 0}},
        headers=auth(ADMIN_KEY),
    )
    assert refused.status_code == 422
    assert "recording" in refused.text
    inbound = _twilio_post(
        client,
        "/v1/voice/inbound",
        {"CallSid": "CA9100", "From": "+13105550123", "To": "+18005550100"},
    )
    root = ET.fromstring(inbound.text)
    assert [child.tag for child in root] == ["Dial"]
    verb = root.find("Dial")
    assert verb is not None
    assert verb.get("record") is None
    assert verb.find("Number").get("url") is None  # type: ignore[union-attr]


def test_a_fetch_twilio_refuses_is_given_up_and_records_nothing(
    rec_client: TestClient, rec_settings: Settings, fake_twilio: FakeTwilio, redis_client: Any
) -> None:
    client = rec_client
    journey = _call_recorded_twilio_journey(client)
    fake_twilio.token = "another-token"  # Twilio refuses the deployment's credentials: 401
    assert _report_recording(client, journey).status_code == 200
    pending = f"{rec_settings.redis_prefix}:recordings:pending"
    assert redis_client.hlen(pending) == 1
    assert _sweep(client)["recordings_fetched"] == 0
    assert len(fake_twilio.requests) == 1  # a refusal is not retried
    assert redis_client.hlen(pending) == 0  # given up (logged)
    types = [e["type"] for e in _timeline(client, journey.call_id, ADMIN_KEY)]
    assert "CallRecorded" not in types
    assert not list(rec_settings.resolved_recordings_dir.rglob("*.wav"))


def test_a_failover_dial_records_without_saying_the_disclosure_again(
    rec_client: TestClient,
) -> None:
    client = rec_client
    market = build_market(client)
    market.tracking_number("+18005550100", source="tv")
    market.admin(
        "PATCH", f"/v1/campaigns/{market.campaign_id}", json={"recording": {"enabled": True}}
    )
    first = ET.fromstring(
        _twilio_post(
            client,
            "/v1/voice/inbound",
            {"CallSid": "CA9200", "From": "+13105550123", "To": "+18005550100"},
        ).text
    )
    assert [child.tag for child in first] == ["Say", "Dial"]
    action = str(first.find("Dial").get("action"))  # type: ignore[union-attr]
    second = ET.fromstring(
        _twilio_post(client, action, {"CallSid": "CA9200", "DialCallStatus": "no-answer"}).text
    )
    assert [child.tag for child in second] == ["Dial"]
    verb = second.find("Dial")
    assert verb is not None
    assert verb.get("record") == "record-from-answer-dual"
    assert verb.findtext("Number") == "+13105550201"
    assert verb.find("Number").get("url") is None  # type: ignore[union-attr]  # no whisper set


def test_a_campaign_and_a_target_may_be_created_recording_and_whispering(
    rec_client: TestClient,
) -> None:
    client = rec_client
    market = build_market(client)
    rule = {"enabled": True, "disclosure": DISCLOSURE, "retention_days": 7}
    created = market.admin(
        "POST",
        "/v1/campaigns",
        json={
            "name": "Recorded",
            "vertical": "legal",
            "publisher_payout": {"fixed": "30.00"},
            "recording": rule,
        },
    )
    campaign = market.admin("GET", f"/v1/campaigns/{created['id']}")
    assert campaign["recording"] == {**rule, "publisher_access": False}
    buyer_id = next(iter(market.buyers))
    target = market.admin(
        "POST",
        "/v1/targets",
        json={
            "buyer_id": buyer_id,
            "campaign_id": created["id"],
            "destination": "+13105550299",
            "bid": "50.00",
            "whisper": WHISPER,
        },
    )
    assert market.admin("GET", f"/v1/targets/{target['id']}")["whisper"] == WHISPER
    refused = client.post(
        "/v1/targets",
        json={
            "buyer_id": buyer_id,
            "campaign_id": created["id"],
            "destination": "+13105550298",
            "bid": "50.00",
            "whisper": "two\nlines",
        },
        headers=auth(ADMIN_KEY),
    )
    assert refused.status_code == 422
