"""The transcriber worker: a recorded call's recordings are transcribed, redacted, stored and
recorded (`Call.CallTranscribed`, and `Call.PhrasesSpotted` when its campaign has keywords)
once each; from the relay's stream, a failure before the record loses nothing."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from domain.call import Call
from domain.campaign import Campaign
from domain.catalog import topic_of
from domain.clock import ManualClock
from domain.commands import CompleteCall, PostCall, RecordAnswer, RecordTranscript
from domain.transcript import REDACTED, SPOTTING_RULES_VERSION, text_sha256
from eventstore.chain import chain_key
from eventstore.stream_consumer import StreamSource
from evidence.recordings import DirectoryStore
from evidence.transcriber_worker import TranscriberWorker
from evidence.transcription import Transcriber
from evidence.transcripts import TranscriptStore, transcript_key
from handlers import parse_changes
from handlers.evidence import EvidenceHandlers, Transcribed
from ppcx.bootstrap import Domain, build_domain
from ppcx.commands.replay import evidence_sources
from ppcx.secrets import audit_key
from ppcx.settings import Settings
from projections.relay import Relay
from replay.verify import Report, verify
from tests.projections.conftest import dump, project_log
from tests.support.market import Market, build_market
from tests.support.waiting import until

pytestmark = pytest.mark.integration
PHRASES = ["appointment", "quote", "not interested", "wrong number"]
TRANSCRIBED = topic_of(Call.CallTranscribed)
SPOTTED = topic_of(Call.PhrasesSpotted)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _domain(settings: Settings, clock: ManualClock) -> Iterator[Domain]:
    built = build_domain(settings, clock=clock)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def domain(local_settings: Settings, clock: ManualClock) -> Iterator[Domain]:
    yield from _domain(local_settings, clock)


@pytest.fixture
def market(domain: Domain) -> Market:
    return build_market(domain, buyers=1)


def worker_for(domain: Domain, settings: Settings, transcriber: Transcriber) -> TranscriberWorker:
    return TranscriberWorker(
        domain.app,
        EvidenceHandlers(domain.ctx),
        DirectoryStore(settings.resolved_recordings_dir),
        TranscriptStore(settings.resolved_transcripts_dir),
        transcriber,
    )


def set_keywords(market: Market, phrases: list[str]) -> int:
    campaign = market.domain.setup.change_campaign(
        parse_changes.change_campaign(
            campaign_id=market.campaign_id, keywords={"phrases": phrases}, by="test"
        )
    )
    return campaign.version


def recorded_call(market: Market, clock: ManualClock, settings: Settings, audio: Path) -> str:
    """A completed call with `audio` stored and recorded as its recording → the call's id."""
    d = market.domain.calls
    call_id = market.auction(market.targets).call_id
    d.post_call(PostCall(call_id))
    d.record_answer(RecordAnswer(call_id))
    clock.advance(timedelta(seconds=120))
    d.complete_call(CompleteCall(call_id, 120))
    record(market.domain, settings, call_id, audio)
    return call_id


def record(domain: Domain, settings: Settings, call_id: str, audio: Path) -> str:
    recording_id = f"rec_{uuid.uuid4().hex}"
    location = f"{call_id}/{recording_id}.wav"
    target = settings.resolved_recordings_dir / location
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(audio, target)
    data = target.read_bytes()

    def change() -> tuple[list[Any], None]:
        call = domain.app.find(Call, call_id)
        assert call is not None
        call.record_recording(
            recording_id=recording_id,
            sha256=hashlib.sha256(data).hexdigest(),
            duration_s=len(data) // 16_000,
            size_bytes=len(data),
            location=location,
            content_type="audio/wav",
            at=domain.clock.now(),
        )
        return [call], None

    domain.ctx.run(change, hot=(call_id,))
    return recording_id


def events(domain: Domain, call_id: str, topic: str) -> list[dict[str, Any]]:
    return [
        orjson.loads(state)
        for _, _, stored, state in domain.app.store.read_aggregate(call_id)
        if stored == topic
    ]


