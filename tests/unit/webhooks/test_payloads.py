"""Webhook bodies: one per event of SENT_FOR, to whom the call's timeline would show it, with
what the timeline would show (`domain.redaction`), money as decimal strings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings

from domain.api_key import ApiKey, Role
from domain.call import Call
from domain.catalog import ENVELOPE_FIELDS, event_classes, topic_of
from domain.publisher import Publisher
from domain.redaction import call_timeline
from domain.target import Target
from domain.webhook_events import OWNED_SENT_FOR, SENT_FOR, WebhookEvent
from tests.unit.webhooks.stories import (
    BUYERS,
    CALL_ID,
    CALLER_NUMBER,
    LATE_BIDDER,
    PUBLISHER,
    Story,
    build,
    stories,
)
from webhooks.payloads import READS, SENT_TOPICS, Payload, Recipient, encode, message_id, payload

pytestmark = pytest.mark.unit

HOOK = "wh_1"
THE_PUBLISHER = Recipient(Role.PUBLISHER, PUBLISHER)
ADMIN = Recipient(Role.ADMIN, None)
WINNER = Recipient(Role.BUYER, "buy_a")  # won the auction, failed over
ROUTED = Recipient(Role.BUYER, "buy_b")  # the failover's target: answered, billed
LOSER = Recipient(Role.BUYER, "buy_c")  # bid and lost
LATE = Recipient(Role.BUYER, LATE_BIDDER)  # its bid timed out
STRANGERS = (Recipient(Role.PUBLISHER, "pub_2"), Recipient(Role.BUYER, "buy_q"), LOSER, LATE)
# names a publisher's body never holds, at any depth (`_cents` gone: the API's names)
BUYER_FIELDS = {
    "buyer_id",
    "winner_buyer_id",
    "target_id",
    "winner_target_id",
    "next_target_id",
    "destination",
    "amount",
    "price",
    "revenue",
    "margin",
    "floor",
    "value",
    "ranking",
    "hold_id",
    "buffer_s",
    "excluded",
    "skipped",
    "seed",
    "market",
}
# names a buyer's body never holds: the publisher, its money and attribution, the auction
PUBLISHER_FIELDS = {
    "publisher_id",
    "payout",
    "margin",
    "floor",
    "attribution",
    "tags",
    "ranking",
    "excluded",
    "skipped",
    "next_target_id",
    "seed",
    "market",
}


def _sent(events: list[tuple[str, dict[str, Any]]], who: Recipient) -> dict[str, Payload]:
    """The bodies the recipient gets, by webhook event type (the last of each type)."""
    bodies = (payload(HOOK, CALL_ID, who, events, i) for i in range(len(events)))
    return {body["type"]: body for body in bodies if body is not None}


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from _keys(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _keys(inner)


FULL = build(Story())  # won by a, failed over to b, answered, billed, converted, disputed


def test_the_payloads_read_every_event_decided() -> None:
    assert READS.undecided() == []
    assert READS.handled | READS.ignored == set(event_classes())
    # an owned aggregate's events sent, and its first event, which names its owner
    owners = {Target.Created, ApiKey.Issued}
    assert READS.handled == set(SENT_FOR) | set(OWNED_SENT_FOR) | owners


def _owned(topic: type, state: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    created = {"buyer_id": "buy_a", "originator_version": 1, "timestamp": "2026-03-01T00:00:00Z"}
    first = (topic_of(Target.Created), created)
    if topic is ApiKey.ExpiryWarned:
        first = (
            topic_of(ApiKey.Issued),
            {**created, "role": "buyer", "owner_id": "buy_a", "key_hash": "h", "label": "l"},
        )
    return [first, (topic_of(topic), {**state, "originator_version": 2})]


def test_an_owned_aggregates_event_goes_to_its_owner_and_admins_only() -> None:
    paused = {
        "reason": "3 calls unanswered within 3600 s",
        "call_ids": ["call_1", "call_2", "call_3"],
        "rule": {"unanswered": 3, "window_s": 3600},
        "rule_version": 1,
        "by": "system",
        "timestamp": "2026-03-01T01:00:00+00:00",
    }
    events = _owned(Target.AutoPaused, paused)
    owner = payload(HOOK, "tgt_1", WINNER, events, 1)
    assert owner is not None
    assert owner["type"] == "target.auto_paused"
    assert owner["created_at"] == "2026-03-01T01:00:00Z"
    assert owner["data"] == {
        "target_id": "tgt_1",
        "version": 2,
        "reason": paused["reason"],
        "call_ids": paused["call_ids"],
        "rule": paused["rule"],
        "rule_version": 1,
    }
    admin = payload(HOOK, "tgt_1", ADMIN, events, 1)
    assert admin is not None
    assert admin["data"]["by"] == "system"
    for stranger in (*STRANGERS, THE_PUBLISHER, Recipient(Role.FINANCE, None)):
        assert payload(HOOK, "tgt_1", stranger, events, 1) is None
    assert payload(HOOK, "tgt_1", WINNER, events, 0) is None  # its creation is not sent
    warned = {"expires_at": "2026-03-05T00:00:00+00:00", "warning_days": 7, "by": "system"}
    warned["timestamp"] = "2026-03-01T00:00:00+00:00"
    key_events = _owned(ApiKey.ExpiryWarned, warned)
    to_owner = payload(HOOK, "key_1", WINNER, key_events, 1)
    assert to_owner is not None
    assert to_owner["type"] == "api_key.expiring"
    assert to_owner["data"] == {
        "key_id": "key_1",
        "version": 2,
        "expires_at": "2026-03-05T00:00:00Z",
        "warning_days": 7,
    }
    assert payload(HOOK, "key_1", LOSER, key_events, 1) is None


def test_each_event_goes_to_the_parties_its_timeline_shows_it_to() -> None:
    assert set(_sent(FULL, THE_PUBLISHER)) == set(WebhookEvent) - {
        WebhookEvent.PING_REJECTED,
        WebhookEvent.CALL_NOT_BILLED,
        WebhookEvent.TARGET_AUTO_PAUSED,
        WebhookEvent.API_KEY_EXPIRING,
        WebhookEvent.CALL_RECORDED,
        WebhookEvent.CALL_SCORED,
        WebhookEvent.CALL_FLAGGED,  # no flag in this call's life
        WebhookEvent.PUBLISHER_FLAGGED,
    }
    assert set(_sent(FULL, ADMIN)) == set(_sent(FULL, THE_PUBLISHER))
    assert set(_sent(FULL, WINNER)) == {"ping.accepted", "call.posted", "call.failed_over"}
    assert set(_sent(FULL, ROUTED)) == {
        "call.answered",
        "call.completed",
        "call.billed",
        "call.converted",
        "call.disputed",
        "dispute.resolved",
    }
    for stranger in STRANGERS:
        assert _sent(FULL, stranger) == {}, stranger


def test_a_rejected_ping_goes_to_its_publisher_alone() -> None:
    events = build(Story(decided=False))
    assert set(_sent(events, THE_PUBLISHER)) == {"ping.rejected"}
    body = _sent(events, THE_PUBLISHER)["ping.rejected"]
    assert body["data"]["reason"] == "below_floor"
    assert "excluded" not in body["data"]
    assert _sent(events, ADMIN)["ping.rejected"]["data"]["excluded"] == {"tgt_x": "geo"}
    for buyer in (WINNER, ROUTED, LOSER, LATE):
        assert _sent(events, buyer) == {}


def test_an_unbilled_call_tells_the_routed_buyer_and_the_publisher() -> None:
    events = build(Story(failovers=0, answered=False, converted=False))
    publisher = _sent(events, THE_PUBLISHER)["call.not_billed"]["data"]
    assert publisher["reason"] == "not_answered"
    assert "buyer_id" not in publisher
    assert _sent(events, WINNER)["call.not_billed"]["data"]["buyer_id"] == "buy_a"
    assert "call.not_billed" not in _sent(events, LOSER)


def test_the_publisher_gets_its_payout_and_the_buyer_its_price() -> None:
    publisher = _sent(FULL, THE_PUBLISHER)
    accepted = publisher["ping.accepted"]["data"]
    assert accepted["payout"] == "30.00"
    assert accepted["expires_at"] == "2026-03-08T07:01:05Z"
    assert accepted["call"]["attribution"]["keyword"] == "car accident lawyer"
    assert accepted["call"]["publisher_id"] == PUBLISHER
    assert publisher["call.billed"]["data"]["payout"] == "29.00"
    assert publisher["call.completed"]["data"]["duration_s"] == 125
    winner = _sent(FULL, WINNER)["ping.accepted"]["data"]
    assert winner["price"] == "45.00"
    assert winner["winner_buyer_id"] == "buy_a"
    assert winner["call"] == {
        "campaign_id": "cmp_1",
        "caller_hash": "hash_1",
        "geo": winner["call"]["geo"],
        "consent": None,  # the caller's consent references: none sent with this ping
    }
    billed = _sent(FULL, ROUTED)["call.billed"]["data"]
    assert billed["revenue"] == "44.00"
    assert "payout" not in billed
    assert _sent(FULL, ROUTED)["call.converted"]["data"]["value"] == "250.00"
    assert "value" not in publisher["call.converted"]["data"]
    admin = _sent(FULL, ADMIN)["call.billed"]["data"]
    assert admin["margin"] == "15.00"
    assert admin["call"]["market"] == "main"


def test_the_envelope() -> None:
    body = payload(HOOK, CALL_ID, THE_PUBLISHER, FULL, 5)
    assert body is not None
    assert body["type"] == "ping.accepted"
    assert body["created_at"] == "2026-03-08T07:00:05Z"
    assert body["data"]["call_id"] == CALL_ID
    assert body["data"]["version"] == 6
    assert body["id"] == message_id(HOOK, CALL_ID, 6)
    assert body["id"].startswith("msg_")
    assert body["id"] != message_id("wh_2", CALL_ID, 6)
    assert body["id"] != message_id(HOOK, CALL_ID, 7)
    assert body["id"] != message_id(HOOK, "call_2", 6)


def test_a_redelivery_after_later_events_is_the_same_body() -> None:
    early = build(Story(posted=True, failovers=0, answered=False, converted=False))
    first = payload(HOOK, CALL_ID, THE_PUBLISHER, early[:8], 5)
    later = payload(HOOK, CALL_ID, THE_PUBLISHER, early, 5)
    assert first is not None
    assert later is not None
    assert encode(first) == encode(later)


def test_events_sent_for_nothing_are_not_sent() -> None:
    for index, (topic, _) in enumerate(FULL):
        if topic not in SENT_TOPICS:
            assert payload(HOOK, CALL_ID, ADMIN, FULL, index) is None, topic
    assert topic_of(Call.CallRouted) not in SENT_TOPICS


@pytest.mark.parametrize("who", [THE_PUBLISHER, ADMIN, WINNER, ROUTED, LOSER, LATE])
def test_a_body_is_what_the_timeline_shows_then(who: Recipient) -> None:
    for index, (topic, _) in enumerate(FULL):
        body = payload(HOOK, CALL_ID, who, FULL, index)
        assert (body is not None) == (topic in SENT_TOPICS and _shown_at(who, FULL, index))
        if body is not None:
            shown = call_timeline(who, FULL[: index + 1])
            assert shown is not None
            fields = {_api_name(k) for k in shown[-1][1] if k not in ENVELOPE_FIELDS}
            assert set(body["data"]) - {"call_id", "version", "call"} == fields


def _api_name(field: str) -> str:
    return field.removesuffix("_cents")


def _shown_at(who: Recipient, events: list[tuple[str, dict[str, Any]]], index: int) -> bool:
    shown = call_timeline(who, events[: index + 1]) or []
    before = call_timeline(who, events[:index]) or []
    return len(shown) > len(before)


def _assert_publisher_body_clean(body: Payload) -> None:
    keys = set(_keys(body))
    assert not keys & BUYER_FIELDS, keys & BUYER_FIELDS
    text = encode(body).decode()
    for buyer in (*BUYERS, LATE_BIDDER):
        assert buyer not in text
    assert "tgt_" not in text
    assert "+1800" not in text  # a buyer's destination
    assert CALLER_NUMBER not in text


def _assert_buyer_body_clean(body: Payload, buyer: str) -> None:
    keys = set(_keys(body))
    assert not keys & PUBLISHER_FIELDS, keys & PUBLISHER_FIELDS
    text = encode(body).decode()
    assert PUBLISHER not in text
    for other in (*BUYERS, LATE_BIDDER):
        if other != buyer:
            assert other not in text, other
    assert CALLER_NUMBER not in text


@settings(max_examples=60, deadline=None)
@given(stories)
def test_no_recipient_ever_gets_what_it_may_not_see(story: Story) -> None:
    events = build(story)
    for index in range(len(events)):
        body = payload(HOOK, CALL_ID, THE_PUBLISHER, events, index)
        if body is not None:
            _assert_publisher_body_clean(body)
        for buyer in (*BUYERS, LATE_BIDDER):
            bought = payload(HOOK, CALL_ID, Recipient(Role.BUYER, buyer), events, index)
            if bought is not None:
                _assert_buyer_body_clean(bought, buyer)
        admin = payload(HOOK, CALL_ID, ADMIN, events, index)
        assert (admin is not None) == (events[index][0] in SENT_TOPICS)
        assert payload(HOOK, CALL_ID, Recipient(Role.PUBLISHER, "pub_2"), events, index) is None
        assert payload(HOOK, CALL_ID, Recipient(Role.BUYER, None), events, index) is None


def _with_flag(events: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """The story's call with a `CallFlagged` after its completion (versions renumbered)."""
    at = next(i for i, (t, _) in enumerate(events) if t == topic_of(Call.CallCompleted)) + 1
    flagged = {
        "flags": ["buzzer_beater"],
        "rule_version": 1,
        "ended_by": "buyer",
        "duration_s": 55,
        "buffer_s": 60,
        "margin_s": 10,
        "short_call_s": 10,
        "timestamp": events[at - 1][1]["timestamp"],
    }
    found = [*events[:at], (topic_of(Call.CallFlagged), flagged), *events[at:]]
    return [(t, {**s, "originator_version": n + 1}) for n, (t, s) in enumerate(found)]


