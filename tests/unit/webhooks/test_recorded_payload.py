"""The `call.recorded` webhook: sent to whom the call's timeline shows `CallRecorded` (the
call's publisher, the buyer it was routed to, admins), without where it is stored."""

from __future__ import annotations

from typing import Any

import pytest

from domain.api_key import Role
from domain.call import Call
from domain.catalog import topic_of
from tests.unit.webhooks.stories import CALL_ID, PUBLISHER, Story, build
from webhooks.payloads import Recipient, payload

pytestmark = pytest.mark.unit
RECORDED = {
    "recording_id": "rec_" + "1" * 32,
    "sha256": "ab" * 32,
    "duration_s": 12,
    "size_bytes": 4096,
    "location": f"call_{'1' * 32}/rec_{'1' * 32}.wav",
    "content_type": "audio/wav",
}


def _with_recording() -> list[tuple[str, dict[str, Any]]]:
    events = build(Story(disputed=False))
    last = events[-1][1]
    state = {
        **RECORDED,
        "timestamp": last["timestamp"],
        "originator_version": last["originator_version"] + 1,
    }
    return [*events, (topic_of(Call.CallRecorded), state)]


def _body(who: Recipient) -> Any:
    events = _with_recording()
    return payload("wh_1", CALL_ID, who, events, len(events) - 1)


def test_the_recording_goes_to_the_publisher_the_routed_buyer_and_admins_only() -> None:
    admin = _body(Recipient(Role.ADMIN, None))
    assert admin is not None
    assert admin["type"] == "call.recorded"
    assert admin["data"]["location"] == RECORDED["location"]
    for who in (Recipient(Role.PUBLISHER, PUBLISHER), Recipient(Role.BUYER, "buy_b")):
        body = _body(who)
        assert body is not None, who
        assert body["data"]["sha256"] == RECORDED["sha256"]
        assert "location" not in body["data"], who
    for stranger in (
        Recipient(Role.BUYER, "buy_a"),  # won, then failed over: not the routed buyer
        Recipient(Role.BUYER, "buy_c"),
        Recipient(Role.PUBLISHER, "pub_2"),
    ):
        assert _body(stranger) is None, stranger
