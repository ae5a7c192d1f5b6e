"""The body a webhook's recipient gets for one stored event of a call.

A recipient (a publisher, a buyer or an admin) hears of an event only when the call's timeline
would show it the event, and gets exactly the fields the timeline would show it:
`domain.redaction` decides, with the call's events up to and including the one sent (who is a
party to the call, and whose the event is, as of then; so a redelivery, built later, is the
same body). The call's own facts (campaign, geography, attribution) come from its ping, redacted
the same way, so a pixel can fill its tokens from the body and never carry more than it.

The body (`{"id", "type", "created_at", "data"}`) speaks the API's language: money as decimal
strings under names without `_cents`, times in RFC 3339 with `Z`. The caller's number is never
stored (a ping keeps its hash, state and ZIP), so it is in no body.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict

import orjson

from domain.anomaly import CampaignTraffic
from domain.api_key import ApiKey, Role
from domain.blocklist import BlockedCaller
from domain.buyer import Buyer
from domain.call import Call
from domain.caller_history import CallerHistory
from domain.campaign import Campaign
from domain.catalog import ENVELOPE_FIELDS, Reads, topic_of
from domain.invariant import invariant
from domain.money import format_cents
from domain.numbers import NumberPool, TrackingNumber
from domain.publisher import Publisher
from domain.rate_limits import RateLimitReport
from domain.receipt import CommandReceipt
from domain.redaction import (
    CallContext,
    Viewer,
    event_audience,
    owner_of,
    redact_event,
    redact_owned,
)
from domain.saved_query import SavedQueries
from domain.scoring_model import ScoringModels
from domain.target import Target
from domain.user import User
from domain.webhook import Webhook
from domain.webhook_events import OWNED_SENT_FOR, SENT_FOR, WebhookEvent

StoredEvents = Sequence[tuple[str, Mapping[str, Any]]]

# The payloads as a reader of the log: the events of SENT_FOR are sent; the call's other
# events only say who its parties are (the ping also gives its facts); nothing else is read.
READS = Reads(
    "webhooks.payloads",
    handles=(*SENT_FOR, *OWNED_SENT_FOR, Target.Created, ApiKey.Issued),  # the owner: first
    ignores=(
        Call.PingReceived,
        Call.BidReceived,
        Call.BidRejected,
        Call.BidTimedOut,
        Call.PingExpired,
        Call.PostRefused,
        Call.CallRouted,
        Call.QualificationFailed,  # no auction, no buyer: no webhook event type (yet)
        Call.RecordingAvailable,  # internal only (`domain.redaction`): `call.recorded` follows
        Call.RecordingDeleted,
        Call.CallTranscribed,  # no webhook event type for evidence yet
        Call.PhrasesSpotted,
        ApiKey.Revoked,
        ApiKey.ExpirySet,
        ApiKey.ExpiredUnused,
        User,
        SavedQueries,
        Webhook,
        ScoringModels,
        BlockedCaller,
        Buyer,
        CallerHistory,
        Campaign,
        CommandReceipt,
        RateLimitReport,
        CampaignTraffic,
        NumberPool,
        Publisher.Registered,  # no owner: its flag goes to admins only
        Publisher.Renamed,
        Publisher.Suspended,
        Publisher.Reinstated,
        Publisher.PingLimitSet,
        Publisher.ReviewCleared,
        Target.StandingBidSet,
        Target.Paused,
        Target.Resumed,
        Target.RulesChanged,
        Target.Archived,
        Target.CallUnanswered,
        TrackingNumber,
    ),
)
OWNED_TOPICS: dict[str, WebhookEvent] = {topic_of(c): k for c, k in OWNED_SENT_FOR.items()}
# every event sent: a call's (its id is the call's) and an owned aggregate's (a target's, a
# key's: its id is the aggregate's)
SENT_TOPICS: dict[str, WebhookEvent] = {
    **{topic_of(cls): kind for cls, kind in SENT_FOR.items()},
    **OWNED_TOPICS,
}
OWNED_ID_NAMES = {
    topic_of(Target.AutoPaused): "target_id",
    topic_of(ApiKey.ExpiryWarned): "key_id",
    topic_of(Publisher.FlaggedForReview): "publisher_id",
}
_PINGED = topic_of(Call.PingReceived)
MESSAGE_ID_PREFIX = "msg_"


@dataclass(frozen=True, slots=True)
class Recipient:
    """A webhook's owner, as `domain.redaction` sees a viewer: admin (no owner), or a publisher
    or a buyer with its id."""

    role: Role
    owner_id: str | None


class Payload(TypedDict):
    id: str
    type: str
    created_at: str
    data: dict[str, Any]


def message_id(webhook_id: str, call_id: str, version: int) -> str:
    """The same for every delivery of one event to one webhook (the `webhook-id` receivers
    de-duplicate by), and unguessable from another webhook's."""
    digest = hashlib.sha256(f"{webhook_id}\x00{call_id}\x00{version}".encode()).digest()
    return MESSAGE_ID_PREFIX + base64.urlsafe_b64encode(digest[:18]).decode()