def test_a_calls_flags_go_to_its_publisher_and_its_buyer() -> None:
    events = _with_flag(FULL)
    to_buyer = _sent(events, ROUTED)["call.flagged"]
    assert to_buyer["data"]["flags"] == ["buzzer_beater"]
    assert to_buyer["data"]["buffer_s"] == 60
    to_publisher = _sent(events, THE_PUBLISHER)["call.flagged"]
    assert to_publisher["data"]["ended_by"] == "buyer"
    assert "buffer_s" not in to_publisher["data"]
    for stranger in (*STRANGERS, WINNER):  # the winner handed the call on before it ended
        assert "call.flagged" not in _sent(events, stranger)


def test_a_publisher_flagged_for_review_goes_to_admins_only() -> None:
    registered = {"name": "Acme", "by": "key_1", "originator_version": 1}
    registered["timestamp"] = "2026-03-01T00:00:00+00:00"
    flagged = {
        "campaign_id": "cmp_1",
        "rate": "short_call_rate",
        "call_id": "call_1",
        "window_started_at": "2026-02-28T13:00:00+00:00",
        "publisher_counts": {"completed": 20, "short_calls": 20, "duplicates": 0},
        "campaign_counts": {"completed": 60, "short_calls": 20, "duplicates": 0},
        "publisher_rates": {"short_call_rate": "1.0000", "duplicate_rate": "0.0000"},
        "campaign_rates": {"short_call_rate": "0.3333", "duplicate_rate": "0.0000"},
        "thresholds": {"calls_min": 20, "factor": 3, "gap_percent": 20},
        "rule_version": 1,
        "by": "system",
        "timestamp": "2026-03-01T12:00:00+00:00",
        "originator_version": 2,
    }
    events = [
        (topic_of(Publisher.Registered), registered),
        (topic_of(Publisher.FlaggedForReview), flagged),
    ]
    to_admin = payload(HOOK, "pub_1", ADMIN, events, 1)
    assert to_admin is not None
    assert to_admin["type"] == "publisher.flagged"
    assert to_admin["data"]["publisher_id"] == "pub_1"
    assert to_admin["data"]["campaign_counts"]["completed"] == 60
    for other in (Recipient(Role.PUBLISHER, "pub_1"), THE_PUBLISHER, ROUTED):
        assert payload(HOOK, "pub_1", other, events, 1) is None
