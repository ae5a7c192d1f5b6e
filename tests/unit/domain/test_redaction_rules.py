"""The redaction table is complete (every event type and field the domain can record has a
rule) and keeps the written rules: a publisher never sees a buyer's data, a buyer never the
publisher's nor another buyer's."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from domain.call import Call
from domain.catalog import event_classes, payload_fields, topic_of
from domain.redaction import (
    CALL_EVENTS,
    EVENT_RULES,
    INTERNAL_TOPICS,
    Audience,
    CallContext,
    call_timeline,
    redact_event,
)

pytestmark = pytest.mark.unit

EVENTS = event_classes()
TENANTS = (Audience.PUBLISHER, Audience.BUYER, Audience.OTHER_BUYER)
# what a publisher must never see, whichever event carries it
BUYER_DATA = {
    "buyer_id",
    "target_id",
    "winner_buyer_id",
    "winner_target_id",
    "next_target_id",
    "destination",
    "amount_cents",
    "price_cents",
    "revenue_cents",
    "margin_cents",
    "floor_cents",
    "value_cents",
    "ranking",
    "excluded",
    "skipped",
    "hold_id",
    "buffer_s",
}
# what a buyer must never see: the publisher, its money and attribution, other buyers
PUBLISHER_AND_OTHER_BUYERS_DATA = {
    "publisher_id",
    "payout_cents",
    "margin_cents",
    "floor_cents",
    "attribution",
    "tags",
    "ranking",
    "excluded",
    "skipped",
    "next_target_id",
    "seed",
    "rr_cursor",
}


def test_the_walk_finds_the_events() -> None:
    found = {topic_of(cls) for cls in EVENTS}
    assert topic_of(Call.CallConverted) in found
    assert "domain.buyer:Buyer.HoldPlaced" in found
    assert "domain.target:Target.Paused" in found  # an @event method's class
    assert "domain.buyer:Buyer.Created" not in found  # the library's bare base


@pytest.mark.parametrize("cls", EVENTS, ids=lambda c: c.__qualname__)
def test_every_event_type_has_exactly_one_rule(cls: type) -> None:
    topic = topic_of(cls)
    assert (topic in EVENT_RULES) != (topic in INTERNAL_TOPICS), (
        f"{topic}: decide who may see it — a rule in domain.redaction.CALL_EVENTS, "
        "or internal only in INTERNAL_EVENTS"
    )


@pytest.mark.parametrize("cls", list(CALL_EVENTS), ids=lambda c: c.__qualname__)
def test_every_field_of_a_shared_event_has_a_rule(cls: type) -> None:
    rule = CALL_EVENTS[cls]
    fields = set(payload_fields(cls))
    assert not fields - set(rule.fields), f"{cls.__qualname__}: fields without a rule"
    assert not set(rule.fields) - fields, f"{cls.__qualname__}: rules for no field"


def test_the_table_names_only_events_that_exist() -> None:
    found = {topic_of(cls) for cls in EVENTS}
    assert set(EVENT_RULES) <= found
    assert found >= INTERNAL_TOPICS


def test_a_publisher_never_sees_buyer_data_and_never_a_bid() -> None:
    for cls, rule in CALL_EVENTS.items():
        for name, audiences in rule.fields.items():
            if name in BUYER_DATA:
                assert Audience.PUBLISHER not in audiences, f"{cls.__qualname__}.{name}"
    for bid in (Call.BidReceived, Call.BidRejected, Call.BidTimedOut):
        assert CALL_EVENTS[bid].seen_by == {Audience.INTERNAL, Audience.BUYER}


def test_a_buyer_never_sees_the_publisher_nor_other_buyers() -> None:
    for cls, rule in CALL_EVENTS.items():
        for name, audiences in rule.fields.items():
            if name in PUBLISHER_AND_OTHER_BUYERS_DATA:
                assert not audiences & {Audience.BUYER, Audience.OTHER_BUYER}, (
                    f"{cls.__qualname__}.{name}"
                )
        if rule.seen_by & {Audience.OTHER_BUYER}:
            assert cls is Call.PingReceived, f"{cls.__qualname__}: another buyer's event"


def test_a_conversion_value_is_the_routed_buyers_and_internal_only() -> None:
    assert CALL_EVENTS[Call.CallConverted].fields["value_cents"] == {
        Audience.INTERNAL,
        Audience.BUYER,
    }


def test_what_the_table_does_not_name_only_internal_audiences_see() -> None:
    unknown = "domain.call:Call.SomethingNew"
    assert redact_event(Audience.INTERNAL, unknown, {"x": 1}) == {"x": 1}
    for audience in TENANTS:
        assert redact_event(audience, unknown, {"x": 1}) is None
    routed = topic_of(Call.CallAnswered)
    state = {"timestamp": "t", "attempt": 1, "new_field": "secret"}
    assert redact_event(Audience.INTERNAL, routed, state) == state
    assert redact_event(Audience.PUBLISHER, routed, state) == {"timestamp": "t", "attempt": 1}


@dataclass(frozen=True)
class Viewer:
    role: str
    owner_id: str | None


def test_a_failed_over_buyer_sees_its_own_leg_and_not_the_next() -> None:
    events = [
        (topic_of(Call.PingReceived), {"publisher_id": "pub", "campaign_id": "c"}),
        (
            topic_of(Call.AuctionDecided),
            {"winner_buyer_id": "a", "hold_id": "h1", "ranking": [], "payout_cents": 1},
        ),
        (topic_of(Call.CallPosted), {}),
        (topic_of(Call.CallRouted), {"buyer_id": "a", "hold_id": "h1", "attempt": 1}),
        (topic_of(Call.CallFailedOver), {"hold_id": "h1", "next_target_id": "tb", "attempt": 1}),
        (topic_of(Call.CallRouted), {"buyer_id": "b", "hold_id": "h2", "attempt": 2}),
        (topic_of(Call.CallConverted), {"value_cents": 25000, "by": "key_b"}),
    ]
    assert CallContext.of(events).buyers == {"a", "b"}
    a = call_timeline(Viewer("buyer", "a"), events)
    assert a is not None
    assert [t.rsplit(".", 1)[1] for t, _ in a] == [
        "PingReceived",
        "AuctionDecided",
        "CallPosted",
        "CallRouted",
        "CallFailedOver",
    ]
    assert a[0][1] == {"campaign_id": "c"}
    assert a[4][1] == {"hold_id": "h1", "attempt": 1}
    b = call_timeline(Viewer("buyer", "b"), events)
    assert b is not None
    assert [t.rsplit(".", 1)[1] for t, _ in b] == ["PingReceived", "CallRouted", "CallConverted"]
    assert b[2][1] == {"value_cents": 25000, "by": "key_b"}
    publisher = call_timeline(Viewer("publisher", "pub"), events)
    assert publisher is not None
    assert publisher[-1][1] == {}
    assert call_timeline(Viewer("buyer", "c"), events) is None
    assert call_timeline(Viewer("publisher", "other"), events) is None
    assert call_timeline(Viewer("buyer", None), events) is None
    assert call_timeline(Viewer("finance", None), events) == [(t, dict(s)) for t, s in events]
