"""Call recordings in the log: `Call.RecordingAvailable` when the telephony reports one (the
fetch queue's durable half), `Call.CallRecorded` once the bytes are stored and hashed,
`Call.RecordingDeleted` once they are deleted. The store and the fetch are the evidence
package's (`evidence.recordings`, `evidence.twilio_fetch`); these handlers only record."""

from __future__ import annotations

from dataclasses import dataclass

from domain.base import PPCXAggregate
from domain.call import Call
from domain.campaign import Campaign
from domain.commands import DeleteRecording, NoteRecordingAvailable, RecordRecording
from domain.recording import Recording, RecordingRule
from handlers.unit_of_work import HandlerContext


@dataclass(frozen=True)
class RecordedOutcome:
    recorded: bool  # False: recorded before (a retried fetch)
    rule: RecordingRule | None  # the campaign's recording rule now (retention, access)


@dataclass(frozen=True)
class AvailableOutcome:
    noted: bool  # False: noted before (a retried callback)
    recorded: bool  # the recording is fetched and recorded already: nothing to queue


class RecordingHandlers:
    def __init__(self, ctx: HandlerContext) -> None:
        self.ctx = ctx
        self.app = ctx.app

    def available(self, cmd: NoteRecordingAvailable) -> AvailableOutcome:
        """Record `RecordingAvailable` (nothing when noted before: a retried callback)."""

        def change() -> tuple[list[PPCXAggregate], AvailableOutcome]:
            call = self.app.load(Call, cmd.call_id, "call_id")
            noted = call.recording_available(
                recording_id=cmd.recording_id,
                recording_sid=cmd.recording_sid,
                duration_s=cmd.duration_s,
                at=self.ctx.now(),
            )
            outcome = AvailableOutcome(noted, cmd.recording_id in call.recordings)
            return ([call] if noted else []), outcome

        return self.ctx.run(change, hot=(cmd.call_id,))

    def record(self, cmd: RecordRecording) -> RecordedOutcome:
        def change() -> tuple[list[PPCXAggregate], bool]:
            call = self.app.load(Call, cmd.call_id, "call_id")
            recorded = call.record_recording(
                recording_id=cmd.recording_id,
                sha256=cmd.sha256,
                duration_s=cmd.duration_s,
                size_bytes=cmd.size_bytes,
                location=cmd.location,
                content_type=cmd.content_type,
                at=self.ctx.now(),
            )
            return ([call] if recorded else []), recorded

        recorded = self.ctx.run(change, hot=(cmd.call_id,))
        return RecordedOutcome(recorded, self.rule_of(cmd.call_id))

    def delete(self, cmd: DeleteRecording) -> bool:
        def change() -> tuple[list[PPCXAggregate], bool]:
            call = self.app.load(Call, cmd.call_id, "call_id")
            deleted = call.delete_recording(cmd.recording_id, cmd.reason, cmd.by, self.ctx.now())
            return ([call] if deleted else []), deleted

        return self.ctx.run(change, hot=(cmd.call_id,))

    def rule_of(self, call_id: str) -> RecordingRule | None:
        """The recording rule of the call's campaign, as it is now."""
        call = self.app.load(Call, call_id, "call_id")
        campaign = self.app.load(Campaign, call.campaign_id, "campaign_id")
        return RecordingRule.of(campaign.recording)

    def recordings(self, call_id: str) -> list[Recording]:
        return list(self.app.load(Call, call_id, "call_id").recordings.values())