def payload(
    webhook_id: str, call_id: str, recipient: Viewer, events: StoredEvents, index: int
) -> Payload | None:
    """The body for `events[index]` of call `call_id` (its stored events in order, each
    `(topic, state)` as the store holds them), or None when it is no webhook event or the
    recipient may not hear of it."""
    invariant(0 <= index < len(events), "the event sent is one of the call's")
    topic, state = events[index]
    kind = SENT_TOPICS.get(topic)
    if kind is None:
        return None
    if topic in OWNED_TOPICS:
        return _owned_payload(webhook_id, call_id, recipient, events, index)
    version = index + 1  # a call's versions count its events from 1
    invariant(state.get("originator_version", version) == version, "events are in order")
    upto = events[: index + 1]
    call = CallContext.of(upto)
    shown = _redacted(recipient, call, CallContext.of(events[:index]), topic, state)
    if shown is None:
        return None
    data: dict[str, Any] = {"call_id": call_id, "version": version}
    ping = _ping_facts(recipient, call, upto)
    if ping is not None:
        data["call"] = ping
    fields = _api_fields(shown)
    invariant(not data.keys() & fields.keys(), "an event's fields do not hide the call's")
    data.update(fields)
    return {
        "id": message_id(webhook_id, call_id, version),
        "type": kind.value,
        "created_at": _rfc3339(state["timestamp"]),
        "data": data,
    }


def _owned_payload(
    webhook_id: str, aggregate_id: str, recipient: Viewer, events: StoredEvents, index: int
) -> Payload | None:
    """An owned aggregate's event (a target's auto-pause, a key's expiry warning) for its
    owner or an admin (`redaction.redact_owned`); None for anyone else."""
    topic, state = events[index]
    version = index + 1
    invariant(state.get("originator_version", version) == version, "events are in order")
    owner = owner_of(*events[0])
    shown = redact_owned(recipient, owner, topic, state)
    if shown is None:
        return None
    data: dict[str, Any] = {OWNED_ID_NAMES[topic]: aggregate_id, "version": version}
    fields = _api_fields(shown)
    invariant(not data.keys() & fields.keys(), "an event's fields do not hide its aggregate's")
    data.update(fields)
    return {
        "id": message_id(webhook_id, aggregate_id, version),
        "type": OWNED_TOPICS[topic].value,
        "created_at": _rfc3339(state["timestamp"]),
        "data": data,
    }


def encode(body: Payload) -> bytes:
    """The bytes sent and signed (UTF-8 JSON)."""
    return orjson.dumps(body)


def _redacted(
    recipient: Viewer,
    call: CallContext,
    before: CallContext,
    topic: str,
    state: Mapping[str, Any],
) -> dict[str, Any] | None:
    """What `redaction.call_timeline` shows the recipient of this event, or None."""
    audience = event_audience(recipient, call, before, topic, state)
    return None if audience is None else redact_event(audience, topic, state)


def _ping_facts(
    recipient: Viewer, call: CallContext, events: StoredEvents
) -> dict[str, Any] | None:
    """The call's ping as the recipient's timeline shows it (None: no ping among the events,
    or not shown)."""
    for topic, state in events[:1]:
        if topic == _PINGED:
            shown = _redacted(recipient, call, CallContext(), topic, state)
            return None if shown is None else _api_fields(shown)
    return None


def _api_fields(state: Mapping[str, Any]) -> dict[str, Any]:
    """An event's payload fields as the API shows them: `revenue_cents` → `revenue` as a
    decimal string, times in RFC 3339 with `Z`; the envelope (topic, version, time) is not
    among them."""
    fields: dict[str, Any] = {}
    for name, value in state.items():
        if name in ENVELOPE_FIELDS:
            continue
        if name.endswith("_cents"):
            fields[name[: -len("_cents")]] = None if value is None else format_cents(int(value))
        elif name.endswith("_at") and value is not None:
            fields[name] = _rfc3339(value)
        else:
            fields[name] = value
    return fields


def _rfc3339(value: datetime | str) -> str:
    """A stored time (RFC 3339 text as orjson writes it, or a decoded datetime) in UTC, `Z`."""
    at = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    invariant(at.tzinfo is not None, "stored times are aware")
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")
