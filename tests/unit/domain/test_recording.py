"""Call recordings, the pure parts: the campaign's rule, the whisper, keys, who may listen,
the Call's events, the byte ranges the API answers, the directory store."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from api.routers.recordings import byte_range
from api.twilio import Recorded, dial
from domain.api_key import Role
from domain.call import Call
from domain.call_state import CallStatus
from domain.errors import Conflict, ValidationError
from domain.limits import RECORDING_RETENTION_DAYS
from domain.recording import (
    DISCLOSURE_DEFAULT,
    RecordingRule,
    is_recording_key,
    may_listen,
    parse_recording_rule,
    parse_recording_sid,
    parse_whisper,
    recording_id,
    recording_key,
    retention_ends,
)
from evidence.recordings import DirectoryStore
from evidence.twilio_fetch import Refused, TwilioApi

CALL = "call_" + "1" * 32
SID = "RE" + "a" * 32
AT = datetime(2026, 12, 1, 12, tzinfo=UTC)


def test_the_recording_rule_parses_with_defaults_and_names_a_bad_field() -> None:
    rule = parse_recording_rule({"enabled": True})
    assert rule == RecordingRule(
        True, DISCLOSURE_DEFAULT, RECORDING_RETENTION_DAYS.default or 0, False
    )
    assert RecordingRule.of(rule.to_dict()) == rule
    assert RecordingRule.of(None) is None
    for bad, field in (
        ({}, "recording.enabled"),
        ({"enabled": "yes"}, "recording.enabled"),
        ({"enabled": True, "retention_days": 0}, "recording.retention_days"),
        ({"enabled": True, "disclosure": "  "}, "recording.disclosure"),
        ({"enabled": True, "disclosure": "x\n"}, "recording.disclosure"),
        ({"enabled": True, "publisher_access": 1}, "recording.publisher_access"),
        ({"enabled": True, "other": 1}, "recording.other"),
    ):
        with pytest.raises(ValidationError) as error:
            parse_recording_rule(bad)
        assert error.value.field == field, bad


def test_the_whisper_is_spoken_text_and_empty_clears_it() -> None:
    assert parse_whisper("Call from PPCX: legal, California, qualified") is not None
    assert parse_whisper("") is None
    for bad in ("   ", "a\tb", "x" * 301, 3):
        with pytest.raises(ValidationError):
            parse_whisper(bad)


def test_keys_are_made_of_ids_only() -> None:
    rec = recording_id(CALL, SID)
    assert rec == recording_id(CALL, SID)  # a retried callback names the same recording
    assert rec.startswith("rec_")
    key = recording_key(CALL, rec, "audio/wav")
    assert key == f"{CALL}/{rec}.wav"
    assert is_recording_key(key)
    assert recording_key(CALL, rec, "audio/mpeg").endswith(".mp3")
    for bad in ("../etc/passwd", f"{CALL}/../x.wav", f"{CALL}/{rec}.wav/x", f"/{key}"):
        assert not is_recording_key(bad)
    with pytest.raises(ValidationError):
        recording_key("../x", rec, "audio/wav")
    with pytest.raises(ValidationError):
        recording_key(CALL, rec, "text/html")
    with pytest.raises(ValidationError):
        parse_recording_sid("RE../../x")
    assert retention_ends(AT, 30) == AT + timedelta(days=30)


def test_only_the_routed_buyer_the_allowed_publisher_finance_and_admin_may_listen() -> None:
    def listens(role: Role, owner: str | None, *, access: bool = False) -> bool:
        return may_listen(
            role, owner, publisher_id="pub_1", routed_buyer_id="buy_1", publisher_access=access
        )

    assert listens(Role.ADMIN, None)
    assert listens(Role.FINANCE, None)
    assert listens(Role.BUYER, "buy_1")
    assert not listens(Role.BUYER, "buy_2")
    assert not listens(Role.PUBLISHER, "pub_1")
    assert listens(Role.PUBLISHER, "pub_1", access=True)
    assert not listens(Role.PUBLISHER, "pub_2", access=True)
    assert not listens(Role.ANALYST, None)
    assert not may_listen(
        Role.BUYER, "buy_1", publisher_id="pub_1", routed_buyer_id=None, publisher_access=True
    )


def _connected_call() -> Call:
    call = Call.receive_ping(CALL, "cmp_1", "pub_1", "h", {}, {}, {}, "main", AT)
    call.status = CallStatus.ANSWERED  # the test needs a connected call only
    return call


def test_a_call_records_a_recording_once_and_deletes_it_once() -> None:
    call = _connected_call()
    rec = recording_id(CALL, SID)
    key = recording_key(CALL, rec, "audio/wav")
    recorded = {
        "recording_id": rec,
        "sha256": "0" * 64,
        "duration_s": 12,
        "size_bytes": 100,
        "location": key,
        "content_type": "audio/wav",
    }
    assert call.record_recording(**recorded, at=AT)  # type: ignore[arg-type]
    assert not call.record_recording(**recorded, at=AT)  # type: ignore[arg-type]
    assert call.recordings[rec].sha256 == "0" * 64
    assert not call.recordings[rec].deleted
    assert call.delete_recording(rec, "retention", "system", AT)
    assert call.recordings[rec].deleted
    assert not call.delete_recording(rec, "retention", "system", AT)
    with pytest.raises(Conflict):
        call.delete_recording("rec_" + "2" * 32, "x", "y", AT)
    names = [type(e).__name__ for e in call.collect_events()]
    assert names == ["PingReceived", "CallRecorded", "RecordingDeleted"]


def test_a_recording_is_available_once_and_not_after_it_is_recorded() -> None:
    call = _connected_call()
    rec = recording_id(CALL, SID)
    assert call.recording_available(recording_id=rec, recording_sid=SID, duration_s=12, at=AT)
    assert not call.recording_available(  # a retried callback
        recording_id=rec, recording_sid=SID, duration_s=12, at=AT
    )
    assert call.recordings_available == {rec: SID}
    other_sid = "RE" + "b" * 32
    other = recording_id(CALL, other_sid)
    call.record_recording(
        recording_id=other,
        sha256="0" * 64,
        duration_s=3,
        size_bytes=10,
        location=recording_key(CALL, other, "audio/wav"),
        content_type="audio/wav",
        at=AT,
    )
    # recorded before its callback's fact (a log older than the event): nothing to note
    assert not call.recording_available(
        recording_id=other, recording_sid=other_sid, duration_s=3, at=AT
    )
    names = [type(e).__name__ for e in call.collect_events()]
    assert names == ["PingReceived", "RecordingAvailable", "CallRecorded"]
    pinged = Call.receive_ping(CALL, "cmp_1", "pub_1", "h", {}, {}, {}, "main", AT)
    with pytest.raises(Conflict):
        pinged.recording_available(recording_id=rec, recording_sid=SID, duration_s=1, at=AT)


def test_a_call_not_connected_records_nothing() -> None:
    call = Call.receive_ping(CALL, "cmp_1", "pub_1", "h", {}, {}, {}, "main", AT)
    rec = recording_id(CALL, SID)
    with pytest.raises(Conflict):
        call.record_recording(
            recording_id=rec,
            sha256="0" * 64,
            duration_s=1,
            size_bytes=1,
            location=recording_key(CALL, rec, "audio/wav"),
            content_type="audio/wav",
            at=AT,
        )


def test_byte_ranges() -> None:
    assert byte_range(None, 1000) is None
    assert byte_range("bytes=0-99", 1000) == (0, 99)
    assert byte_range("bytes=900-", 1000) == (900, 999)
    assert byte_range("bytes=900-5000", 1000) == (900, 999)
    assert byte_range("bytes=-100", 1000) == (900, 999)
    assert byte_range("bytes=-5000", 1000) == (0, 999)
    assert byte_range("bytes=1000-", 1000) is False
    assert byte_range("bytes=5-4", 1000) is False
    assert byte_range("bytes=-0", 1000) is False
    assert byte_range("bytes=0-1,5-6", 1000) is None  # several ranges: the whole
    assert byte_range("items=0-1", 1000) is None
    assert byte_range("bytes=-", 1000) is None


def test_the_dial_says_the_disclosure_first_records_and_whispers() -> None:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(
        dial(
            "+13105550200",
            action="https://x/v1/voice/status?call_id=c",
            answered_callback="https://x/a",
            recorded=Recorded("This call is recorded.", "https://x/v1/voice/recording?call_id=c"),
            whisper_url="https://x/v1/voice/whisper?call_id=c&attempt=1",
        )
    )
    assert [child.tag for child in root] == ["Say", "Dial"]
    assert root.findtext("Say") == "This call is recorded."
    verb = root.find("Dial")
    assert verb is not None
    assert verb.get("record") == "record-from-answer-dual"
    assert verb.get("recordingStatusCallback") == "https://x/v1/voice/recording?call_id=c"
    assert verb.get("recordingStatusCallbackEvent") == "completed"
    number = verb.find("Number")
    assert number is not None
    assert number.get("url") == "https://x/v1/voice/whisper?call_id=c&attempt=1"
    plain = ET.fromstring(dial("sip:a@b.example", action="a", answered_callback="b"))
    assert [child.tag for child in plain] == ["Dial"]
    assert plain.find("Dial").get("record") is None  # type: ignore[union-attr]
    assert plain.find("Dial/Sip").get("url") is None  # type: ignore[union-attr]
    failover = ET.fromstring(
        dial("+1", action="a", answered_callback="b", recorded=Recorded(None, "https://x/r"))
    )
    assert [child.tag for child in failover] == ["Dial"]  # said once, on the first dial


def test_the_fetch_url_is_built_from_the_configured_base_and_ids() -> None:
    api = TwilioApi("https://api.twilio.com/", "AC" + "0" * 32, "token")
    assert api.recording_url(SID) == (
        f"https://api.twilio.com/2010-04-01/Accounts/AC{'0' * 32}/Recordings/{SID}.wav"
    )
    with pytest.raises(ValidationError):
        api.recording_url("https://evil.example/x")
    with pytest.raises(Refused):
        TwilioApi("https://api.twilio.com", "AC/../x", "t").recording_url(SID)


def test_the_directory_store_writes_whole_files_hashes_them_and_refuses_other_keys(
    tmp_path: Path,
) -> None:
    store = DirectoryStore(tmp_path / "recordings")
    rec = recording_id(CALL, SID)
    key = recording_key(CALL, rec, "audio/wav")
    data = bytes(range(256)) * 1000
    assert store.put(key, io.BytesIO(data)) == (hashlib.sha256(data).hexdigest(), len(data))
    assert store.size(key) == len(data)
    assert store.digest(key) == (hashlib.sha256(data).hexdigest(), len(data))
    with store.open(key) as stream:
        stream.seek(1000)
        assert stream.read(10) == data[1000:1010]
    assert [p.name for p in (tmp_path / "recordings" / CALL).iterdir()] == [f"{rec}.wav"]
    store.delete(key)
    store.delete(key)  # idempotent
    assert store.size(key) is None
    assert store.digest(key) is None
    with pytest.raises(ValidationError):
        store.put("../../escape.wav", io.BytesIO(b"x"))
    assert not (tmp_path / "escape.wav").exists()
