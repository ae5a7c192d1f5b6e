"""Calls built in memory by the domain's own commands, as the event store would hold them:
`(topic, state)` per event, the state the stored JSON with its version (as the API's
timeline reads it). A `Story` says which way the call goes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from hypothesis import strategies as st

from domain.call import Call
from domain.call_state import BidSource, BillingReason, Candidate, FailoverReason, NoBuyerReason
from domain.campaign import Distribution
from eventstore.encoding import encode_event

AT = datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
CALL_ID = "call_1"
PUBLISHER = "pub_1"
BUYERS = ("buy_a", "buy_b", "buy_c")  # ranked in this order
LATE_BIDDER = "buy_z"  # its bid timed out: never a party to the call
GEO = {"state": "CA", "zip": "90210", "area_code": "310"}
ATTRIBUTION = {"source": "google", "keyword": "car accident lawyer", "click_id": "gclid 1/2&x"}
CALLER_NUMBER = "+13105550123"  # what the caller dialled from: only its hash is stored


def candidate(rank: int) -> Candidate:
    buyer = BUYERS[rank]
    return Candidate(
        f"tgt_{buyer}", buyer, 4500 - 100 * rank, 3000 - 100 * rank, f"+1800555010{rank}", 90, 0, 1
    )


@dataclass(frozen=True)
class Story:
    bidders: int = 3  # the first `bidders` of BUYERS bid
    decided: bool = True
    posted: bool = True
    failovers: int = 1  # routes that fail over to the next bidder
    none_left: bool = False  # the last route fails over too: not answered, not billed
    answered: bool = True
    billable: bool = True
    converted: bool = True
    disputed: bool = True
    accepted: bool = True


class _Clock:
    def __init__(self) -> None:
        self.at = AT

    def tick(self) -> datetime:
        self.at += timedelta(seconds=1)
        return self.at


def build(story: Story) -> list[tuple[str, dict[str, Any]]]:
    clock = _Clock()
    call = Call.receive_ping(
        CALL_ID, "cmp_1", PUBLISHER, "hash_1", GEO, ATTRIBUTION, {"t": "v"}, "main", AT
    )
    ranked = [candidate(rank) for rank in range(story.bidders)]
    for c in ranked:
        call.record_bid(
            c.target_id, c.buyer_id, c.price_cents, BidSource.STANDING, 10, 0, 1, clock.tick()
        )
    call.record_timed_out_bid(f"tgt_{LATE_BIDDER}", LATE_BIDDER, 150, 151, clock.tick())
    _decide(call, story, ranked, clock)
    stored = [encode_event(event) for event in call.collect_events()]
    return [
        (topic, {**orjson.loads(state), "originator_version": version})
        for _, version, topic, state in stored
    ]


def _decide(call: Call, story: Story, ranked: list[Candidate], clock: _Clock) -> None:
    if not story.decided:
        call.find_no_buyer(NoBuyerReason.BELOW_FLOOR, {"tgt_x": "geo"}, [], clock.tick())
        return
    at = clock.tick()
    call.award(
        rule_version=1,
        mode=Distribution.AUCTION,
        seed=7,
        floor_cents=100,
        rr_cursor=0,
        ranking=ranked,
        winner_target_id=ranked[0].target_id,
        hold_id="hold_0",
        expires_at=at + timedelta(seconds=60),
        excluded={},
        skipped=[],
        at=at,
    )
    if not story.posted:
        call.expire(at + timedelta(seconds=61))
        return
    call.post(clock.tick())
    failovers = min(story.failovers, len(ranked) - 1)
    for rank in range(1, failovers + 1):
        call.fail_over(FailoverReason.NO_ANSWER, ranked[rank], f"hold_{rank}", [], clock.tick())
    if story.none_left:
        call.fail_over(FailoverReason.BUSY, None, None, [], clock.tick())
        return
    _end(call, story, ranked[failovers], clock)


def _end(call: Call, story: Story, routed: Candidate, clock: _Clock) -> None:
    if story.answered:
        call.answer(clock.tick())
    billed = story.answered and story.billable
    reason = BillingReason.BILLABLE if billed else BillingReason.NOT_ANSWERED
    call.complete(
        duration_s=125 if story.answered else 0,
        billable=billed,
        reason=reason,
        revenue_cents=routed.price_cents,
        payout_cents=routed.payout_cents,
        margin_cents=routed.price_cents - routed.payout_cents,
        duplicate_of=None,
        blocked=False,
        at=clock.tick(),
    )
    if story.converted:
        call.convert(25_000, "key_b", clock.tick())
    if billed and story.disputed:
        call.dispute("dsp_1", "wrong number", "key_b", clock.tick())
        transfer = "tr_1" if story.accepted else None
        call.resolve_dispute("dsp_1", story.accepted, "ok", transfer, "key_admin", clock.tick())


stories = st.builds(
    Story,
    bidders=st.integers(1, len(BUYERS)),
    decided=st.booleans(),
    posted=st.booleans(),
    failovers=st.integers(0, len(BUYERS) - 1),
    none_left=st.booleans(),
    answered=st.booleans(),
    billable=st.booleans(),
    converted=st.booleans(),
    disputed=st.booleans(),
    accepted=st.booleans(),
)
