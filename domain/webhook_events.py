"""What a webhook subscribes to: the event types of API.md's "Webhooks and pixels (v1.1)", and
which stored call events each is sent for. Pure: the delivery worker and the subscriptions API
read the same table."""

from __future__ import annotations

from enum import StrEnum

from domain.call import Call


class WebhookEvent(StrEnum):
    PING_ACCEPTED = "ping.accepted"
    PING_REJECTED = "ping.rejected"
    CALL_POSTED = "call.posted"
    CALL_ANSWERED = "call.answered"
    CALL_FAILED_OVER = "call.failed_over"
    CALL_COMPLETED = "call.completed"
    CALL_BILLED = "call.billed"
    CALL_NOT_BILLED = "call.not_billed"
    CALL_CONVERTED = "call.converted"
    CALL_DISPUTED = "call.disputed"
    DISPUTE_RESOLVED = "dispute.resolved"
    # issued by later issues' events (quality controls, call evidence): accepted in a
    # subscription today, sent once their events exist
    TARGET_AUTO_PAUSED = "target.auto_paused"
    CALL_RECORDED = "call.recorded"
    CALL_SCORED = "call.scored"


# the stored call event each webhook event is sent for (a ping is accepted when its auction
# found a winner: AuctionDecided; rejected when none: NoBuyerFound)
SENT_FOR: dict[type, WebhookEvent] = {
    Call.AuctionDecided: WebhookEvent.PING_ACCEPTED,
    Call.NoBuyerFound: WebhookEvent.PING_REJECTED,
    Call.CallPosted: WebhookEvent.CALL_POSTED,
    Call.CallAnswered: WebhookEvent.CALL_ANSWERED,
    Call.CallFailedOver: WebhookEvent.CALL_FAILED_OVER,
    Call.CallCompleted: WebhookEvent.CALL_COMPLETED,
    Call.CallBilled: WebhookEvent.CALL_BILLED,
    Call.CallNotBilled: WebhookEvent.CALL_NOT_BILLED,
    Call.CallConverted: WebhookEvent.CALL_CONVERTED,
    Call.CallDisputed: WebhookEvent.CALL_DISPUTED,
    Call.DisputeResolved: WebhookEvent.DISPUTE_RESOLVED,
}
