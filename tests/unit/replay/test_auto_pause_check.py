"""The replay audit derives each automatic pause of a target again from the log: the rule met,
the calls it counted, the version of the decision (hand-made rows; `domain.quality` decides)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from domain.catalog import topic_of
from domain.target import Target
from eventstore.rows import ChainedRow
from replay.calls import CallChecker

pytestmark = pytest.mark.unit
START = datetime(2026, 3, 1, tzinfo=UTC)
TARGET = "tgt_1"


def _row(position: int, version: int, event: type, **state: Any) -> ChainedRow:
    return (position, TARGET, version, topic_of(event), orjson.dumps(state), None)


def _log(paused: dict[str, Any], rules: list[dict[str, int]] | None = None) -> list[ChainedRow]:
    rows = [_row(1, 1, Target.Created, bid_cents=5000, timestamp=START.isoformat())]
    if rules is not None:
        changed = {"auto_pause": rules}
        rows.append(_row(2, 2, Target.RulesChanged, changes=changed, timestamp=START.isoformat()))
    for n in range(3):
        at = (START + timedelta(minutes=10 * n)).isoformat()
        rows.append(_row(10 + n, 3 + n, Target.CallUnanswered, call_id=f"call_{n}", timestamp=at))
    at = (START + timedelta(minutes=20)).isoformat()
    rows.append(_row(20, 6, Target.AutoPaused, timestamp=at, **paused))
    return rows


def _check(rows: list[ChainedRow]) -> CallChecker:
    checker = CallChecker()
    checker.feed(rows)
    return checker


RIGHT = {
    "reason": "3 calls unanswered within 3600 s",
    "call_ids": ["call_0", "call_1", "call_2"],
    "rule": {"unanswered": 3, "window_s": 3600},
    "rule_version": 1,
}


def test_a_pause_the_rules_call_for_passes() -> None:
    checker = _check(_log(RIGHT))
    assert checker.failures == []
    assert checker.results().checked["auto_pauses"] == 1


@pytest.mark.parametrize(
    ("paused", "rules"),
    [
        ({**RIGHT, "call_ids": ["call_0", "call_1", "call_9"]}, None),  # not the calls counted
        ({**RIGHT, "rule": {"unanswered": 5, "window_s": 86400}}, None),  # not the rule met
        ({**RIGHT, "rule_version": 2}, None),  # a decision this audit does not know
        (RIGHT, [{"unanswered": 4, "window_s": 3600}]),  # its own rule was not met yet
        (RIGHT, []),  # it was never to be paused
    ],
)
def test_a_pause_the_rules_do_not_call_for_fails(
    paused: dict[str, Any], rules: list[dict[str, int]] | None
) -> None:
    checker = _check(_log(paused, rules))
    assert [f[1] for f in checker.failures] == ["auto_pauses"]
