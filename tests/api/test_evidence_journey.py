"""Issue 24's done-means in one call's life, end to end through HTTP and the CLI: a caller
rings a tracking number of a campaign that asks one IVR question and records its calls; the
answer qualifies the caller for a target that requires it and whispers to its agent; the
disclosure is said before the recording `<Dial>`; the buyer answers, the call is billed;
Twilio reports the recording, the worker fetches it from a loopback server playing Twilio's
API (basic auth checked), stores and hashes it; `ppcx replay verify` passes, then fails
naming the recordings check once one stored byte changes.

Nothing here waits on the wall clock: the app's clock is a ManualClock, and the recordings
worker runs when the test asks for it (`POST /v1/ops/sweep`, the app built without its
background sweep), so every step has finished when its request returns."""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from domain.clock import ManualClock
from domain.ids import derived_id
from ppcx.cli import app as cli
from ppcx.settings import Settings
from tests.api.conftest import ADMIN_KEY, auth
from tests.api.test_ivr import INJURED, NUMBER, _gather_of, _market
from tests.api.test_recordings import (  # noqa: F401 - shared fixtures
    ACCOUNT_SID,
    DISCLOSURE,
    RECORDING_SID,
    WHISPER,
    FakeTwilio,
    _sweep,
    _timeline,
    _twilio_post,
    fake_twilio,
    rec_client,
    rec_settings,
    wav,
)
from tests.support.environment import ppcx_env

pytestmark = pytest.mark.e2e
CALL_SID = "CA-JOURNEY-1"
AGENT_SID = "CA-JOURNEY-2"  # the dialled leg, to the buyer's agent
DURATION_S = 95  # past the target's 60 s buffer: billable


def _caller(**extra: str) -> dict[str, str]:
    return {"CallSid": CALL_SID, "From": "+13105550123", "To": NUMBER, "FromState": "CA", **extra}


