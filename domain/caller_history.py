"""When a caller was last billed to a buyer on a campaign: the duplicate rule's source of truth.

One aggregate per (caller hash, buyer, campaign), saved with the billing decision, so two
concurrent completions for the same caller cannot both bill: the second conflicts, retries and
sees the first."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from domain.base import PPCXAggregate
from domain.ids import derived_id


def caller_history_id(caller_hash: str, buyer_id: str, campaign_id: str) -> str:
    return derived_id("cmd", "caller-history", caller_hash, buyer_id, campaign_id)


class CallerHistory(PPCXAggregate):
    class Started(PPCXAggregate.Created):
        caller_hash: str
        buyer_id: str
        campaign_id: str

        def apply(self, aggregate: CallerHistory) -> None:
            aggregate.caller_hash = self.caller_hash
            aggregate.buyer_id = self.buyer_id
            aggregate.campaign_id = self.campaign_id
            aggregate.last_billed_at = None
            aggregate.last_billed_call_id = None

    class CallerBilled(PPCXAggregate.Event):
        call_id: str

        def apply(self, aggregate: CallerHistory) -> None:
            aggregate.last_billed_at = self.timestamp
            aggregate.last_billed_call_id = self.call_id

    if TYPE_CHECKING:  # state attributes (annotations here would make the library
        # generate an __init__ from them)
        caller_hash: str
        buyer_id: str
        campaign_id: str
        last_billed_at: datetime | None
        last_billed_call_id: str | None

    @classmethod
    def start(
        cls, caller_hash: str, buyer_id: str, campaign_id: str, at: datetime
    ) -> CallerHistory:
        return cls.record_created(
            cls.Started,
            id=caller_history_id(caller_hash, buyer_id, campaign_id),
            caller_hash=caller_hash,
            buyer_id=buyer_id,
            campaign_id=campaign_id,
            timestamp=at,
        )

    def record_billed(self, call_id: str, at: datetime) -> None:
        self.trigger_event(self.CallerBilled, call_id=call_id, timestamp=at)
