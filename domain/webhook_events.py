"""What a webhook subscribes to: the event types of API.md's "Webhooks and pixels (v1.1)", and
which stored call events each is sent for. Pure: the delivery worker and the subscriptions API
read the same table."""

from __future__ import annotations

from enum import StrEnum

from domain.api_key import ApiKey
from domain.call import Call
from domain.publisher import Publisher
from domain.target import Target


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
    TARGET_AUTO_PAUSED = "target.auto_paused"  # sent (OWNED_SENT_FOR)
    API_KEY_EXPIRING = "api_key.expiring"  # sent (OWNED_SENT_FOR)
    CALL_RECORDED = "call.recorded"  # sent (SENT_FOR)
    CALL_SCORED = "call.scored"  # sent (SENT_FOR)
    # traffic quality: a completed call's flags (to its parties, as its timeline shows them),
    # and a publisher flagged for review by the anomaly watch (admins only)
    CALL_FLAGGED = "call.flagged"
    PUBLISHER_FLAGGED = "publisher.flagged"  # sent (OWNED_SENT_FOR)


# the stored call event each webhook event is sent for (a ping is accepted when its auction
# found a winner: AuctionDecided; rejected when none: NoBuyerFound, or when screened out
# before the auction: PingScreened)
SENT_FOR: dict[type, WebhookEvent] = {
    Call.AuctionDecided: WebhookEvent.PING_ACCEPTED,
    Call.NoBuyerFound: WebhookEvent.PING_REJECTED,
    Call.PingScreened: WebhookEvent.PING_REJECTED,  # refused before the auction
    Call.CallPosted: WebhookEvent.CALL_POSTED,
    Call.CallAnswered: WebhookEvent.CALL_ANSWERED,
    Call.CallFailedOver: WebhookEvent.CALL_FAILED_OVER,
    Call.CallCompleted: WebhookEvent.CALL_COMPLETED,
    Call.CallFlagged: WebhookEvent.CALL_FLAGGED,
    Call.CallBilled: WebhookEvent.CALL_BILLED,
    Call.CallNotBilled: WebhookEvent.CALL_NOT_BILLED,
    Call.CallConverted: WebhookEvent.CALL_CONVERTED,
    Call.CallDisputed: WebhookEvent.CALL_DISPUTED,
    Call.DisputeResolved: WebhookEvent.DISPUTE_RESOLVED,
    Call.CallRecorded: WebhookEvent.CALL_RECORDED,
    Call.CallScored: WebhookEvent.CALL_SCORED,
}

# events of an owned aggregate (a target, an API key) sent to its owner and to admins: the
# body names the aggregate (`target_id`, `key_id`) and the fields `domain.redaction.OWNER_FIELDS`
# lets its owner see
OWNED_SENT_FOR: dict[type, WebhookEvent] = {
    Target.AutoPaused: WebhookEvent.TARGET_AUTO_PAUSED,
    ApiKey.ExpiryWarned: WebhookEvent.API_KEY_EXPIRING,
    Publisher.FlaggedForReview: WebhookEvent.PUBLISHER_FLAGGED,  # no owner: admins only
}
