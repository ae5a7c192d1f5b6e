"""The call's frozen state values serialise to the JSON the call's state always had: the stored
log v1's calls fold to the states recorded when it was written, its ranking items round-trip
byte for byte, and a won ping's Redis state is the bytes the exchange wrote before."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson
import pytest
from eventsourcing.persistence import Mapper, StoredEvent

from domain.call import Call
from domain.call_state import Candidate, Route
from domain.clock import to_ms
from eventstore.encoding import OrjsonTranscoder
from exchange.ping import BidState
from tests.support.log_v1 import CALL_FIELDS, FIXTURE, plain, read_expected

AUCTION_DECIDED = f"{Call.__module__}:{Call.__qualname__}.AuctionDecided"
CALL_PREFIX = f"{Call.__module__}:{Call.__qualname__}."


def _rows() -> Iterator[dict[str, Any]]:
    for line in (FIXTURE / "events.jsonl").read_bytes().splitlines():
        yield orjson.loads(line)


def test_the_stored_calls_fold_to_the_recorded_states() -> None:
    mapper: Mapper[str] = Mapper(transcoder=OrjsonTranscoder())
    calls: dict[str, Call] = {}
    for row in _rows():
        if row["topic"].startswith(CALL_PREFIX):
            stored = StoredEvent(row["originator_id"], row["version"], row["topic"], row["state"])
            calls[row["originator_id"]] = mapper.to_domain_event(stored).mutate(
                calls.get(row["originator_id"])
            )
    expected = read_expected()["calls"]
    assert len(calls) == len(expected)
    folded = {
        call_id: {name: plain(getattr(call, name)) for name in CALL_FIELDS}
        for call_id, call in calls.items()
    }
    assert folded == expected
    decided = [c for c in calls.values() if c.route is not None and c.route.priority is not None]
    assert decided, "the log has awarded calls never routed (their route keeps the ranking's)"


def test_ranking_items_round_trip_byte_for_byte() -> None:
    checked = 0
    for row in _rows():
        if row["topic"] != AUCTION_DECIDED:
            continue
        state = orjson.loads(row["state"])
        state["ranking"] = [Candidate.from_json(c).to_json() for c in state["ranking"]]
        assert orjson.dumps(state) == row["state"].encode()
        checked += 1
    assert checked > 10


def _bid_state_as_it_was(
    publisher_id: str, winner: dict[str, Any], hold_id: str, expires_at: datetime, bid_count: int
) -> bytes:
    """The Redis ping state as the exchange's `_record` and `rehydrate._bid_state` built it as
    dicts, before `BidState`."""
    return orjson.dumps(
        {
            "accepted": True,
            "publisher_id": publisher_id,
            "price_cents": winner["price_cents"],
            "payout_cents": winner["payout_cents"],
            "expires_at": expires_at.isoformat(),
            "expires_ms": to_ms(expires_at),
            "bid_count": bid_count,
            "winner": {**winner, "hold_id": hold_id},
        }
    )


def test_a_won_pings_redis_state_is_the_bytes_it_was() -> None:
    checked = 0
    for row in _rows():
        if row["topic"] != AUCTION_DECIDED:
            continue
        data = orjson.loads(row["state"])
        winner = next(c for c in data["ranking"] if c["target_id"] == data["winner_target_id"])
        expires_at = datetime.fromisoformat(data["expires_at"])
        state = BidState.won("pub_x", Candidate.from_json(winner), data["hold_id"], expires_at, 3)
        old = _bid_state_as_it_was("pub_x", winner, data["hold_id"], expires_at, 3)
        assert state.dumps() == old
        assert BidState.from_json(orjson.loads(old)) == state
        checked += 1
    assert checked > 10


@pytest.mark.parametrize(
    "stored",
    [
        {"accepted": False},
        {"accepted": True, "winner": {}},  # written before bids named their publisher
    ],
)
def test_a_redis_state_that_is_no_bid_reads_as_none(stored: dict[str, Any]) -> None:
    assert BidState.from_json(stored) is None


def test_a_route_keeps_the_rankings_tie_breakers_until_it_is_routed() -> None:
    winner = Candidate("tgt_a", "buy_a", 4500, 3000, "+13105550100", 90, 2, 3)
    awarded = Route.award(winner, "hold_a")
    assert list(awarded.to_json()) == [*winner.to_json(), "hold_id"]
    assert Route.from_json(awarded.to_json()) == awarded
    routed = Route("tgt_a", "buy_a", "+13105550100", 4500, 3000, 90, "hold_a")
    assert list(routed.to_json()) == [
        "target_id",
        "buyer_id",
        "destination",
        "price_cents",
        "payout_cents",
        "buffer_s",
        "hold_id",
    ]
