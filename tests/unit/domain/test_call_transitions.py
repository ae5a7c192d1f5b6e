"""The call's one transition table: a row for every event class of the Call, commands refused
by it, and every call of the stored log v1 moving as it says."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from eventsourcing.persistence import Mapper, StoredEvent

from domain.call import CALL_TRANSITIONS, POSTED_STATUSES, Call, reachable
from domain.call_state import (
    BidOutcomeKind,
    BidSource,
    BillingReason,
    CallStatus,
    DisputeStatus,
    ExclusionReason,
    FailoverReason,
    HoldStatus,
    NoBuyerReason,
    TelephonyEvent,
)
from domain.campaign import Distribution
from domain.catalog import event_classes, topic_of
from domain.errors import Conflict
from eventstore.encoding import OrjsonTranscoder
from tests.support.log_v1 import FIXTURE

AT = datetime(2026, 3, 2, 12, tzinfo=UTC)
CALL_TOPIC_PREFIX = f"{Call.__module__}:{Call.__qualname__}."
PASSING = frozenset({CallStatus.POSTED, CallStatus.FAILING_OVER, CallStatus.UNROUTED})
# call events newer than the stored log v1 (it has none of them; their own tests cover them)
NEWER_THAN_LOG_V1: frozenset[type] = frozenset(
    {
        Call.QualificationFailed,
        Call.RecordingAvailable,  # the fetch queue's durable half (tests/api/test_recordings.py)
        Call.CallRecorded,
        Call.RecordingDeleted,
        Call.PhrasesSpotted,
        Call.CallScored,
        Call.PingScreened,
        Call.CallFlagged,  # traffic quality (tests/unit/domain/test_call_flags.py)
        Call.CallTranscribed,
    }
)


def test_the_table_has_one_row_per_call_event_class() -> None:
    call_events = {cls for cls in event_classes() if topic_of(cls).startswith(CALL_TOPIC_PREFIX)}
    assert len(call_events) == 18 + len(NEWER_THAN_LOG_V1)
    assert set(CALL_TRANSITIONS) == call_events


def test_every_status_is_reached_and_only_the_creation_starts_from_nothing() -> None:
    assert reachable(CALL_TRANSITIONS[Call.PingReceived].to) == frozenset(CallStatus)
    assert [cls for cls, t in CALL_TRANSITIONS.items() if not t.source] == [Call.PingReceived]


def test_a_second_post_is_refused_from_every_status_after_the_first() -> None:
    assert {
        "posted",
        "routing",
        "answered",
        "failing_over",
        "completed",
        "billed",
        "not_billed",
        "unrouted",
        "reversed",
    } == POSTED_STATUSES


def test_the_words_are_todays_strings() -> None:
    """The values are stored in the log and answered by the API: they never change."""
    assert [s.value for s in CallStatus] == [
        "pinged",
        "decided",
        "no_buyer",
        "expired",
        "refused",
        "posted",
        "routing",
        "answered",
        "failing_over",
        "unrouted",
        "completed",
        "billed",
        "not_billed",
        "reversed",
        "screened",
        "disqualified",
    ]
    assert set(HoldStatus) == {"pending", "posted", "voided"}
    assert set(DisputeStatus) == {"open", "accepted", "rejected"}
    assert set(FailoverReason) == {"no_answer", "busy", "failed"}
    assert set(TelephonyEvent) == {"answered", "completed", *FailoverReason}
    assert set(BidOutcomeKind) == {"received", "rejected", "timed_out"}
    assert set(BidSource) == {"standing", "rtb"}
    assert set(BillingReason) == {
        "billable",
        "not_answered",
        "blocked",
        "duplicate",
        "below_buffer",
    }
    assert set(NoBuyerReason) == {
        "no_eligible_buyer",
        "blocked",
        "below_floor",
        "timed_out",
        "no_bid",
        "duplicate",
        "screened",
    }
    assert set(ExclusionReason) == {
        "paused",
        "geo",
        "schedule",
        "cap_concurrency",
        "cap_hourly",
        "cap_daily",
        "cap_monthly",
        "cap_budget",
        "insufficient_funds",
        "duplicate",
        "consent_missing",
        "tags_missing",
        "archived",
    }
    assert set(Distribution) == {"auction", "waterfall", "round_robin", "weighted"}
    assert orjson.dumps({"s": CallStatus.BILLED}) == b'{"s":"billed"}'


def test_telephony_failovers_are_the_failover_reasons() -> None:
    failovers = {e: e.failover_reason for e in TelephonyEvent if e.failover_reason is not None}
    assert set(failovers.values()) == set(FailoverReason)
    assert all(e == reason for e, reason in failovers.items())


def _pinged() -> Call:
    return Call.receive_ping("call_x", "cmp_x", "pub_x", "h", {}, {}, {}, "main", AT)


def test_commands_check_their_precondition_from_the_table() -> None:
    call = _pinged()
    assert call.status == CallStatus.PINGED
    assert call.allows(Call.BidReceived)
    assert not call.allows(Call.CallAnswered)
    with pytest.raises(Conflict, match="is pinged; cannot answer"):
        call.answer(AT)
    with pytest.raises(Conflict, match="cannot expire"):
        call.expire(AT)
    call.record_bid("tgt_x", "buy_x", 4500, BidSource.STANDING, 0, 0, 1, AT)
    call.find_no_buyer(NoBuyerReason.BELOW_FLOOR, {}, [], AT)
    assert call.status == CallStatus.NO_BUYER
    with pytest.raises(Conflict, match="cannot record a bid"):
        call.record_bid("tgt_y", "buy_y", 4500, BidSource.STANDING, 0, 0, 1, AT)
    with pytest.raises(Conflict, match="never connected"):
        call.convert(None, "t", AT + timedelta(seconds=1))


def _call_events() -> dict[str, list[Any]]:
    """The Call events of the stored log v1, decoded as the store decodes them, per call."""
    mapper: Mapper[str] = Mapper(transcoder=OrjsonTranscoder())
    by_call: dict[str, list[Any]] = defaultdict(list)
    for line in (FIXTURE / "events.jsonl").read_bytes().splitlines():
        row = orjson.loads(line)
        if not row["topic"].startswith(CALL_TOPIC_PREFIX):
            continue
        stored = StoredEvent(row["originator_id"], row["version"], row["topic"], row["state"])
        by_call[row["originator_id"]].append(mapper.to_domain_event(stored))
    return by_call


def test_every_call_of_the_stored_log_obeys_the_table() -> None:
    calls = _call_events()
    assert len(calls) > 50
    seen: set[type] = set()
    for call_id, events in calls.items():
        call: Call | None = None
        for event in events:
            transition = CALL_TRANSITIONS[type(event)]
            before = call.status if call is not None else None
            if before is None:
                assert not transition.source, (call_id, type(event).__name__)
            else:
                assert before in transition.source, (call_id, type(event).__name__, before)
            call = event.mutate(call)
            assert call is not None
            if transition.keeps:
                assert call.status == before, (call_id, type(event).__name__)
            else:
                assert call.status in transition.to, (call_id, type(event).__name__)
            seen.add(type(event))
        assert call is not None
        assert call.status not in PASSING, (call_id, call.status)
    assert seen == set(CALL_TRANSITIONS) - NEWER_THAN_LOG_V1