def _tags(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    return [child.tag for child in ET.fromstring(response.text)]


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def _in_order(seen: list[str], expected: list[str]) -> bool:
    """Whether `expected` occurs in `seen` in that order (others may come between)."""
    rest = iter(seen)
    return all(kind in rest for kind in expected)


def _basic_auth(settings: Settings) -> str:
    """The Authorization Twilio's API expects of the deployment's account."""
    token = f"{ACCOUNT_SID}:{settings.twilio_auth_token}"
    return "Basic " + base64.b64encode(token.encode()).decode()


def _replay_verify(settings: Settings, report: Path) -> tuple[int, str, dict[str, Any]]:
    """`ppcx replay verify` on the test's own store and recordings: exit code, output, the
    JSON report."""
    result = CliRunner().invoke(
        cli,
        ["replay", "verify", "--no-checkpoints", "--json", str(report)],
        env=ppcx_env(settings),
    )
    return result.exit_code, result.output, dict(orjson.loads(report.read_bytes()))


def test_a_qualified_recorded_whispered_call_is_billed_fetched_hashed_and_verified(
    rec_client: TestClient,  # noqa: F811
    rec_settings: Settings,  # noqa: F811
    fake_twilio: FakeTwilio,  # noqa: F811
    wav: bytes,  # noqa: F811
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    client = rec_client
    # -- the setup: one dtmf question, recording on; the strict target whispers -----------
    market, strict, _ = _market(client, {"questions": [INJURED]})
    market.admin(
        "PATCH",
        f"/v1/campaigns/{market.campaign_id}",
        json={"recording": {"enabled": True, "disclosure": DISCLOSURE, "retention_days": 30}},
    )
    winner_key = market.buyers[market.targets[strict]]
    patched = client.patch(
        f"/v1/targets/{strict}", json={"whisper": WHISPER}, headers=auth(winner_key)
    )
    assert patched.status_code == 200, patched.text
    target = market.admin("GET", f"/v1/targets/{strict}")
    assert (target["whisper"], target["requires_tags"]) == (WHISPER, {"injured": "yes"})
    assert target["buffer_s"] < DURATION_S
    campaign = market.admin("GET", f"/v1/campaigns/{market.campaign_id}")
    assert campaign["ivr"]["questions"][0]["id"] == INJURED["id"]
    assert campaign["recording"]["enabled"] is True

    # -- the caller rings: the question first, nothing said or dialled yet -----------------
    inbound = _twilio_post(client, "/v1/voice/inbound", _caller())
    assert _tags(inbound) == ["Gather"]
    gather, ivr_action = _gather_of(inbound)
    assert (gather.attrib["input"], gather.attrib["numDigits"]) == ("dtmf", "1")
    assert [child.tag for child in gather] == ["Say"]
    assert gather.findtext("Say") == INJURED["prompt"]
    assert urlsplit(ivr_action).path == "/v1/voice/ivr"

    # -- the caller presses 1: the disclosure, then the recording dial whose number whispers
    answered = _twilio_post(client, ivr_action, _caller(Digits="1"))
    assert _tags(answered) == ["Say", "Dial"]
    root = ET.fromstring(answered.text)
    assert root.findtext("Say") == DISCLOSURE
    dial = root.find("Dial")
    assert dial is not None
    assert dial.get("record") == "record-from-answer-dual"
    assert dial.get("recordingStatusCallbackEvent") == "completed"
    call_id = derived_id("call", "twilio", CALL_SID)
    recording_url = str(dial.get("recordingStatusCallback"))
    assert urlsplit(recording_url).path == "/v1/voice/recording"
    assert _query(recording_url) == {"call_id": [call_id]}
    dial_action = str(dial.get("action"))
    assert _query(dial_action)["call_id"] == [call_id]
    number = dial.find("Number")
    assert number is not None
    assert number.text == "+13105550200"  # the strict target: the answer gave its tag
    whisper_url = str(number.get("url"))
    assert urlsplit(whisper_url).path == "/v1/voice/whisper"
    assert _query(whisper_url) == {"call_id": [call_id], "attempt": ["1"]}
    answered_url = str(number.get("statusCallback"))
    assert _query(answered_url)["leg"] == ["answered"]

    events = _timeline(client, call_id, ADMIN_KEY)
    assert events[0]["type"] == "PingReceived"
    assert events[0]["tags"] == {"injured": "yes"}  # the IVR's answer is the ping's tag
    decided = next(e for e in events if e["type"] == "AuctionDecided")
    assert decided["winner_target_id"] == strict
    # Twilio retries the answer's webhook: the same TwiML, no second auction
    retried = _twilio_post(client, ivr_action, _caller(Digits="1"))
    assert retried.text == answered.text
    assert _types(_timeline(client, call_id, ADMIN_KEY)) == _types(events)

    # -- the agent picks up: Twilio plays the whisper to them, then connects ----------------
    whispered = _twilio_post(
        client, whisper_url, {"CallSid": AGENT_SID, "CallStatus": "in-progress"}
    )
    assert _tags(whispered) == ["Say"]
    assert ET.fromstring(whispered.text).findtext("Say") == WHISPER
    picked_up = _twilio_post(
        client, answered_url, {"CallSid": AGENT_SID, "CallStatus": "in-progress"}
    )
    assert _tags(picked_up) == []
    assert "CallAnswered" in _types(_timeline(client, call_id, ADMIN_KEY))

    # -- the dial ends past the buffer: the call is billed ----------------------------------
    clock.advance(timedelta(seconds=DURATION_S))
    done = _twilio_post(
        client,
        dial_action,
        {
            "CallSid": CALL_SID,
            "CallStatus": "in-progress",
            "DialCallStatus": "completed",
            "DialCallDuration": str(DURATION_S),
        },
    )
    assert _tags(done) == ["Hangup"]
    events = _timeline(client, call_id, ADMIN_KEY)
    completed = next(e for e in events if e["type"] == "CallCompleted")
    assert completed["duration_s"] == DURATION_S
    billed = next(e for e in events if e["type"] == "CallBilled")
    assert (billed["revenue"], billed["buyer_id"]) == ("50.00", market.targets[strict])

    # -- Twilio reports the recording: queued, fetched by the worker's tick, not the callback
    reported = _twilio_post(
        client,
        recording_url,
        {
            "CallSid": CALL_SID,
            "RecordingSid": RECORDING_SID,
            "RecordingUrl": "http://169.254.169.254/latest/meta-data",  # never fetched
            "RecordingStatus": "completed",
            "RecordingDuration": "12",
            "RecordingChannels": "2",
        },
    )
    assert _tags(reported) == []
    assert fake_twilio.requests == []
    assert "CallRecorded" not in _types(_timeline(client, call_id, ADMIN_KEY))
    assert _sweep(client)["recordings_fetched"] == 1
    media_path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{RECORDING_SID}.wav"
    assert fake_twilio.requests == [(media_path, _basic_auth(rec_settings))]
    assert _sweep(client)["recordings_fetched"] == 0  # nothing left queued

    # -- the recording's fact: the hash of the bytes Twilio served, stored as served ----------
    events = _timeline(client, call_id, ADMIN_KEY)
    assert _in_order(
        _types(events),
        [
            "PingReceived",
            "AuctionDecided",
            "CallRouted",
            "CallAnswered",
            "CallCompleted",
            "CallBilled",
            "CallRecorded",
        ],
    ), _types(events)
    assert "QualificationFailed" not in _types(events)
    (recorded,) = [e for e in events if e["type"] == "CallRecorded"]
    assert recorded["sha256"] == hashlib.sha256(fake_twilio.media).hexdigest()
    assert (recorded["size_bytes"], recorded["duration_s"]) == (len(wav), 12)
    stored = rec_settings.resolved_recordings_dir / recorded["location"]
    assert stored.read_bytes() == wav
    listened = client.get(f"/v1/calls/{call_id}/recording", headers=auth(winner_key))
    assert listened.status_code == 200, listened.text
    assert hashlib.sha256(listened.content).hexdigest() == recorded["sha256"]

    # -- `ppcx replay verify` passes; one stored byte changed, it fails on the recordings ----
    code, output, report = _replay_verify(rec_settings, tmp_path / "verify.json")
    assert code == 0, output
    assert report["ok"], report["failures"]
    assert report["checked"]["recordings"] == 1
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x01
    stored.write_bytes(bytes(data))
    code, output, report = _replay_verify(rec_settings, tmp_path / "broken.json")
    assert code == 1, output
    assert not report["ok"]
    assert [(f["check"], f["aggregate_id"]) for f in report["failures"]] == [
        ("recordings", call_id)
    ]
    assert "it was changed" in report["failures"][0]["message"]
    assert f"recordings · {call_id}" in output
