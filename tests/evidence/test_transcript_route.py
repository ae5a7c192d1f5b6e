"""`GET /v1/calls/{id}/transcript`: the routed buyer, finance and admin read a call's
transcripts (as stored: redacted) with the phrases spotted; to anyone else the call is 404."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.call import Call
from domain.clock import ManualClock
from domain.commands import RecordTranscript
from domain.transcript import redact, text_sha256
from evidence.transcripts import TranscriptStore, transcript_key
from handlers.evidence import EvidenceHandlers
from ppcx.settings import Settings
from tests.api.conftest import ADMIN_KEY, api_settings, auth, build_market, client

pytestmark = pytest.mark.integration
__all__ = ["api_settings", "client"]  # fixtures of the API suite
SAID = "yes book an appointment my card is 4111 1111 1111 1111 thanks"


def transcribed_call(client: TestClient, clock: ManualClock, settings: Settings) -> tuple[str, Any]:
    market = build_market(client)
    market.admin(
        "PATCH",
        f"/v1/campaigns/{market.campaign_id}",
        json={"keywords": {"phrases": ["appointment"]}},
    )
    _, key = market.publisher
    offer = market.ping(key).json()
    call_id = client.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(key)).json()["call_id"]
    client.post(f"/v1/calls/{call_id}/events", json={"type": "answered"}, headers=auth(key))
    clock.advance(timedelta(seconds=90))
    done = client.post(
        f"/v1/calls/{call_id}/events",
        json={"type": "completed", "duration_s": 90},
        headers=auth(key),
    )
    assert done.status_code == 200, done.text
    services = client.app.state.services  # type: ignore[attr-defined]
    recording_id = "rec_" + "0123456789abcdef" * 2

    def recorded() -> tuple[list[Any], None]:
        call = services.app.find(Call, call_id)
        call.record_recording(
            recording_id=recording_id,
            sha256="0" * 64,
            duration_s=90,
            size_bytes=1440000,
            location=f"{call_id}/{recording_id}.wav",
            content_type="audio/wav",
            at=clock.now(),
        )
        return [call], None

    services.calls.ctx.run(recorded, hot=(call_id,))
    text = redact(SAID).text
    location = transcript_key(call_id, recording_id)
    sha = TranscriptStore(settings.resolved_transcripts_dir).put(location, text)
    EvidenceHandlers(services.calls.ctx).record_transcript(
        RecordTranscript(
            call_id, recording_id, text, sha, location, "pocketsphinx", "5.1.1", 1, 90_000
        )
    )
    call = services.app.find(Call, call_id)
    return call_id, (market, call.route.buyer_id)


def test_the_routed_buyer_finance_and_admin_read_it_no_one_else(
    client: TestClient, clock: ManualClock, api_settings: Settings
) -> None:
    call_id, (market, winner) = transcribed_call(client, clock, api_settings)
    path = f"/v1/calls/{call_id}/transcript"
    for key in (ADMIN_KEY, market.finance_key, market.buyers[winner]):
        read = client.get(path, headers=auth(key))
        assert read.status_code == 200, read.text
        [transcript] = read.json()["transcripts"]
        assert transcript["text"] == "yes book an appointment my card is [REDACTED] thanks"
        assert transcript["transcript_sha256"] == text_sha256(transcript["text"])
        assert transcript["phrases"] == ["appointment"]
        assert transcript["redactions"] == 1
    loser = next(b for b in market.buyers if b != winner)
    _, publisher_key = market.publisher
    for key in (market.buyers[loser], publisher_key, market.analyst_key):
        hidden = client.get(path, headers=auth(key))
        assert hidden.status_code == 404, hidden.text
    assert (
        client.get("/v1/calls/call_unknown/transcript", headers=auth(ADMIN_KEY)).status_code == 404
    )
    evidence = {"CallRecorded", "CallTranscribed", "PhrasesSpotted"}
    seen = client.get(f"/v1/calls/{call_id}", headers=auth(market.buyers[winner])).json()
    shown = [e for e in seen["events"] if e["type"] in evidence]
    assert {e["type"] for e in shown} == evidence
    assert all("location" not in e for e in shown)  # the stores' keys stay internal
    seen = client.get(f"/v1/calls/{call_id}", headers=auth(publisher_key)).json()
    # the publisher sees the recording's facts (it may be allowed to listen), never the
    # transcript's nor the phrases spotted in it
    assert [e["type"] for e in seen["events"] if e["type"] in evidence] == ["CallRecorded"]
    seen = client.get(f"/v1/calls/{call_id}", headers=auth(market.finance_key)).json()
    assert {e["type"] for e in seen["events"] if e.get("location")} == evidence - {"PhrasesSpotted"}
