"""Traffic quality rules (pure): the buzzer-beater and short-call flags at their boundaries,
billing rules version 2 (a campaign may bill buzzer-beaters; version 1 never does), the call's
`CallFlagged` between its completion and its bill, and the anomaly watch's rule and counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.anomaly import (
    THRESHOLDS,
    AnomalyRate,
    CampaignTraffic,
    Counts,
    anomaly,
    counted,
    window_counts,
    window_start,
)
from domain.billing import BILLING_RULES_VERSION, billing_decision
from domain.call import CALL_TRANSITIONS, Call
from domain.call_flags import CallFlag, EndedBy, FlagRules, decide, flags_of
from domain.call_state import BillingReason, CallStatus, Candidate
from domain.campaign import Distribution
from domain.invariant import InvariantViolation
from domain.limits import BUZZER_MARGIN_S, DURATION_S, SHORT_CALL_S

pytestmark = pytest.mark.unit
AT = datetime(2026, 3, 2, 12, tzinfo=UTC)
ENDS = st.sampled_from([None, EndedBy.CALLER, EndedBy.BUYER])


@given(
    answered=st.booleans(),
    duration_s=st.integers(DURATION_S.minimum, 400),
    buffer_s=st.integers(0, 300),
    ended_by=ENDS,
    margin_s=st.integers(BUZZER_MARGIN_S.minimum, BUZZER_MARGIN_S.maximum),
    short_call_s=st.integers(SHORT_CALL_S.minimum, SHORT_CALL_S.maximum),
)
def test_the_flags_are_exactly_their_definitions(
    answered: bool,
    duration_s: int,
    buffer_s: int,
    ended_by: EndedBy | None,
    margin_s: int,
    short_call_s: int,
) -> None:
    found = flags_of(
        answered=answered,
        duration_s=duration_s,
        buffer_s=buffer_s,
        ended_by=ended_by,
        rules=FlagRules(margin_s, short_call_s),
    )
    buzzer = answered and ended_by == EndedBy.BUYER and buffer_s - margin_s <= duration_s < buffer_s
    short = answered and duration_s < short_call_s
    assert (CallFlag.BUZZER_BEATER in found) == buzzer
    assert (CallFlag.SHORT_CALL in found) == short
    assert list(found) == sorted(found, key=list(CallFlag).index)  # in CallFlag order
    if buzzer:  # a buzzer-beater is below the buffer: never billed by the buffer alone
        assert duration_s < buffer_s


@pytest.mark.parametrize(
    ("duration_s", "ended_by", "expected"),
    [
        (55, "buyer", (CallFlag.BUZZER_BEATER,)),  # 5 s before a 60 s buffer
        (50, "buyer", (CallFlag.BUZZER_BEATER,)),  # exactly the margin before
        (49, "buyer", ()),
        (60, "buyer", ()),  # the buffer reached
        (59, "caller", ()),
        (59, None, ()),  # unknown: never a buzzer-beater
        (9, "caller", (CallFlag.SHORT_CALL,)),
        (10, "caller", ()),
    ],
)
def test_the_boundaries_with_the_defaults(
    duration_s: int, ended_by: str | None, expected: tuple[CallFlag, ...]
) -> None:
    rules = FlagRules()
    assert (rules.margin_s, rules.short_call_s) == (10, 10)
    decided = decide(
        answered=True, duration_s=duration_s, buffer_s=60, ended_by=ended_by, rules=rules
    )
    assert decided.flags == expected
    assert decided.buzzer_beater == (CallFlag.BUZZER_BEATER in expected)
    assert not flags_of(answered=False, duration_s=duration_s, buffer_s=60, ended_by=ended_by,
                        rules=rules)  # fmt: skip


def test_rules_out_of_bounds_are_refused() -> None:
    with pytest.raises(InvariantViolation):
        FlagRules(BUZZER_MARGIN_S.maximum + 1, 10)
    with pytest.raises(InvariantViolation):
        FlagRules(10, -1)


@given(
    duration_s=st.integers(0, 200),
    buffer_s=st.integers(0, 200),
    buzzer=st.booleans(),
    bills=st.booleans(),
    duplicate=st.booleans(),
    blocked=st.booleans(),
)
def test_billing_v2_bills_a_buzzer_beater_only_when_its_campaign_says_and_v1_never(
    duration_s: int, buffer_s: int, buzzer: bool, bills: bool, duplicate: bool, blocked: bool
) -> None:
    def bill(version: int) -> BillingReason:
        return billing_decision(
            answered=True,
            duration_s=duration_s,
            buffer_s=buffer_s,
            duplicate=duplicate,
            blocked=blocked,
            price_cents=5000,
            payout_cents=3000,
            buzzer_beater=buzzer,
            bill_buzzer_beaters=bills,
            rules_version=version,
        ).reason

    v1 = bill(1)
    v2 = bill(2)
    if blocked or duplicate or duration_s >= buffer_s or not (buzzer and bills):
        assert v1 == v2  # nothing else changed
    else:
        assert (v1, v2) == (BillingReason.BELOW_BUFFER, BillingReason.BILLABLE)
    assert BILLING_RULES_VERSION == 2
    with pytest.raises(InvariantViolation):
        bill(3)


def _completed_call(duration_s: int, ended_by: str | None) -> Call:
    call = Call.receive_ping("call_1", "cmp_1", "pub_1", "h", {}, {}, {}, "main", AT)
    call.record_bid("tgt_1", "buy_1", 5000, "standing", 0, 0, 1, AT)  # type: ignore[arg-type]
    winner = Candidate("tgt_1", "buy_1", 5000, 3000, "+13105550100", 60, 0, 1)
    call.award(
        rule_version=1, mode=Distribution.AUCTION, seed=1, floor_cents=0, rr_cursor=0,
        ranking=[winner], winner_target_id="tgt_1", hold_id="hold_1",
        expires_at=AT + timedelta(seconds=60), excluded={}, skipped=[], at=AT,
    )  # fmt: skip
    call.post(AT)
    call.answer(AT)
    flagged = decide(
        answered=True, duration_s=duration_s, buffer_s=60, ended_by=ended_by, rules=FlagRules()
    )
    call.complete(
        duration_s=duration_s, billable=False, reason=BillingReason.BELOW_BUFFER,
        revenue_cents=0, payout_cents=0, margin_cents=0, duplicate_of=None, blocked=False,
        at=AT, ended_by=ended_by, flagged=flagged,
    )  # fmt: skip
    return call


def test_the_call_records_its_flags_between_its_completion_and_its_bill() -> None:
    call = _completed_call(55, EndedBy.BUYER)
    names = [type(e).__name__ for e in call.collect_events()]
    assert names[-3:] == ["CallCompleted", "CallFlagged", "CallNotBilled"]
    assert call.flags == ("buzzer_beater",)
    assert CALL_TRANSITIONS[Call.CallFlagged].keeps
    assert CALL_TRANSITIONS[Call.CallFlagged].source == frozenset({CallStatus.COMPLETED})
    plain = _completed_call(90, EndedBy.CALLER)
    names = [type(e).__name__ for e in plain.collect_events()]
    assert "CallFlagged" not in names
    assert plain.flags == ()  # the class-level default (older calls too)


# -- the anomaly watch -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mine", "every", "expected"),
    [
        (Counts(20, 20, 0), Counts(60, 20, 0), AnomalyRate.SHORT_CALLS),  # 1.0 = 3 × 1/3
        (Counts(20, 20, 0), Counts(59, 20, 0), None),  # 1.0 < 3 × 20/59
        (Counts(19, 19, 0), Counts(100, 19, 0), None),  # too few calls
        (Counts(20, 0, 8), Counts(200, 0, 10), AnomalyRate.DUPLICATES),  # 0.4 vs 0.05
        (Counts(20, 1, 0), Counts(1000, 1, 0), None),  # 0.05: 50 ×, but only 5 points above
        (Counts(20, 4, 0), Counts(1000, 4, 0), None),  # 0.2 − 0.004: under 20 points above
        (Counts(20, 5, 0), Counts(1000, 5, 0), AnomalyRate.SHORT_CALLS),  # 0.25 − 0.005
        (Counts(20, 0, 0), Counts(20, 0, 0), None),
    ],
)
def test_the_anomaly_rule(mine: Counts, every: Counts, expected: AnomalyRate | None) -> None:
    assert anomaly(mine, every, THRESHOLDS) == expected


@given(
    calls=st.lists(
        st.tuples(
            st.sampled_from(["pub_a", "pub_b", "pub_c"]),
            st.integers(0, 3 * 86_400),
            st.booleans(),
            st.booleans(),
        ),
        max_size=60,
    )
)
def test_the_counts_are_the_calls_in_the_window(
    calls: list[tuple[str, int, bool, bool]],
) -> None:
    """Folding counts call by call (times in order) equals counting the calls at or after the
    window's start; the aggregate folds them the same way."""
    calls = sorted(calls, key=lambda c: c[1])
    buckets: dict[str, dict[str, list[int]]] = {}
    traffic = CampaignTraffic.start("cmp_1", AT)
    for publisher, offset, short, duplicate in calls:
        at = AT + timedelta(seconds=offset)
        buckets = counted(buckets, publisher, at, short, duplicate)
        traffic.count_call(
            call_id="call", publisher_id=publisher, short_call=short, duplicate=duplicate,
            timestamp=at,
        )  # fmt: skip
    if not calls:
        return
    last = AT + timedelta(seconds=calls[-1][1])
    since = window_start(last)
    assert last - since < timedelta(days=1)
    assert last - since >= timedelta(hours=23)
    inside = [c for c in calls if AT + timedelta(seconds=c[1]) >= since]
    for publisher in ("pub_a", "pub_b"):
        mine = [c for c in inside if c[0] == publisher]
        expected = (
            Counts(len(mine), sum(c[2] for c in mine), sum(c[3] for c in mine)),
            Counts(len(inside), sum(c[2] for c in inside), sum(c[3] for c in inside)),
        )
        assert window_counts(buckets, publisher, last) == expected
        assert traffic.counts(publisher, last) == expected
