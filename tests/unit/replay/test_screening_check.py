"""The replay audit re-runs the screens before the auction from the log (hand-made rows;
`domain.screening` decides): each refusal's screen, each pass, and velocity counted again
from the caller's pings in the log, with the race margin for concurrent pings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from domain.call import Call
from domain.campaign import Campaign
from domain.catalog import topic_of
from domain.clock import to_ms
from domain.limits import VELOCITY_RACE_MS
from eventstore.rows import ChainedRow
from replay.calls import CallChecker

pytestmark = pytest.mark.unit
START = datetime(2026, 3, 1, tzinfo=UTC)
CAMPAIGN = "cmp_1"
LANDLINE = {"possible": True, "valid": True, "line_type": "fixed_line_or_mobile", "region": "US"}
TOLL_FREE = {**LANDLINE, "line_type": "toll_free"}
position = iter(range(1, 10_000))


def _row(aggregate: str, version: int, event: type, **state: Any) -> ChainedRow:
    return (next(position), aggregate, version, topic_of(event), orjson.dumps(state), None)


def _campaign(**screening: Any) -> list[ChainedRow]:
    created = {
        "payout": {"fixed_cents": 3000},
        "duplicate_window_days": 0,
        "distribution": "auction",
        "min_bid_cents": 3000,
        "min_margin_cents": 0,
        "timestamp": START.isoformat(),
    }
    return [
        _row(CAMPAIGN, 1, Campaign.Created, **created),
        _row(CAMPAIGN, 2, Campaign.RulesChanged, changes=screening, timestamp=START.isoformat()),
    ]


def _ping(
    n: int, at: datetime, count: int, *, line: dict[str, Any] = LANDLINE, screened: str | None
) -> list[ChainedRow]:
    """Call `call_<n>` of one caller at `at`, counted `count` for 3 calls in 600 s, and
    refused by `screened` or ending without a buyer."""
    facts = {
        "rule_version": 1,
        "campaign_version": 2,
        "line": line,
        "velocity": {"at_ms": to_ms(at), "count": count, "calls": 3, "window_s": 600},
    }
    call = f"call_{n}"
    rows = [
        _row(
            call,
            1,
            Call.PingReceived,
            campaign_id=CAMPAIGN,
            publisher_id="pub_1",
            caller_hash="caller",
            screening=facts,
            timestamp=at.isoformat(),
        )
    ]
    if screened:
        end = {"screen": screened, "reason": "", "rule_version": 1, "facts": facts}
        rows.append(_row(call, 2, Call.PingScreened, timestamp=at.isoformat(), **end))
    else:
        end = {"reason": "no_eligible_buyer", "excluded": {}, "skipped": []}
        rows.append(_row(call, 2, Call.NoBuyerFound, timestamp=at.isoformat(), **end))
    return rows


def _failures(*pings: list[ChainedRow], **screening: Any) -> list[tuple[int, str, str, str]]:
    checker = CallChecker()
    checker.feed(_campaign(**{"velocity": {"calls": 3, "window_s": 600}, **screening}))
    for rows in pings:
        checker.feed(rows)
    results = checker.results()
    assert results.checked["screening"] == len(pings)
    return results.failures


def _at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def test_a_burst_refused_on_the_fourth_ping_agrees() -> None:
    pings = [_ping(n, _at(20 * n), n, screened=None) for n in range(3)]
    assert _failures(*pings, _ping(3, _at(60), 3, screened="velocity")) == []


def test_a_refusal_the_log_cannot_justify_fails() -> None:
    pings = [_ping(n, _at(20 * n), n, screened=None) for n in range(2)]
    failures = _failures(*pings, _ping(2, _at(40), 3, screened="velocity"))
    assert [(f[1], f[2]) for f in failures] == [("screening", "call_2")]
    assert "fewer than 3" in failures[0][3]


def test_a_pass_the_log_says_to_refuse_fails_unless_within_the_race_margin() -> None:
    spread = [_ping(n, _at(20 * n), n, screened=None) for n in range(3)]
    failures = _failures(*spread, _ping(3, _at(60), 2, screened=None))  # counted one short
    assert [(f[1], f[2]) for f in failures] == [("screening", "call_3")]
    # the third ping only just before it (concurrent): Redis may not have counted it yet
    close = [_ping(n, _at(20 * n), n, screened=None) for n in range(2)]
    third = _ping(2, _at(60 - VELOCITY_RACE_MS / 2000), 2, screened=None)
    assert _failures(*close, third, _ping(3, _at(60), 2, screened=None)) == []


def test_a_later_ping_recorded_first_is_waited_for() -> None:
    """Concurrent pings: one screened earlier may reach the log later; the refusal it
    justifies is checked once the log has gone past both."""
    first, second, third = (_ping(n, _at(n), n, screened=None) for n in range(3))
    refused = _ping(3, _at(3), 3, screened="velocity")
    assert _failures(first, second, refused, third) == []


def test_a_caller_refused_by_another_screen_is_not_held_to_velocity() -> None:
    pings = [_ping(n, _at(20 * n), n, screened=None) for n in range(3)]
    toll_free = _ping(3, _at(60), 3, line=TOLL_FREE, screened="toll_free")
    invalid = _ping(4, _at(61), 4, line={**LANDLINE, "valid": False}, screened=None)
    failures = _failures(*pings, toll_free, **{"exclude_toll_free": True})
    assert failures == []
    # an unassignable number that went on to an auction: refused by the screens
    assert [f[2] for f in _failures(*pings, invalid)] == ["call_4"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"screen": "toll_free"}, "refused by toll_free; the screens give velocity"),
        ({"rule_version": 2}, "rule_version 2 is unknown"),
    ],
)
def test_an_edited_refusal_fails(edit: dict[str, Any], message: str) -> None:
    pings = [_ping(n, _at(20 * n), n, screened=None) for n in range(3)]
    refused = _ping(3, _at(60), 3, screened="velocity")
    event = orjson.loads(refused[1][4])
    refused[1] = (*refused[1][:4], orjson.dumps({**event, **edit}), None)
    failures = _failures(*pings, refused)
    assert [f[3] for f in failures] == [message]


def test_a_count_for_another_rule_than_the_campaigns_fails() -> None:
    pings = [_ping(n, _at(20 * n), n, screened=None) for n in range(2)]
    failures = _failures(*pings, velocity={"calls": 5, "window_s": 600})
    assert {f[2] for f in failures} == {"call_0", "call_1"}
    assert all("the campaign's velocity" in f[3] for f in failures)
