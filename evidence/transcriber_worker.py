"""The transcriber (role `transcriber`, `ppcx transcriber`): recorded calls → redacted
transcripts → `Call.CallTranscribed` (+ `Call.PhrasesSpotted`).

* **Work** comes from the relay's JetStream stream: a durable pull consumer
  (`ppcx-transcriber`, explicit acks) filtered to `Call.CallRecorded`'s subject. For each
  message the worker loads the call from the store and transcribes every recording it has
  that has no transcript yet (so a message also catches up an earlier recording whose
  message was lost).
* **A recording**: open it in the recordings store, decode it (`evidence.transcription`),
  redact it (`domain.transcript.redact`), store the redacted text under its ids-only key in
  the transcripts store (atomic), then record the hash, with the phrases the campaign's
  `keywords` spot in it (`handlers.evidence`), and only then acknowledge the message.
* **Crashes lose nothing and record nothing twice**: a worker that dies before the record
  gets the message again (after `ACK_WAIT_S`) and writes the same text again under the same
  key; after the record, the handler finds the recording transcribed and records nothing.
  While a long recording decodes, the worker tells JetStream it is in progress every
  `PROGRESS_EVERY_S`, so the message is not handed to another worker meanwhile.
* **A recording that cannot be transcribed** (missing from the store, not 8/16 kHz 16-bit
  PCM WAV, longer than the bound) is logged and acknowledged: trying again would fail the
  same way. Any other error naks the message: offered again after `RETRY_DELAY_S`, at most
  `MAX_DELIVER` times in all (then logged and dropped by JetStream: the next message of the
  same call, or a restart of the consumer from a new durable, transcribes it).
* Decoding is CPU-bound: it runs in one thread of its own (`ppcx-transcriber`), one
  recording at a time; the event loop only fetches, heartbeats and acknowledges.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import nats
import orjson
from nats.aio.msg import Msg

from domain.call import Call
from domain.catalog import topic_of
from domain.commands import RecordTranscript
from domain.limits import TRANSCRIBER_BATCH_MAX
from domain.transcript import redact
from eventstore.application import PPCXApplication
from eventstore.stream_consumer import StreamSource, consume, durable_config
from evidence.recordings import RecordingStore
from evidence.transcription import Transcriber, UnsupportedAudio
from evidence.transcripts import TranscriptStore, transcript_key
from handlers.evidence import EvidenceHandlers, Transcribed

logger = logging.getLogger(__name__)
DURABLE = "ppcx-transcriber"
RECORDED_TOPIC = topic_of(Call.CallRecorded)
ACK_WAIT_S = 60.0
PROGRESS_EVERY_S = 15.0  # well within ACK_WAIT_S
MAX_DELIVER = 10
RETRY_DELAY_S = 5.0  # a failed message is offered again after this (not at once, in a loop)
THREAD_NAME = "ppcx-transcriber"


def recorded_subject(subject_prefix: str) -> str:
    """The stream subject of `Call.CallRecorded` (the relay's `<prefix>.<Aggregate.Event>`)."""
    return f"{subject_prefix}.{RECORDED_TOPIC.rpartition(':')[2]}"


@dataclass
class TranscriberStats:
    messages: int = 0
    transcribed: list[Transcribed] = field(default_factory=list)
    skipped: int = 0  # recordings that cannot be transcribed


class TranscriberWorker:
    def __init__(
        self,
        app: PPCXApplication,
        handlers: EvidenceHandlers,
        recordings: RecordingStore,
        transcripts: TranscriptStore,
        transcriber: Transcriber,
    ) -> None:
        self.app = app
        self.handlers = handlers
        self.recordings = recordings
        self.transcripts = transcripts
        self.transcriber = transcriber
        self.stats = TranscriberStats()
        self.retry_delay_s: float | None = RETRY_DELAY_S

    # -- one call (blocking: the worker's thread, or a test) -----------------------------------

    def transcribe_call(self, call_id: str) -> list[Transcribed]:
        """Transcribe each of the call's recordings that has no transcript yet."""
        call = self.app.find(Call, call_id)
        if call is None:
            logger.warning("transcriber: call %s not found", call_id)
            return []
        done = []
        for recording_id, location in _stored_recordings(call):
            if recording_id in call.transcripts:
                continue
            result = self.transcribe_recording(call_id, recording_id, location)
            if result is not None:
                done.append(result)
        return done

    def transcribe_recording(
        self, call_id: str, recording_id: str, location: str
    ) -> Transcribed | None:
        try:
            with self.recordings.open(location) as audio:
                heard = self.transcriber.transcribe(audio)
        except (UnsupportedAudio, FileNotFoundError) as error:
            logger.warning(
                "transcriber: recording %s of call %s not transcribed: %s",
                recording_id,
                call_id,
                error,
            )
            self.stats.skipped += 1
            return None
        redacted = redact(heard.text)
        key = transcript_key(call_id, recording_id)
        sha256 = self.transcripts.put(key, redacted.text)
        result = self.handlers.record_transcript(
            RecordTranscript(
                call_id=call_id,
                recording_id=recording_id,
                text=redacted.text,
                sha256=sha256,
                location=key,
                engine=heard.engine,
                engine_version=heard.engine_version,
                redactions=redacted.redactions,
                audio_ms=heard.audio_ms,
            )
        )
        self.stats.transcribed.append(result)
        return result

    # -- the stream ------------------------------------------------------------------------

    async def run(self, source: StreamSource, stop: asyncio.Event) -> None:
        """Consume `Call.CallRecorded` messages until `stop` is set."""
        config = durable_config(
            DURABLE,
            ack_wait_s=ACK_WAIT_S,
            max_ack_pending=TRANSCRIBER_BATCH_MAX,
            max_deliver=MAX_DELIVER,
            filter_subject=recorded_subject(source.subject_prefix),
        )
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=THREAD_NAME)
        try:
            await consume(
                source,
                config,
                TRANSCRIBER_BATCH_MAX,
                lambda messages: self._handle_all(messages, executor, stop),
                stop,
                name="transcriber",
            )
        finally:
            executor.shutdown(wait=True)

    async def _handle_all(
        self, messages: list[Msg], executor: ThreadPoolExecutor, stop: asyncio.Event
    ) -> None:
        pending = list(messages)
        heartbeat = asyncio.create_task(_keep_in_progress(pending))
        loop = asyncio.get_running_loop()
        try:
            while pending:
                message = pending[0]
                if stop.is_set():  # handed back at once, not after ACK_WAIT_S
                    await message.nak()
                    pending.pop(0)
                    continue
                call_id = orjson.loads(message.data)["originator_id"]
                try:
                    await loop.run_in_executor(executor, self.transcribe_call, call_id)
                except Exception:
                    logger.exception("transcriber: call %s failed; tried again", call_id)
                    await message.nak(delay=self.retry_delay_s)
                else:
                    await message.ack()
                self.stats.messages += 1
                pending.pop(0)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat


def _stored_recordings(call: Call) -> list[tuple[str, str]]:
    """The call's recordings still stored: (recording id, location), by id. A recording is
    its location here, or e-record's `Recording` (`.location`, `.deleted`) once merged."""
    found = []
    for recording_id, recording in sorted(call.recordings.items()):
        if getattr(recording, "deleted", False):
            continue
        found.append((recording_id, str(getattr(recording, "location", recording))))
    return found


async def _keep_in_progress(pending: list[Msg]) -> None:
    """Tell JetStream every `PROGRESS_EVERY_S` that the batch's messages are being worked on."""
    while True:
        await asyncio.sleep(PROGRESS_EVERY_S)
        for message in list(pending):
            with contextlib.suppress(nats.errors.Error):
                await message.in_progress()
