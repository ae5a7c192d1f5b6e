"""The anomaly watch (pure rule, and the counts it reads): a publisher whose short-call or
duplicate rate on a campaign is far above the campaign's is flagged for review.

Each completed call with a billing decision (`CallHandlers.complete_call`) is counted, in the
same atomic save, by its campaign's `CampaignTraffic` (`CallCounted`: the publisher, whether the
call was a short call — `domain.call_flags` — and whether it was not billed as a duplicate),
in hourly buckets (`ANOMALY_BUCKET_S`). After each count the rule looks at the window — the
current bucket and the ones before it, up to `ANOMALY_WINDOW_S` — and compares the publisher's
rates with the campaign's (every publisher's, the publisher included):

    flagged when the publisher has at least `ANOMALY_CALLS_MIN` completed calls and, for the
    short-call or the duplicate rate, its rate ≥ `ANOMALY_FACTOR` × the campaign's and its
    rate − the campaign's ≥ `ANOMALY_GAP_PERCENT` / 100.

A flag is `Publisher.FlaggedForReview` (the counts, the rates, the thresholds and
`ANOMALY_RULES_VERSION`); a publisher already flagged for the campaign is not flagged again
until an admin clears it (`Publisher.ReviewCleared`). Rates are compared in integers (no
float decides anything); the event records them as decimal strings for people. Replay folds
the same counts from the calls' own events and runs the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from eventsourcing.domain import event

from domain.base import PPCXAggregate
from domain.ids import derived_id
from domain.limits import (
    ANOMALY_BUCKET_S,
    ANOMALY_CALLS_MIN,
    ANOMALY_FACTOR,
    ANOMALY_GAP_PERCENT,
    ANOMALY_WINDOW_S,
)

# the version of this decision `Publisher.FlaggedForReview` names
ANOMALY_RULES_VERSION = 1
ANOMALY_RULES_VERSIONS = (1,)


class AnomalyRate(StrEnum):
    SHORT_CALLS = "short_call_rate"
    DUPLICATES = "duplicate_rate"


@dataclass(frozen=True, slots=True)
class Counts:
    completed: int = 0
    short_calls: int = 0
    duplicates: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "completed": self.completed,
            "short_calls": self.short_calls,
            "duplicates": self.duplicates,
        }

    def of(self, rate: AnomalyRate) -> int:
        return self.short_calls if rate == AnomalyRate.SHORT_CALLS else self.duplicates

    def rate(self, rate: AnomalyRate) -> str:
        """The rate as a decimal string with 4 places (for people; never compared)."""
        if self.completed == 0:
            return "0.0000"
        exact = Decimal(self.of(rate)) / Decimal(self.completed)
        return str(exact.quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN))


@dataclass(frozen=True, slots=True)
class Thresholds:
    calls_min: int = ANOMALY_CALLS_MIN
    factor: int = ANOMALY_FACTOR
    gap_percent: int = ANOMALY_GAP_PERCENT

    def to_json(self) -> dict[str, int]:
        return {
            "calls_min": self.calls_min,
            "factor": self.factor,
            "gap_percent": self.gap_percent,
        }


THRESHOLDS = Thresholds()


def anomaly(
    publisher: Counts, campaign: Counts, thresholds: Thresholds = THRESHOLDS
) -> AnomalyRate | None:
    """The first rate (short calls, then duplicates) on which the publisher is far above the
    campaign; None when neither is, or it has too few calls."""
    if publisher.completed < thresholds.calls_min or campaign.completed == 0:
        return None
    for rate in AnomalyRate:
        mine, mine_of = publisher.of(rate), publisher.completed
        theirs, theirs_of = campaign.of(rate), campaign.completed
        # mine/mine_of ≥ factor × theirs/theirs_of, and mine/mine_of − theirs/theirs_of ≥ gap
        above = mine * theirs_of >= thresholds.factor * theirs * mine_of
        gap = 100 * (mine * theirs_of - theirs * mine_of) >= (
            thresholds.gap_percent * mine_of * theirs_of
        )
        if above and gap:
            return rate
    return None


# -- the counts ----------------------------------------------------------------------------------
# buckets: {str(bucket start, epoch seconds): {publisher_id: [completed, short, duplicates]}}
Buckets = dict[str, dict[str, list[int]]]


def bucket_of(at: datetime) -> int:
    seconds = int(at.timestamp())
    return seconds - seconds % ANOMALY_BUCKET_S


def window_start(at: datetime) -> datetime:
    """The window's first instant at `at`: the start of the oldest bucket it holds."""
    return datetime.fromtimestamp(bucket_of(at) - ANOMALY_WINDOW_S + ANOMALY_BUCKET_S, UTC)


def counted(
    buckets: Buckets, publisher_id: str, at: datetime, short_call: bool, duplicate: bool
) -> Buckets:
    """`buckets` with one call of `publisher_id` at `at` counted, and the buckets the window
    no longer holds dropped (times are in order: `at` is the newest)."""
    since = int(window_start(at).timestamp())
    kept = {b: {p: list(c) for p, c in by.items()} for b, by in buckets.items() if int(b) >= since}
    row = kept.setdefault(str(bucket_of(at)), {}).setdefault(publisher_id, [0, 0, 0])
    row[0] += 1
    row[1] += int(short_call)
    row[2] += int(duplicate)
    return kept


def window_counts(buckets: Buckets, publisher_id: str, at: datetime) -> tuple[Counts, Counts]:
    """(the publisher's counts, the campaign's) in the window at `at`."""
    since = int(window_start(at).timestamp())
    mine = [0, 0, 0]
    every = [0, 0, 0]
    for bucket, by in buckets.items():
        if int(bucket) < since:
            continue
        for publisher, row in by.items():
            for i in range(3):
                every[i] += row[i]
                if publisher == publisher_id:
                    mine[i] += row[i]
    return Counts(*mine), Counts(*every)


def traffic_id(campaign_id: str) -> str:
    return derived_id("trf", "campaign-traffic", campaign_id)


class CampaignTraffic(PPCXAggregate):
    """A campaign's completed calls per publisher over the anomaly window (hourly counts),
    one `CallCounted` per billing decision, saved with it."""

    if TYPE_CHECKING:
        Started: type[PPCXAggregate.Created]
        CallCounted: type[PPCXAggregate.Event]

    @event("Started")
    def __init__(self, id: str, campaign_id: str, timestamp: datetime) -> None:
        self.campaign_id = campaign_id
        self.buckets: Buckets = {}

    @classmethod
    def start(cls, campaign_id: str, at: datetime) -> CampaignTraffic:
        return cls(id=traffic_id(campaign_id), campaign_id=campaign_id, timestamp=at)

    @event("CallCounted")
    def count_call(
        self,
        call_id: str,
        publisher_id: str,
        short_call: bool,
        duplicate: bool,
        timestamp: datetime,
    ) -> None:
        self.buckets = counted(self.buckets, publisher_id, timestamp, short_call, duplicate)

    def counts(self, publisher_id: str, at: datetime) -> tuple[Counts, Counts]:
        return window_counts(self.buckets, publisher_id, at)


def rates_json(counts: Counts) -> dict[str, str]:
    return {rate.value: counts.rate(rate) for rate in AnomalyRate}
