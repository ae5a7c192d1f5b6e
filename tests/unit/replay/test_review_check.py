"""The replay audit derives the anomaly watch's flags again (hand-made rows; `domain.anomaly`
decides): a count must be the bill just before it, a flag must carry the counts the log gives,
and a count after which the rule called for a flag that never came is a failure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from domain.anomaly import THRESHOLDS, CampaignTraffic, traffic_id, window_start
from domain.catalog import topic_of
from domain.publisher import Publisher
from eventstore.rows import ChainedRow
from replay.calls import CallChecker

pytestmark = pytest.mark.unit
AT = datetime(2026, 3, 2, 12, tzinfo=UTC)
CAMPAIGN = "cmp_1"
TRAFFIC = traffic_id(CAMPAIGN)


class Log:
    """Counts fed one at a time, each after the bill the checker saw (`to_count`)."""

    def __init__(self) -> None:
        self.checker = CallChecker()
        self.position = 0
        self.version = 0

    def count(self, n: int, publisher: str, short: bool, **wrong: Any) -> None:
        call_id = f"call_{publisher}_{n}"
        self.checker.to_count = (call_id, CAMPAIGN, publisher, short, False)
        state = {"call_id": call_id, "publisher_id": publisher, "short_call": short,
                 "duplicate": False, "timestamp": AT.isoformat(), **wrong}  # fmt: skip
        self._feed(TRAFFIC, topic_of(CampaignTraffic.CallCounted), state)

    def flag(self, publisher: str, call_id: str, **changed: Any) -> None:
        state = {
            "campaign_id": CAMPAIGN,
            "rate": "short_call_rate",
            "call_id": call_id,
            "window_started_at": window_start(AT).isoformat(),
            "publisher_counts": {"completed": 20, "short_calls": 20, "duplicates": 0},
            "campaign_counts": {"completed": 60, "short_calls": 20, "duplicates": 0},
            "publisher_rates": {},
            "campaign_rates": {},
            "thresholds": THRESHOLDS.to_json(),
            "rule_version": 1,
            "by": "system",
            "timestamp": AT.isoformat(),
            **changed,
        }
        self._feed(publisher, topic_of(Publisher.FlaggedForReview), state)

    def _feed(self, aggregate_id: str, topic: str, state: dict[str, Any]) -> None:
        self.position += 1
        self.version += 1
        row: ChainedRow = (self.position, aggregate_id, self.version, topic,
                           orjson.dumps(state), None)  # fmt: skip
        self.checker.feed([row])

    def noisy_publisher(self) -> None:
        """40 clean calls of pub_b, then 20 short ones of pub_a: the 20th trips the rule."""
        for n in range(40):
            self.count(n, "pub_b", short=False)
        for n in range(20):
            self.count(n, "pub_a", short=True)


def _checks(log: Log) -> list[tuple[str, str]]:
    results = log.checker.results()
    return [(f[1], f[3]) for f in results.failures]


def test_a_flag_the_counts_call_for_passes() -> None:
    log = Log()
    log.noisy_publisher()
    log.flag("pub_a", "call_pub_a_19")
    assert _checks(log) == []
    assert log.checker.results().checked["reviews"] == 1


def test_a_flag_that_never_came_is_a_failure() -> None:
    log = Log()
    log.noisy_publisher()
    found = _checks(log)
    assert [check for check, _ in found] == ["reviews"]
    assert "no flag followed" in found[0][1]


def test_a_flag_with_other_counts_or_too_early_fails() -> None:
    edited = Log()
    edited.noisy_publisher()
    edited.flag("pub_a", "call_pub_a_19", campaign_counts={"completed": 61, "short_calls": 20,
                                                           "duplicates": 0})  # fmt: skip
    assert [check for check, _ in _checks(edited)] == ["reviews"]
    early = Log()
    for n in range(40):
        early.count(n, "pub_b", short=False)
    for n in range(19):
        early.count(n, "pub_a", short=True)
    early.flag("pub_a", "call_pub_a_18")
    assert [check for check, _ in _checks(early)] == ["reviews"]


def test_a_second_flag_before_a_clearing_fails_and_after_it_passes() -> None:
    log = Log()
    log.noisy_publisher()
    log.flag("pub_a", "call_pub_a_19")
    log.count(20, "pub_a", short=True)
    log.flag("pub_a", "call_pub_a_20", publisher_counts={"completed": 21, "short_calls": 21,
                                                         "duplicates": 0},
             campaign_counts={"completed": 61, "short_calls": 21, "duplicates": 0})  # fmt: skip
    assert [check for check, _ in _checks(log)] == ["reviews"]
    assert "again" in _checks(log)[0][1]


def test_a_count_that_is_not_its_bill_fails() -> None:
    log = Log()
    log.count(0, "pub_a", short=False, short_call=True)
    assert [check for check, _ in _checks(log)] == ["reviews"]
    stray = Log()
    stray.checker.to_count = None
    stray._feed(TRAFFIC, topic_of(CampaignTraffic.CallCounted), {
        "call_id": "call_x", "publisher_id": "pub_a", "short_call": False, "duplicate": False,
        "timestamp": (AT + timedelta(seconds=1)).isoformat(),
    })  # fmt: skip
    assert [check for check, _ in _checks(stray)] == ["reviews"]