def test_a_recorded_call_is_transcribed_spotted_and_hashed_once(
    market: Market,
    clock: ManualClock,
    local_settings: Settings,
    calls: dict[str, Path],
    transcriber: Transcriber,
) -> None:
    version = set_keywords(market, PHRASES)
    call_id = recorded_call(market, clock, local_settings, calls["appointment"])
    worker = worker_for(market.domain, local_settings, transcriber)

    [done] = worker.transcribe_call(call_id)
    assert done.phrases == ("appointment",)
    [transcribed] = events(market.domain, call_id, TRANSCRIBED)
    recording_id = transcribed["recording_id"]
    assert transcribed["location"] == transcript_key(call_id, recording_id)
    stored = TranscriptStore(local_settings.resolved_transcripts_dir).read(transcribed["location"])
    assert "appointment" in stored.split()
    assert transcribed["transcript_sha256"] == text_sha256(stored)
    assert (transcribed["engine"], transcribed["redactions"]) == ("pocketsphinx", 0)
    assert transcribed["audio_ms"] > 1000
    [spotted] = events(market.domain, call_id, SPOTTED)
    assert spotted["phrases"] == ["appointment"]
    assert spotted["campaign_version"] == version
    assert spotted["rule_version"] == SPOTTING_RULES_VERSION

    assert worker.transcribe_call(call_id) == []  # nothing left to do
    again = EvidenceHandlers(market.domain.ctx).record_transcript(
        RecordTranscript(
            call_id,
            recording_id,
            stored,
            text_sha256(stored),
            transcribed["location"],
            "pocketsphinx",
            transcribed["engine_version"],
            0,
            transcribed["audio_ms"],
        )
    )
    assert again == Transcribed(call_id, recording_id, True, None)
    assert len(events(market.domain, call_id, TRANSCRIBED)) == 1
    assert len(events(market.domain, call_id, SPOTTED)) == 1
    call = market.domain.app.find(Call, call_id)
    assert call is not None
    assert call.spotted == {recording_id: ["appointment"]}


def test_card_digits_never_reach_the_store(
    market: Market,
    clock: ManualClock,
    local_settings: Settings,
    calls: dict[str, Path],
    transcriber: Transcriber,
) -> None:
    set_keywords(market, PHRASES)
    call_id = recorded_call(market, clock, local_settings, calls["card"])
    worker_for(market.domain, local_settings, transcriber).transcribe_call(call_id)
    [transcribed] = events(market.domain, call_id, TRANSCRIBED)
    assert transcribed["redactions"] == 1
    stored = (local_settings.resolved_transcripts_dir / transcribed["location"]).read_text()
    assert REDACTED in stored
    assert "one one one" not in stored
    assert events(market.domain, call_id, SPOTTED)[0]["phrases"] == []


def test_without_keywords_nothing_is_spotted(
    market: Market,
    clock: ManualClock,
    local_settings: Settings,
    calls: dict[str, Path],
    transcriber: Transcriber,
) -> None:
    call_id = recorded_call(market, clock, local_settings, calls["not_interested"])
    [done] = worker_for(market.domain, local_settings, transcriber).transcribe_call(call_id)
    assert done.phrases is None
    assert len(events(market.domain, call_id, TRANSCRIBED)) == 1
    assert events(market.domain, call_id, SPOTTED) == []


def test_a_recording_that_is_not_audio_is_skipped(
    market: Market,
    clock: ManualClock,
    local_settings: Settings,
    tmp_path: Path,
    transcriber: Transcriber,
) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not a wave file at all")
    call_id = recorded_call(market, clock, local_settings, junk)
    worker = worker_for(market.domain, local_settings, transcriber)
    assert worker.transcribe_call(call_id) == []
    assert worker.stats.skipped == 1
    assert events(market.domain, call_id, TRANSCRIBED) == []


class FailingOnce(EvidenceHandlers):
    """The first record fails (a worker that died before it); the next ones go through."""

    failed = 0

    def record_transcript(self, cmd: RecordTranscript) -> Transcribed:
        if not self.failed:
            self.failed += 1
            raise RuntimeError("the worker died before the record")
        return super().record_transcript(cmd)


