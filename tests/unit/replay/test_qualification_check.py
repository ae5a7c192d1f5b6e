"""The replay audit judges each failed IVR qualification again (`domain.ivr.judge`, the
question of the campaign version the failure names), and checks required tags in auctions:
a bid of a target requiring a tag the ping lacks, an exclusion for tags the ping has
(hand-made rows)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from domain.call import Call
from domain.campaign import Campaign
from domain.catalog import topic_of
from domain.ivr import parse_script
from domain.target import Target
from eventstore.rows import ChainedRow
from replay.calls import CallChecker

pytestmark = pytest.mark.unit
AT = datetime(2026, 3, 1, tzinfo=UTC).isoformat()
CAMPAIGN = "cmp_1"
CALL = "call_1"
SCRIPT = parse_script(
    {
        "questions": [
            {"id": "injured", "prompt": "Press 1.", "accept": ["1"], "tag": "injured"},
            {
                "id": "lawyer",
                "prompt": "Say no.",
                "input": "speech",
                "accept": ["no"],
                "tag": "has_lawyer",
                "tag_value": "no",
            },
        ]
    }
)
CREATED = {
    "name": "c",
    "vertical": "legal",
    "payout": {"fixed_cents": 3000},
    "duplicate_window_days": 30,
    "distribution": "auction",
    "min_bid_cents": 3000,
    "min_margin_cents": 0,
    "allow_negative_margin": False,
    "max_attempts": 3,
    "bid_ttl_s": 60,
    "rtb_deadline_ms": 250,
    "market": "main",
}


def _row(position: int, aggregate: str, version: int, event: type, **state: Any) -> ChainedRow:
    return (position, aggregate, version, topic_of(event), orjson.dumps(state), None)


def _ping(position: int, call_id: str, tags: dict[str, str]) -> ChainedRow:
    return _row(
        position,
        call_id,
        1,
        Call.PingReceived,
        campaign_id=CAMPAIGN,
        publisher_id="pub_1",
        caller_hash="h",
        geo={},
        attribution={},
        tags=tags,
        market="main",
        timestamp=AT,
    )


def _log(failed: dict[str, Any], tags: dict[str, str] | None = None) -> list[ChainedRow]:
    return [
        _row(1, CAMPAIGN, 1, Campaign.Created, **CREATED, timestamp=AT),
        _row(2, CAMPAIGN, 2, Campaign.RulesChanged, changes={"ivr": SCRIPT.stored()}, timestamp=AT),
        _ping(3, CALL, {} if tags is None else tags),
        _row(4, CALL, 2, Call.QualificationFailed, timestamp=AT, **failed),
    ]


def _check(rows: list[ChainedRow]) -> CallChecker:
    checker = CallChecker()
    checker.feed(rows)
    return checker


RIGHT = {
    "question_id": "injured",
    "answer": "2",
    "action": "hangup",
    "rule_version": 1,
    "campaign_version": 2,
}


def test_a_failure_the_rule_calls_for_passes() -> None:
    checker = _check(_log(RIGHT))
    assert checker.failures == []
    assert checker.results().checked["qualifications"] == 1
    assert CALL not in checker.calls  # the call ended there
    spoken = {**RIGHT, "question_id": "lawyer", "answer": None}
    assert _check(_log(spoken, {"injured": "yes"})).failures == []
    # a log without one: the report names no such check
    assert "qualifications" not in _check(_log(RIGHT)[:3]).results().checked


@pytest.mark.parametrize(
    ("failed", "tags"),
    [
        ({**RIGHT, "answer": "1"}, None),  # the accepted answer: it passed
        ({**RIGHT, "answer": "4111111111111111"}, None),  # not what the rule keeps
        ({**RIGHT, "question_id": "weather"}, None),  # no such question
        ({**RIGHT, "campaign_version": 1}, None),  # that version asked nothing
        ({**RIGHT, "action": "fallback"}, None),  # not the campaign's on_fail
        ({**RIGHT, "rule_version": 2}, None),  # a rule this audit does not know
        ({**RIGHT, "question_id": "lawyer", "answer": None}, None),  # the first never passed
        ({**RIGHT, "question_id": "lawyer", "answer": "yes"}, {"injured": "yes"}),  # speech kept
    ],
)
def test_a_failure_the_rule_does_not_call_for_fails(
    failed: dict[str, Any], tags: dict[str, str] | None
) -> None:
    checker = _check(_log(failed, tags))
    assert [f[1] for f in checker.failures] == ["qualifications"]


def _auction_log(tags: dict[str, str], excluded: dict[str, str]) -> list[ChainedRow]:
    target = "tgt_1"
    return [
        _row(1, CAMPAIGN, 1, Campaign.Created, **CREATED, timestamp=AT),
        _row(2, target, 1, Target.Created, bid_cents=5000, timestamp=AT),
        _row(
            3,
            target,
            2,
            Target.RulesChanged,
            changes={"requires_tags": {"injured": "yes"}},
            timestamp=AT,
        ),
        _ping(4, CALL, tags),
        _row(
            5,
            CALL,
            2,
            Call.NoBuyerFound,
            reason="no_eligible_buyer",
            excluded=excluded,
            skipped=[],
            timestamp=AT,
        ),
    ]


def test_auctions_agree_with_the_tags_a_target_requires() -> None:
    assert _check(_auction_log({}, {"tgt_1": "tags_missing"})).failures == []
    assert _check(_auction_log({"injured": "no"}, {"tgt_1": "tags_missing"})).failures == []
    wrong = _check(_auction_log({"injured": "yes"}, {"tgt_1": "tags_missing"}))
    assert [f[1] for f in wrong.failures] == ["auctions"]


def test_a_bid_of_a_target_requiring_a_tag_the_ping_lacks_fails() -> None:
    rows = _auction_log({}, {})[:4]
    rows.append(
        _row(
            5,
            CALL,
            2,
            Call.BidReceived,
            target_id="tgt_1",
            buyer_id="buy_1",
            amount_cents=5000,
            source="standing",
            latency_ms=0,
            priority=0,
            weight=1,
            target_version=2,
            timestamp=AT,
        )
    )
    assert [f[1] for f in _check(rows).failures] == ["auctions"]
    rows[3] = _ping(4, CALL, {"injured": "yes"})
    assert _check(rows).failures == []
