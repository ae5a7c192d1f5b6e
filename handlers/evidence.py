"""Call evidence: a recording's transcript, and the campaign's phrases spotted in it.

`record_transcript` records `Call.CallTranscribed` and, when the call's campaign has
`keywords`, `Call.PhrasesSpotted` (the phrases found, maybe none, with the campaign's version
read in the same decision) in one atomic save: the worker that stored the transcript calls it
once per recording; a second call for a recording already transcribed records nothing
(`Transcribed.already`), so a worker that died between the save and its acknowledgement can
simply run again.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.base import PPCXAggregate
from domain.call import Call
from domain.campaign import Campaign
from domain.commands import RecordTranscript
from domain.errors import NotFound
from domain.invariant import invariant
from domain.transcript import SPOTTING_RULES_VERSION, phrases_of, spot, text_sha256
from handlers.unit_of_work import HandlerContext


@dataclass(frozen=True)
class Transcribed:
    call_id: str
    recording_id: str
    already: bool  # it was transcribed before: nothing recorded now
    phrases: tuple[str, ...] | None  # None: the campaign spots no phrases


class EvidenceHandlers:
    def __init__(self, ctx: HandlerContext) -> None:
        self.ctx = ctx
        self.app = ctx.app

    def record_transcript(self, cmd: RecordTranscript) -> Transcribed:
        invariant(text_sha256(cmd.text) == cmd.sha256, "the transcript's hash is its text's")

        def change() -> tuple[list[PPCXAggregate], Transcribed]:
            call = self.app.find(Call, cmd.call_id)
            if call is None:
                raise NotFound(f"call_id {cmd.call_id!r} does not exist", field="call_id")
            if cmd.recording_id in call.transcripts:
                return [], Transcribed(cmd.call_id, cmd.recording_id, True, None)
            at = self.ctx.now()
            call.record_transcript(
                cmd.recording_id,
                cmd.sha256,
                cmd.location,
                cmd.engine,
                cmd.engine_version,
                cmd.redactions,
                cmd.audio_ms,
                at,
            )
            campaign = self.app.find(Campaign, call.campaign_id)
            phrases = phrases_of(campaign.keywords) if campaign is not None else ()
            if not phrases:
                return [call], Transcribed(cmd.call_id, cmd.recording_id, False, None)
            found = spot(cmd.text, phrases)
            call.spot_phrases(
                cmd.recording_id,
                found,
                campaign.version if campaign is not None else None,
                SPOTTING_RULES_VERSION,
                at,
            )
            return [call], Transcribed(cmd.call_id, cmd.recording_id, False, tuple(found))

        return self.ctx.run(change, hot=(cmd.call_id,))