@pytest.mark.anyio
async def test_from_the_stream_a_failure_before_the_record_loses_nothing(
    settings: Settings,
    nats_stream: str,
    clock: ManualClock,
    calls: dict[str, Path],
    transcriber: Transcriber,
) -> None:
    assert settings.nats_url is not None
    domain = build_domain(settings, clock=clock)
    try:
        market = build_market(domain, buyers=1)
        set_keywords(market, PHRASES)
        first = recorded_call(market, clock, settings, calls["appointment"])
        second = recorded_call(market, clock, settings, calls["not_interested"])
        await Relay(
            domain.app.store.read_chained,
            domain.app.positions(),
            nats_url=settings.nats_url,
            stream=nats_stream,
            subject_prefix=settings.nats_subject_prefix,
        ).run(follow=False)
        handlers = FailingOnce(domain.ctx)
        worker = TranscriberWorker(
            domain.app,
            handlers,
            DirectoryStore(settings.resolved_recordings_dir),
            TranscriptStore(settings.resolved_transcripts_dir),
            transcriber,
        )
        worker.retry_delay_s = None  # offered again at once
        stop = asyncio.Event()
        source = StreamSource(settings.nats_url, nats_stream, settings.nats_subject_prefix)
        running = asyncio.create_task(worker.run(source, stop))

        def transcribed(call_id: str) -> bool:
            return bool(events(domain, call_id, TRANSCRIBED))

        await until(lambda: transcribed(first) and transcribed(second), "both transcribed")
        stop.set()
        await running
        assert handlers.failed == 1  # the first try failed, its message came back
        for call_id, phrases in ((first, ["appointment"]), (second, ["not interested"])):
            assert len(events(domain, call_id, TRANSCRIBED)) == 1
            [spotted] = events(domain, call_id, SPOTTED)
            assert spotted["phrases"] == phrases
        campaign = domain.app.find(Campaign, market.campaign_id)
        assert campaign is not None
        assert campaign.keywords == {"phrases": PHRASES}
    finally:
        domain.close()


def verified(domain: Domain, settings: Settings) -> Report:
    return verify(
        domain.app.store.read_chained,
        chain_key(audit_key(settings)),
        parallel=False,
        evidence=evidence_sources(settings, domain.app.store.read_aggregate),
    )


def test_replay_verify_rehashes_the_transcripts_and_spots_again(
    market: Market,
    clock: ManualClock,
    local_settings: Settings,
    calls: dict[str, Path],
    transcriber: Transcriber,
) -> None:
    before = verified(market.domain, local_settings)
    assert before.ok, before.failures
    assert "transcripts" not in before.checked  # named once the log has one
    set_keywords(market, PHRASES)
    call_id = recorded_call(market, clock, local_settings, calls["appointment"])
    worker_for(market.domain, local_settings, transcriber).transcribe_call(call_id)
    report = verified(market.domain, local_settings)
    assert report.ok, report.failures
    assert (report.checked["transcripts"], report.checked["spotting"]) == (1, 1)

    [transcribed] = events(market.domain, call_id, TRANSCRIBED)
    stored = local_settings.resolved_transcripts_dir / transcribed["location"]
    stored.write_text(stored.read_text().replace("appointment", "quote"))
    report = verified(market.domain, local_settings)
    assert [(f.check, f.aggregate_id) for f in report.failures] == [("transcripts", call_id)]
    assert "does not hash" in report.failures[0].message
    stored.unlink()
    report = verified(market.domain, local_settings)
    assert [(f.check, f.aggregate_id) for f in report.failures] == [("transcripts", call_id)]
    assert "missing" in report.failures[0].message


def test_the_projections_take_the_evidence_events_and_the_keywords(
    market: Market,
    clock: ManualClock,
    local_settings: Settings,
    calls: dict[str, Path],
    transcriber: Transcriber,
    tmp_path: Path,
) -> None:
    set_keywords(market, PHRASES)
    call_id = recorded_call(market, clock, local_settings, calls["appointment"])
    worker_for(market.domain, local_settings, transcriber).transcribe_call(call_id)
    store = project_log(market.domain, tmp_path / "analytics.duckdb")
    try:
        tables = dump(store)
    finally:
        store.close()
    assert any(call_id in row for row in tables["calls"])
