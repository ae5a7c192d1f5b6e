"""The calls' half of `replay verify`: every auction re-run, every bill re-decided, every route
and hold followed through the call's life — from raw stored events, decoded only when a check
needs their fields.

`CallChecker` is pure (no I/O). `verify` runs it in a worker process (`serve`) fed with every
page of stored rows while the main process chains and books the same page; the two halves
meet at the end, where the holds the calls left open must be exactly the holds the ledger
left pending. A check that fails still applies its event (the recorded facts move the call
on), so one bad event is reported once rather than at every event after it.
"""

from __future__ import annotations

import bisect
import marshal
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

import orjson

from domain.anomaly import (
    ANOMALY_RULES_VERSIONS,
    THRESHOLDS,
    Buckets,
    CampaignTraffic,
    anomaly,
    counted,
    traffic_id,
    window_counts,
    window_start,
)
from domain.api_key import ApiKey
from domain.billing import (
    BILLING_RULES_VERSIONS,
    BUZZER_BEATERS_BILLABLE_SINCE,
    BillingDecision,
    PayoutRule,
    billing_decision,
    floor_cents,
    is_duplicate,
)
from domain.blocklist import BlockedCaller
from domain.buyer import Buyer
from domain.call import RANKING_KEPT_MAX, Call
from domain.call_flags import CALL_FLAGS_RULES_VERSIONS, CallFlag, FlagRules, flags_of
from domain.call_state import BidSource, BillingReason, ExclusionReason, PostRefusal
from domain.caller_history import CallerHistory
from domain.campaign import Campaign
from domain.catalog import Reads, name_of
from domain.invariant import InvariantViolation
from domain.ivr import IVR_RULES_VERSION, IvrScript, judge, satisfies
from domain.limits import BUZZER_MARGIN_S, SHORT_CALL_S
from domain.numbers import NumberPool, TrackingNumber
from domain.publisher import Publisher
from domain.quality import AUTO_PAUSE_RULES_VERSION, Unanswered, kept, rules_of, tripped
from domain.rate_limits import RateLimitReport
from domain.receipt import CommandReceipt
from domain.saved_query import SavedQueries
from domain.scoring_model import ScoringModels
from domain.screening import (
    SCREENING_RULES_VERSION,
    CallerLine,
    Refusal,
    Screen,
    ScreeningSettings,
    VelocitySeen,
    number_refusal,
    screen,
)
from domain.target import Target
from domain.user import User
from domain.webhook import Webhook
from eventstore.rows import ChainedRow
from exchange.auction import Bid, rank
from replay import scores
from replay.velocity import Velocity

# checks named in the report only when the log has events for them (newer features)
OPTIONAL_CHECKS = frozenset(
    {"auto_pauses", "qualifications", scores.CHECK, "flags", "reviews", "screening"}
)  # named once the log has one
FAILURES_KEPT_MAX = 1000  # the report lists the first failures; the count covers them all
NEEDS_NO_STATE = frozenset({name_of(Call.CallAnswered)})  # the fact alone is the input
AUCTION_DECIDED = name_of(Call.AuctionDecided)
READS = Reads(
    "replay.calls",
    handles=(
        Campaign.Created,
        Campaign.RulesChanged,
        Target,  # its bid, pause and archive per version: a bid is checked against its own
        BlockedCaller.CallerBlocked,
        BlockedCaller.CallerReblocked,
        BlockedCaller.CallerUnblocked,
        Call.PingReceived,
        Call.PingScreened,
        Call.BidReceived,
        Call.AuctionDecided,
        Call.NoBuyerFound,
        Call.QualificationFailed,
        Call.PingExpired,
        Call.PostRefused,
        Call.CallRouted,
        Call.CallAnswered,
        Call.CallFailedOver,
        Call.CallCompleted,
        Call.CallFlagged,
        Call.CallBilled,
        Call.CallNotBilled,
        CampaignTraffic.CallCounted,  # the anomaly watch's counts, against the bills
        Publisher.FlaggedForReview,  # derived again from those counts
        Publisher.ReviewCleared,
        Call.CallRecorded,  # the recordings the store must still hold (`replay.verify`)
        Call.RecordingDeleted,
        Call.PhrasesSpotted,  # a call's features (`replay.scores`)
        Call.CallScored,  # re-scored from the log (`replay.scores`)
        ScoringModels.ModelTrained,  # the models the scores name
    ),
    ignores=(
        User,
        SavedQueries,
        Webhook,
        Campaign.PublisherAllowed,  # who may ping is the handler's check, not a replayed one
        Campaign.PublisherDisallowed,
        Call.BidRejected,  # an auction is re-run from the bids received
        Call.BidTimedOut,
        Call.CallPosted,  # a route is checked at CallRouted
        Call.CallConverted,
        Call.CallDisputed,
        Call.DisputeResolved,  # a reversal is the books' (Buyer.TransferReversed)
        ScoringModels.Started,
        ScoringModels.ModelActivated,  # which model scores is the scorer's choice
        Call.CallTranscribed,  # call evidence: checked by replay.evidence against the stores
        Call.RecordingAvailable,  # the fetch queue's fact: what was fetched is `CallRecorded`
        ApiKey,
        Buyer,  # the books' half
        CallerHistory,  # duplicates come from this half's own index of billed callers
        CommandReceipt,
        RateLimitReport,
        NumberPool,
        Publisher.Registered,
        Publisher.Renamed,
        Publisher.Suspended,
        Publisher.Reinstated,
        Publisher.PingLimitSet,
        CampaignTraffic.Started,
        TrackingNumber,
    ),
)
Failure = tuple[int, str, str, str]  # position, check, aggregate id, message
Recorded = tuple[int, str, str, str, int, bool]
Handler = Callable[[str, dict[str, Any]], None]


class Broken(Exception):
    """A check failed on the current event: (check, message)."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(message)
        self.check = check
        self.message = message


@dataclass(slots=True)
class _Call:
    campaign_id: str
    caller_hash: str
    consented: bool = False  # the ping carried the caller's consent references
    tags: dict[str, str] = field(default_factory=dict)  # the ping's tags
    bids: list[Bid] = field(default_factory=list)
    ranking: dict[str, dict[str, Any]] = field(default_factory=dict)
    hold_id: str | None = None  # the hold of the current attempt
    route: dict[str, Any] | None = None
    tried: set[str] = field(default_factory=set)
    answered: bool = False
    completed: bool = False
    duration_s: int = 0
    screening: dict[str, Any] | None = None  # the facts it was screened on
    refusal: Refusal | None = None  # what the screens decide on them
    publisher_id: str = ""
    ended_by: str | None = None  # as CallCompleted reported it
    flagged: dict[str, Any] | None = None  # the CallFlagged recorded, if any


@dataclass(slots=True)
class _Campaign:
    """A campaign's rules in force (by log order), and each version's rules an auction may
    name (`campaign_version`): the rules set at the newest rule change at or before it."""

    window_days: int
    payout: PayoutRule
    rules: dict[str, Any]  # the stored rule fields, as Created and RulesChanged set them
    versions: list[int] = field(default_factory=list)  # versions that set rules, ascending
    by_version: list[dict[str, Any]] = field(default_factory=list)

    def set(self, version: int, rules: dict[str, Any]) -> None:
        self.rules = rules
        self.window_days = int(rules["duplicate_window_days"])
        self.payout = PayoutRule.from_dict(rules["payout"])
        self.versions.append(version)
        self.by_version.append(rules)

    def at(self, version: int) -> dict[str, Any] | None:
        found = bisect.bisect_right(self.versions, version)
        return self.by_version[found - 1] if found else None

    def flag_rules(self) -> FlagRules:
        """The flag rules in force (a campaign that never set them has the defaults)."""
        return FlagRules(
            int(self.rules.get("buzzer_margin_s", BUZZER_MARGIN_S.default or 0)),
            int(self.rules.get("short_call_s", SHORT_CALL_S.default or 0)),
        )

    @property
    def bills_buzzer_beaters(self) -> bool:
        return bool(self.rules.get("bill_buzzer_beaters", False))


@dataclass(slots=True)
class _Counted:
    """The last call a campaign's traffic counted (the anomaly watch)."""

    call_id: str
    publisher_id: str
    at: datetime


@dataclass(slots=True)
class _TargetState:
    bid_cents: int | None
    paused: bool = False
    archived: bool = False
    requires_consent: bool = False
    requires_tags: dict[str, str | None] | None = None


@dataclass(slots=True)
class _Target:
    """A target's bid, pause and archive at each of its versions (ascending)."""

    versions: list[int] = field(default_factory=list)
    states: list[_TargetState] = field(default_factory=list)

    def set(self, version: int, **changes: Any) -> None:
        last = self.states[-1] if self.states else _TargetState(None)
        state = _TargetState(
            last.bid_cents, last.paused, last.archived, last.requires_consent, last.requires_tags
        )
        for name, value in changes.items():
            setattr(state, name, value)
        self.versions.append(version)
        self.states.append(state)

    def at(self, version: int) -> _TargetState | None:
        found = bisect.bisect_right(self.versions, version)
        return self.states[found - 1] if found else None


@dataclass
class CallResults:
    """What the calls' half hands back: picklable, small."""

    failures: list[Failure]
    failure_count: int
    checked: dict[str, int]
    open_holds: dict[str, tuple[str, str, str | None, str | None]]  # hold -> call, kind, …
    last_stamp: str
    calls: int
    # recording -> (position of its CallRecorded, call, location, sha256, size, deleted)
    recordings: dict[str, Recorded] = field(default_factory=dict)


class CallChecker:
    def __init__(self) -> None:
        self.failures: list[Failure] = []
        self.failure_count = 0
        self.checked = {
            "auctions": 0,
            "billing": 0,
            "routes": 0,
            "auto_pauses": 0,
            "screening": 0,
            "flags": 0,
            "reviews": 0,
            "qualifications": 0,
        }
        self.scores = scores.ScoreChecker()
        self.calls: dict[str, _Call] = {}
        self.pings = 0
        self.campaigns: dict[str, _Campaign] = {}
        self.targets: dict[str, _Target] = {}
        # auto-pause: each target's rules as stored (None: the defaults) and the unanswered
        # calls it counts, as `Target` keeps them (`domain.quality`)
        self.auto_pause_rules: dict[str, list[dict[str, int]] | None] = {}
        self.unanswered: dict[str, list[Unanswered]] = {}
        self.version = 0  # the version of the event being checked (its aggregate's)
        self.position = 0  # its notification id
        self.recordings: dict[str, Recorded] = {}
        self.velocity = Velocity()
        self.block_ids: dict[str, str] = {}  # BlockedCaller id -> caller hash
        self.blocked: set[str] = set()
        # (caller, buyer, campaign) -> (last billed at, call): only campaigns with a window
        self.billed: dict[tuple[str, str, str], tuple[datetime, str]] = {}
        # open holds as the calls see them: hold -> (call, "bid" | "routed", expires, routed)
        self.holds: dict[str, tuple[str, str, str | None, str | None]] = {}
        self.last_stamp = ""
        # the anomaly watch: the last bill to be counted (call, campaign, publisher, short
        # call, duplicate), each campaign's counts and last counted call, the publishers
        # flagged per campaign, and the flags the rule asked for and the log has not shown yet
        self.to_count: tuple[str, str, str, bool, bool] | None = None
        self.traffic: dict[str, Buckets] = {}
        self.last_counted: dict[str, _Counted] = {}
        self.reviewed: set[tuple[str, str]] = set()
        self.review_due: dict[tuple[str, str], tuple[int, str]] = {}
        self.position = 0
        handlers: dict[type, Handler] = {
            Campaign.Created: self._campaign,
            Campaign.RulesChanged: self._campaign_changed,
            Target.Created: self._target,
            Target.StandingBidSet: self._target_bid,
            Target.RulesChanged: self._target_changed,
            Target.Paused: self._target_paused,
            Target.Resumed: self._target_resumed,
            Target.Archived: self._target_archived,
            Target.CallUnanswered: self._target_unanswered,
            Target.AutoPaused: self._target_auto_paused,
            BlockedCaller.CallerBlocked: self._block,
            BlockedCaller.CallerReblocked: self._reblock,
            BlockedCaller.CallerUnblocked: self._unblock,
            Call.PingReceived: self._ping,
            Call.PingScreened: self._screened,
            Call.BidReceived: self._bid,
            Call.AuctionDecided: self._auction,
            Call.NoBuyerFound: self._no_buyer,
            Call.QualificationFailed: self._disqualified,
            Call.PingExpired: self._expired,
            Call.PostRefused: self._refused,
            Call.CallRouted: self._routed,
            Call.CallAnswered: self._answered,
            Call.CallFailedOver: self._failed_over,
            Call.CallCompleted: self._completed,
            Call.CallFlagged: self._flagged,
            Call.CallBilled: self._billed,
            Call.CallNotBilled: self._not_billed,
            CampaignTraffic.CallCounted: self._counted,
            Publisher.FlaggedForReview: self._flagged_for_review,
            Publisher.ReviewCleared: self._review_cleared,
            Call.CallRecorded: self._recorded,
            Call.RecordingDeleted: self._recording_deleted,
        }
        for cls, reads in self.scores.handlers().items():
            handlers[cls] = _both(reads, handlers[cls]) if cls in handlers else reads
        self.handlers = {name_of(cls): handler for cls, handler in handlers.items()}
        self._by_topic: dict[str, Handler | None] = {}
        self._stateless: set[str] = set()

    def fail(self, position: int, check: str, aggregate_id: str, message: str) -> None:
        self.failure_count += 1
        if len(self.failures) < FAILURES_KEPT_MAX:
            self.failures.append((position, check, aggregate_id, message))

    # -- the pass ---------------------------------------------------------------------------
    def feed(self, rows: Iterable[ChainedRow]) -> None:
        """Check the calls' events among `rows` (any other event is passed over)."""
        by_topic = self._by_topic
        last_stamp = self.last_stamp
        for position, call_id, version, topic, state, _ in rows:
            if topic is None or state is None or call_id is None:
                continue  # the chain check reports it
            handler = by_topic.get(topic)
            if handler is None:
                if topic in by_topic:
                    continue
                handler = by_topic[topic] = self._handler(topic)
                if handler is None:
                    continue
            try:
                if topic in self._stateless:
                    handler(call_id, {})
                    continue
                data: dict[str, Any] = orjson.loads(state)
                self.version = version or 0
                self.position = position
                stamp = data.get("timestamp")
                if type(stamp) is str and stamp > last_stamp:  # RFC 3339, UTC: ordered
                    last_stamp = stamp
                handler(call_id, data)
            except Broken as broken:
                self.fail(position, broken.check, call_id, broken.message)
            except scores.Broken as broken:
                self.fail(position, scores.CHECK, call_id, str(broken))
            except (InvariantViolation, KeyError, TypeError, ValueError, AttributeError) as error:
                name = topic.partition(":")[2]
                check = "auctions" if name == AUCTION_DECIDED else "billing"
                self.fail(position, check, call_id, f"{name}: {type(error).__name__} {error}")
        self.last_stamp = last_stamp

    def _handler(self, topic: str) -> Handler | None:
        name = topic.partition(":")[2]
        if name in NEEDS_NO_STATE:
            self._stateless.add(topic)
        return self.handlers.get(name)

    def results(self) -> CallResults:
        for failure in self.velocity.resolve(None):
            self.fail(*failure)
        for (publisher_id, campaign_id), (position, call_id) in sorted(
            self.review_due.items(), key=lambda item: item[1]
        ):
            self.fail(
                position,
                "reviews",
                traffic_id(campaign_id),
                f"counting {call_id} met the anomaly rule for {publisher_id}; no flag followed",
            )
        self.review_due = {}
        return CallResults(
            self.failures,
            self.failure_count,
            {
                k: n
                for k, n in {**self.checked, "scores": self.scores.checked}.items()
                if n or k not in OPTIONAL_CHECKS
            },
            dict(self.holds),
            self.last_stamp,
            self.pings,
            dict(self.recordings),
        )

    # -- recordings: collected here, their bytes checked by `replay.verify` ------------------
    def _recorded(self, call_id: str, data: dict[str, Any]) -> None:
        self.recordings[data["recording_id"]] = (
            self.position,
            call_id,
            str(data["location"]),
            str(data["sha256"]),
            int(data["size_bytes"]),
            False,
        )

    def _recording_deleted(self, call_id: str, data: dict[str, Any]) -> None:
        found = self.recordings.get(data["recording_id"])
        if found is None:
            raise Broken("recordings", f"recording {data['recording_id']} was never recorded")
        self.recordings[data["recording_id"]] = (*found[:5], True)

    # -- configuration ------------------------------------------------------------------------
    def _campaign(self, campaign_id: str, data: dict[str, Any]) -> None:
        campaign = _Campaign(0, PayoutRule.from_dict(data["payout"]), data)
        campaign.set(self.version, data)
        self.campaigns[campaign_id] = campaign

    def _campaign_changed(self, campaign_id: str, data: dict[str, Any]) -> None:
        campaign = self.campaigns[campaign_id]
        campaign.set(self.version, {**campaign.rules, **data["changes"]})

    def _target(self, target_id: str, data: dict[str, Any]) -> None:
        self.targets[target_id] = target = _Target()
        target.set(self.version, bid_cents=data["bid_cents"])

    def _target_bid(self, target_id: str, data: dict[str, Any]) -> None:
        self.targets[target_id].set(self.version, bid_cents=data["bid_cents"])

    def _target_changed(self, target_id: str, data: dict[str, Any]) -> None:
        changes = data["changes"]
        if "auto_pause" in changes:
            self.auto_pause_rules[target_id] = changes["auto_pause"]
        kept = {
            k: changes[k]
            for k in ("bid_cents", "requires_consent", "requires_tags")
            if k in changes
        }
        if kept:
            self.targets[target_id].set(self.version, **kept)

    def _target_paused(self, target_id: str, data: dict[str, Any]) -> None:
        self.targets[target_id].set(self.version, paused=True)

    def _target_resumed(self, target_id: str, data: dict[str, Any]) -> None:
        self.targets[target_id].set(self.version, paused=False)
        self.unanswered.pop(target_id, None)

    def _target_unanswered(self, target_id: str, data: dict[str, Any]) -> None:
        at = datetime.fromisoformat(data["timestamp"])
        recent = [*self.unanswered.get(target_id, []), Unanswered(data["call_id"], at)]
        self.unanswered[target_id] = kept(recent, at)

    def _target_auto_paused(self, target_id: str, data: dict[str, Any]) -> None:
        """The pause again from the counted calls and the target's rules: the same rule, the
        same calls, the same version of the decision."""
        self.checked["auto_pauses"] += 1
        recent = self.unanswered.pop(target_id, [])
        self.targets[target_id].set(self.version, paused=True)
        if data["rule_version"] != AUTO_PAUSE_RULES_VERSION:
            raise Broken("auto_pauses", f"rule_version {data['rule_version']} is unknown")
        at = datetime.fromisoformat(data["timestamp"])
        found = tripped(rules_of(self.auto_pause_rules.get(target_id)), recent, at)
        expected = None if found is None else (found.rule.to_dict(), list(found.call_ids))
        if expected != (data["rule"], data["call_ids"]):
            raise Broken(
                "auto_pauses",
                f"paused by {data['rule']} counting {data['call_ids']}; the log says {expected}",
            )

    def _target_archived(self, target_id: str, data: dict[str, Any]) -> None:
        self.targets[target_id].set(self.version, archived=True)

    def _block(self, entry_id: str, data: dict[str, Any]) -> None:
        self.block_ids[entry_id] = data["caller_hash"]
        self.blocked.add(data["caller_hash"])

    def _reblock(self, entry_id: str, data: dict[str, Any]) -> None:
        self.blocked.add(self.block_ids[entry_id])

    def _unblock(self, entry_id: str, data: dict[str, Any]) -> None:
        self.blocked.discard(self.block_ids[entry_id])

    # -- the auction --------------------------------------------------------------------------
    def _call(self, call_id: str, check: str) -> _Call:
        call = self.calls.get(call_id)
        if call is None:
            raise Broken(check, "an event of a call that is not open (no ping, or already ended)")
        return call

    def _ping(self, call_id: str, data: dict[str, Any]) -> None:
        if call_id in self.calls:
            raise Broken("auctions", "a second PingReceived for the call")
        self.pings += 1
        call = self.calls[call_id] = _Call(
            data["campaign_id"],
            data["caller_hash"],
            data.get("consent") is not None,
            dict(data.get("tags") or {}),
            publisher_id=data["publisher_id"],
        )
        facts = data.get("screening")
        if facts is not None:
            self.checked["screening"] += 1
            call.screening = facts
            call.refusal = self._rescreen(call_id, call, facts)

    # -- screening before the auction -----------------------------------------------------------
    def _rescreen(self, call_id: str, call: _Call, facts: dict[str, Any]) -> Refusal | None:
        """The screens again on the recorded facts and the campaign's settings at the version
        named; the velocity count goes to the log's own count of the caller's pings (checked
        once the log is `VELOCITY_RACE_MS` past it). → what the screens decide."""
        if facts["rule_version"] != SCREENING_RULES_VERSION:
            raise Broken("screening", f"rule_version {facts['rule_version']} is unknown")
        campaign = self.campaigns.get(call.campaign_id)
        rules = None if campaign is None else campaign.at(facts["campaign_version"])
        if rules is None:
            raise Broken(
                "screening", f"screened with campaign version {facts['campaign_version']}: none"
            )
        settings = ScreeningSettings.of_rules(rules)
        line = CallerLine.from_json(facts["line"])
        seen = None if facts["velocity"] is None else VelocitySeen.from_json(facts["velocity"])
        refusal = screen(line, seen, settings)
        if seen is None:
            if number_refusal(line) is None:
                raise Broken("screening", "a valid number's ping was not counted for velocity")
            return refusal
        for failure in self.velocity.resolve(seen.at_ms):  # the checks the log is past
            self.fail(*failure)
        # what the count must justify: a velocity refusal, or a pass (a ping refused by
        # another screen is counted, and its count decides nothing)
        refused = (
            False if refusal is None else (True if refusal.screen == Screen.VELOCITY else None)
        )
        self.velocity.add(call_id, call.caller_hash, seen, self.position, refused)
        rule = settings.velocity
        if (seen.calls, seen.window_s) != ((rule.calls, rule.window_s) if rule.on else (0, 0)):
            raise Broken(
                "screening",
                f"counted for {seen.calls} calls in {seen.window_s} s; the campaign's velocity "
                f"at version {facts['campaign_version']} is {rule.to_dict()}",
            )
        return refusal

    def _screened(self, call_id: str, data: dict[str, Any]) -> None:
        """A refusal: the screens on the ping's facts refuse it, by the same screen."""
        call = self._call(call_id, "screening")
        del self.calls[call_id]
        if call.screening is None or data["facts"] != call.screening:
            raise Broken("screening", "the refusal's facts are not those its ping recorded")
        if data["rule_version"] != SCREENING_RULES_VERSION:
            raise Broken("screening", f"rule_version {data['rule_version']} is unknown")
        expected = None if call.refusal is None else call.refusal.screen
        if expected != data["screen"]:
            raise Broken("screening", f"refused by {data['screen']}; the screens give {expected}")

    @staticmethod
    def _passed(call: _Call) -> None:
        """An auction ran: the screens on the ping's facts let it through."""
        if call.refusal is not None:
            raise Broken(
                "screening",
                f"the ping went to auction; the screens refuse it ({call.refusal.screen})",
            )

    def _bid(self, call_id: str, data: dict[str, Any]) -> None:
        call = self._call(call_id, "auctions")
        if data.get("target_version") is not None:
            self._check_bid_rules(data, call)
        call.bids.append(
            Bid(
                data["target_id"],
                data["buyer_id"],
                data["amount_cents"],
                data["priority"],
                data["weight"],
            )
        )

    def _check_bid_rules(self, data: dict[str, Any], call: _Call) -> None:
        """A bid names the target version whose rules made it: the target could bid then
        (neither paused nor archived, and a ping without consent, or without a tag it
        requires, is not for it), and a standing bid is that version's bid."""
        target_id, version = data["target_id"], data["target_version"]
        target = self.targets.get(target_id)
        state = target.at(version) if target else None
        if state is None:
            raise Broken("auctions", f"a bid of {target_id} at version {version}: no such target")
        if state.paused or state.archived:
            raise Broken("auctions", f"{target_id} bid at version {version}, paused or archived")
        if state.requires_consent and not call.consented:
            raise Broken(
                "auctions",
                f"{target_id} requires consent at version {version}; the ping carried none",
            )
        if not satisfies(state.requires_tags, call.tags):
            raise Broken(
                "auctions",
                f"{target_id} requires tags {state.requires_tags} at version {version}; the "
                f"ping's tags lack them",
            )
        if data["source"] == BidSource.STANDING and data["amount_cents"] != state.bid_cents:
            raise Broken(
                "auctions",
                f"the standing bid {data['amount_cents']} of {target_id} is not its bid "
                f"{state.bid_cents} at version {version}",
            )

    def _no_buyer(self, call_id: str, data: dict[str, Any]) -> None:
        call = self._call(call_id, "auctions")
        del self.calls[call_id]
        self._passed(call)
        self._check_exclusions(call, data)

    def _disqualified(self, call_id: str, data: dict[str, Any]) -> None:
        """The qualification's failure again: the answer kept, judged by the question of the
        campaign's version the call names, fails; nothing was auctioned."""
        call = self._call(call_id, "qualifications")
        del self.calls[call_id]
        self.checked["qualifications"] += 1
        if call.bids:
            raise Broken("qualifications", "a disqualified call has bids")
        if data["rule_version"] != IVR_RULES_VERSION:
            raise Broken("qualifications", f"rule_version {data['rule_version']} is unknown")
        campaign = self.campaigns.get(call.campaign_id)
        version = data.get("campaign_version")
        rules = None if campaign is None or version is None else campaign.at(version)
        script = IvrScript.of(rules.get("ivr") if rules else None)
        question = script.question(data["question_id"]) if script else None
        if script is None or question is None:
            raise Broken(
                "qualifications",
                f"campaign {call.campaign_id} at version {version} asks no question "
                f"{data['question_id']!r}",
            )
        if data["action"] != script.on_fail.action:
            raise Broken(
                "qualifications",
                f"action {data['action']} is not the campaign's {script.on_fail.action}",
            )
        verdict = judge(question, data["answer"])
        if verdict.passed or verdict.kept != data["answer"]:
            raise Broken(
                "qualifications",
                f"the answer {data['answer']!r} to {question.id} passes, or is not what the "
                "rule keeps",
            )
        asked_before = script.questions[: script.questions.index(question)]
        if any(q.tag not in call.tags for q in asked_before):
            raise Broken("qualifications", "a question before the failed one was not passed")

    def _auction(self, call_id: str, data: dict[str, Any]) -> None:
        call = self._call(call_id, "auctions")
        bids, call.bids = call.bids, []  # not needed after the re-run: memory stays flat
        call.ranking = {c["target_id"]: c for c in data["ranking"]}
        call.hold_id = data["hold_id"]
        self._open(data["hold_id"], call_id, "bid", data["expires_at"])
        self.checked["auctions"] += 1
        self._passed(call)
        self._check_exclusions(call, data)
        self._rerun_auction(call, bids, data)

    def _rerun_auction(self, call: _Call, bids: list[Bid], data: dict[str, Any]) -> None:
        recorded = data["ranking"]
        rerun = rank(
            data["mode"],
            bids,
            data["floor_cents"],
            data["seed"],
            data["rr_cursor"],
            data["rule_version"],
            limit=RANKING_KEPT_MAX,
        )
        expected = [(b.target_id, b.buyer_id, b.amount_cents) for b in rerun]
        found = [(c["target_id"], c["buyer_id"], c["price_cents"]) for c in recorded]
        if expected != found:
            raise Broken(
                "auctions",
                f"the re-run ranking {expected[:3]} differs from the recorded {found[:3]}",
            )
        skipped = {s[0] for s in data["skipped"]}
        winner = next((c for c in recorded if c["target_id"] not in skipped), None)
        if winner is None or winner["target_id"] != data["winner_target_id"]:
            raise Broken(
                "auctions",
                f"the re-run winner {winner['target_id'] if winner else None} is not the "
                f"recorded {data['winner_target_id']}",
            )
        if winner["price_cents"] != data["price_cents"] or (
            winner["buyer_id"] != data["winner_buyer_id"]
        ):
            raise Broken(
                "auctions",
                f"the recorded price {data['price_cents']} is not the winner's bid "
                f"{winner['price_cents']}",
            )
        campaign = self.campaigns.get(call.campaign_id)
        if campaign is None:
            raise Broken("auctions", f"campaign {call.campaign_id} was never created")
        payout_rule = self._rules_of_auction(campaign, data)
        for candidate in recorded:
            payout = payout_rule.payout_cents(candidate["price_cents"])
            if candidate["payout_cents"] != payout:
                raise Broken(
                    "auctions",
                    f"payout {candidate['payout_cents']} for {candidate['target_id']} is not "
                    f"the campaign's rule applied to {candidate['price_cents']} ({payout})",
                )
        if data["payout_cents"] != winner["payout_cents"]:
            raise Broken("auctions", "the recorded payout is not the winner's")

    @staticmethod
    def _rules_of_auction(campaign: _Campaign, data: dict[str, Any]) -> PayoutRule:
        """The payout rule the auction used: its `campaign_version`'s, whose mode and floor
        it must have used too; an auction recorded without one uses the rules in force."""
        version = data.get("campaign_version")
        if version is None:
            return campaign.payout
        rules = campaign.at(version)
        if rules is None:
            raise Broken("auctions", f"the auction names campaign version {version}: none such")
        payout = PayoutRule.from_dict(rules["payout"])
        if data["mode"] != rules["distribution"]:
            raise Broken(
                "auctions",
                f"mode {data['mode']} is not {rules['distribution']} of campaign version {version}",
            )
        floor = floor_cents(payout, rules["min_margin_cents"], rules["min_bid_cents"])
        if data["floor_cents"] != floor:
            raise Broken(
                "auctions",
                f"floor {data['floor_cents']} is not {floor} of campaign version {version}",
            )
        return payout

    def _check_exclusions(self, call: _Call, data: dict[str, Any]) -> None:
        """An exclusion for missing consent is only for a ping that carried none; one for
        missing tags, only for a target that required (at some version so far) a tag the
        ping lacks."""
        if call.consented:
            wrong = sorted(
                t for t, r in data["excluded"].items() if r == ExclusionReason.CONSENT_MISSING
            )
            if wrong:
                raise Broken(
                    "auctions", f"{wrong[0]} excluded for missing consent; the ping had it"
                )
        for target_id, reason in sorted(data["excluded"].items()):
            if reason != ExclusionReason.TAGS_MISSING:
                continue
            target = self.targets.get(target_id)
            states = target.states if target else []
            if all(satisfies(s.requires_tags, call.tags) for s in states):
                raise Broken(
                    "auctions",
                    f"{target_id} excluded for missing tags; the ping has every tag it required",
                )

    # -- holds as the call sees them ------------------------------------------------------------
    def _open(self, hold_id: str, call_id: str, kind: str, at: str | None) -> None:
        if hold_id in self.holds:
            raise Broken("holds", f"hold {hold_id} opened twice")
        self.holds[hold_id] = (call_id, kind, at, None)

    def _close(self, hold_id: str, call: _Call) -> Broken | None:
        """Close the call's open hold; a problem is returned (the caller finishes its own
        transition first, so one broken event does not cascade into the next ones)."""
        found = self.holds.pop(hold_id, None)
        current, call.hold_id = call.hold_id, None
        if found is None or hold_id != current:
            return Broken("holds", f"hold {hold_id} is not the call's open hold")
        return None

    def _expired(self, call_id: str, data: dict[str, Any]) -> None:
        call = self._call(call_id, "holds")
        expires = self.holds.get(data["hold_id"], (call_id, "bid", None, None))[2]
        del self.calls[call_id]
        problem = self._close(data["hold_id"], call)
        if problem is not None:
            raise problem
        if call.route is not None:
            raise Broken("holds", "a posted call's bid expired")
        if expires is not None and data["timestamp"] < expires:
            raise Broken("holds", "the bid was expired before its expiry")

    def _refused(self, call_id: str, data: dict[str, Any]) -> None:
        """A post refused because the caller was blocked: the block must be in force."""
        call = self._call(call_id, "holds")
        del self.calls[call_id]
        problem = self._close(data["hold_id"], call)
        if problem is not None:
            raise problem
        if call.route is not None:
            raise Broken("holds", "a routed call's post was refused")
        if data["reason"] == PostRefusal.BLOCKED and call.caller_hash not in self.blocked:
            raise Broken("billing", "a post was refused as blocked, but the caller is not")

    # -- routes -------------------------------------------------------------------------------
    def _routed(self, call_id: str, data: dict[str, Any]) -> None:
        call = self._call(call_id, "routes")
        self.checked["routes"] += 1
        problem = self._route_problem(call, data)
        hold_id = data["hold_id"]
        if data["attempt"] != 1 and hold_id not in self.holds:  # a failover opens a new hold
            call.hold_id = hold_id
        self.holds[hold_id] = (call_id, "routed", None, data["timestamp"])
        call.tried.add(data["target_id"])
        call.route = data
        call.answered = False
        if problem is not None:
            raise Broken("routes", problem)

    def _route_problem(self, call: _Call, data: dict[str, Any]) -> str | None:
        target_id = data["target_id"]
        candidate = call.ranking.get(target_id)
        if candidate is None or target_id in call.tried:
            return f"routed to {target_id}: not a ranked target not tried yet"
        for name in ("buyer_id", "price_cents", "payout_cents", "buffer_s", "destination"):
            if data[name] != candidate[name]:
                return f"the route's {name} is not the ranked candidate's"
        if data["attempt"] == 1:  # the winner's hold, kept for the call's maximum life
            if call.route is not None or data["hold_id"] != call.hold_id:
                return "the first route does not carry the auction's hold"
        elif call.route is None or call.hold_id is not None or data["hold_id"] in self.holds:
            return "a failover route while the last hold is still open, or with an old hold"
        return None

    def _answered(self, call_id: str, data: dict[str, Any]) -> None:
        call = self._call(call_id, "billing")
        if call.route is None:
            raise Broken("billing", "answered before it was routed")
        call.answered = True

    def _failed_over(self, call_id: str, data: dict[str, Any]) -> None:
        call = self._call(call_id, "routes")
        route = call.route
        problem = self._close(data["hold_id"], call)
        if route is None or data["target_id"] != route["target_id"]:
            raise Broken("routes", "a failover of a target the call was not routed to")
        if problem is not None:
            raise problem

    # -- billing ------------------------------------------------------------------------------
    def _completed(self, call_id: str, data: dict[str, Any]) -> None:
        call = self._call(call_id, "billing")
        if call.completed:
            raise Broken("billing", "completed twice")
        call.completed = True
        call.duration_s = data["duration_s"]
        call.ended_by = data.get("ended_by")
        if bool(data["answered"]) != call.answered:
            raise Broken(
                "billing",
                f"recorded answered={data['answered']}, the call's events say {call.answered}",
            )

    def _flagged(self, call_id: str, data: dict[str, Any]) -> None:
        call = self._call(call_id, "flags")
        if not call.completed or call.flagged is not None:
            raise Broken("flags", "flagged before the call ended, or twice")
        call.flagged = data

    def _flags(self, call: _Call, data: dict[str, Any]) -> tuple[tuple[str, ...], Broken | None]:
        """The flags the rule gives the completed call (with its campaign's rules in force),
        and a problem when the log's `CallFlagged` says otherwise. A bill of billing rules
        before buzzer-beaters (version 1) comes from before flags: none is expected."""
        recorded = call.flagged
        if data["rules_version"] < BUZZER_BEATERS_BILLABLE_SINCE:
            problem = None if recorded is None else Broken("flags", "flagged under billing rules 1")
            return (), problem
        self.checked["flags"] += 1
        route = call.route or {}
        rules = self.campaigns[call.campaign_id].flag_rules()
        expected = tuple(
            str(f)
            for f in flags_of(
                answered=call.answered,
                duration_s=call.duration_s,
                buffer_s=route.get("buffer_s", 0),
                ended_by=call.ended_by,
                rules=rules,
            )
        )
        if recorded is None:
            if expected:
                return expected, Broken("flags", f"the flag rule gives {list(expected)}; none")
            return expected, None
        inputs = (
            call.ended_by,
            call.duration_s,
            route.get("buffer_s"),
            rules.margin_s,
            rules.short_call_s,
        )
        found = tuple(
            recorded[k] for k in ("ended_by", "duration_s", "buffer_s", "margin_s", "short_call_s")
        )
        if recorded["rule_version"] not in CALL_FLAGS_RULES_VERSIONS:
            return expected, Broken("flags", f"flag rules {recorded['rule_version']} unknown")
        if tuple(recorded["flags"]) != expected or found != inputs:
            return expected, Broken(
                "flags",
                f"flagged {recorded['flags']} on {found}; the rule gives {list(expected)} "
                f"on {inputs}",
            )
        return expected, None

    def _rerun(
        self, call: _Call, data: dict[str, Any], flags: tuple[str, ...] = ()
    ) -> tuple[BillingDecision, str | None]:
        route = call.route
        if route is None or not call.completed:
            raise Broken("billing", "a billing decision before the call was routed and ended")
        if data["hold_id"] != route["hold_id"] or data["buyer_id"] != route["buyer_id"]:
            raise Broken("billing", "the bill is not for the routed hold")
        if data["rules_version"] not in BILLING_RULES_VERSIONS:
            raise Broken("billing", f"billing rules {data['rules_version']} are unknown")
        campaign = self.campaigns[call.campaign_id]
        last = None
        duplicate = False
        if campaign.window_days > 0:
            last = self.billed.get((call.caller_hash, route["buyer_id"], call.campaign_id))
            at = datetime.fromisoformat(data["timestamp"])
            duplicate = is_duplicate(last[0] if last else None, at, campaign.window_days)
        decision = billing_decision(
            answered=call.answered,
            duration_s=call.duration_s,
            buffer_s=route["buffer_s"],
            duplicate=duplicate,
            blocked=call.caller_hash in self.blocked,
            price_cents=route["price_cents"],
            payout_cents=route["payout_cents"],
            buzzer_beater=CallFlag.BUZZER_BEATER in flags,
            bill_buzzer_beaters=campaign.bills_buzzer_beaters,
            rules_version=data["rules_version"],
        )
        return decision, (last[1] if last and duplicate else None)

    def _end(self, call_id: str, call: _Call, hold_id: str, check: Callable[[], None]) -> None:
        """Run the bill's check, then close the call and its hold whatever it found."""
        try:
            check()
        finally:
            del self.calls[call_id]
            problem = self._close(hold_id, call)
        if problem is not None:
            raise problem

    def _billed(self, call_id: str, data: dict[str, Any]) -> None:
        call = self._call(call_id, "billing")
        self.checked["billing"] += 1

        def check() -> None:
            revenue, payout = data["revenue_cents"], data["payout_cents"]
            margin = data["margin_cents"]
            if revenue != payout + margin:
                raise Broken("billing", f"revenue {revenue} != payout {payout} + margin {margin}")
            flags, flag_problem = self._flags(call, data)
            self._to_count(call_id, call, data, flags, duplicate=False)
            decision, _ = self._rerun(call, data, flags)
            if not decision.billable or (decision.revenue_cents, decision.payout_cents) != (
                revenue,
                payout,
            ):
                raise Broken(
                    "billing",
                    f"the billing rules give {decision.reason} {decision.revenue_cents}/"
                    f"{decision.payout_cents}, the log says billed {revenue}/{payout}",
                )
            if flag_problem is not None:
                raise flag_problem

        try:
            self._end(call_id, call, data["hold_id"], check)
        finally:  # the bill is a fact the next calls' duplicate rule sees, as CallerHistory has it
            if self.campaigns[call.campaign_id].window_days > 0:
                key = (call.caller_hash, data["buyer_id"], call.campaign_id)
                self.billed[key] = (datetime.fromisoformat(data["timestamp"]), call_id)

    def _not_billed(self, call_id: str, data: dict[str, Any]) -> None:
        call = self._call(call_id, "billing")
        self.checked["billing"] += 1
        if data["hold_id"] is None:  # failover ran out of bidders: never answered
            del self.calls[call_id]
            if data["reason"] != BillingReason.NOT_ANSWERED or call.hold_id is not None:
                raise Broken("billing", "an unrouted call ends not_answered, holding nothing")
            if call.flagged is not None:
                raise Broken("flags", "an unanswered call is flagged")
            return

        def check() -> None:
            flags, flag_problem = self._flags(call, data)
            self._to_count(
                call_id, call, data, flags, duplicate=data["reason"] == BillingReason.DUPLICATE
            )
            decision, duplicate_of = self._rerun(call, data, flags)
            if decision.billable or decision.reason != data["reason"]:
                raise Broken(
                    "billing",
                    f"the billing rules give {decision.reason}, the log says {data['reason']}",
                )
            if data["duplicate_of"] != duplicate_of:
                raise Broken("billing", f"duplicate of {data['duplicate_of']}, not {duplicate_of}")
            if bool(data["blocked"]) != (call.caller_hash in self.blocked):
                raise Broken("billing", "the recorded block flag is not the block list's")
            if flag_problem is not None:
                raise flag_problem

        self._end(call_id, call, data["hold_id"], check)

    # -- the anomaly watch ----------------------------------------------------------------------
    def _to_count(
        self,
        call_id: str,
        call: _Call,
        data: dict[str, Any],
        flags: tuple[str, ...],
        *,
        duplicate: bool,
    ) -> None:
        """A bill of the current rules is counted by its campaign's traffic in the same save
        (`CallCounted` follows it): what that count must say."""
        self.to_count = None
        if data["rules_version"] >= BUZZER_BEATERS_BILLABLE_SINCE:
            short = CallFlag.SHORT_CALL in flags
            self.to_count = (call_id, call.campaign_id, call.publisher_id, short, duplicate)

    def _counted(self, traffic: str, data: dict[str, Any]) -> None:
        """The count is the last bill's; folded as `CampaignTraffic` folds it, after which
        the rule says whether the publisher must be flagged (the next event, unless it is
        flagged on the campaign already)."""
        expected, self.to_count = self.to_count, None
        recorded = (data["call_id"], data["publisher_id"], data["short_call"], data["duplicate"])
        if expected is None or traffic != traffic_id(expected[1]):
            raise Broken("reviews", f"{data['call_id']} counted without its bill just before")
        call_id, campaign_id, publisher_id, short, duplicate = expected
        at = datetime.fromisoformat(data["timestamp"])
        self.traffic[campaign_id] = counted(
            self.traffic.get(campaign_id, {}),
            data["publisher_id"],
            at,
            data["short_call"],
            data["duplicate"],
        )
        self.last_counted[campaign_id] = _Counted(call_id, data["publisher_id"], at)
        key = (data["publisher_id"], campaign_id)
        mine, every = window_counts(self.traffic[campaign_id], data["publisher_id"], at)
        if key not in self.reviewed and anomaly(mine, every, THRESHOLDS) is not None:
            self.review_due[key] = (self.position, call_id)
        if recorded != (call_id, publisher_id, short, duplicate):
            raise Broken("reviews", f"counted {recorded}; the bill says {expected}")

    def _flagged_for_review(self, publisher_id: str, data: dict[str, Any]) -> None:
        """The flag again: right after the count of its call, the same counts over the same
        window, the same rate, the same thresholds, not flagged on the campaign already."""
        self.checked["reviews"] += 1
        campaign_id = data["campaign_id"]
        key = (publisher_id, campaign_id)
        self.review_due.pop(key, None)
        already = key in self.reviewed
        self.reviewed.add(key)
        if data["rule_version"] not in ANOMALY_RULES_VERSIONS:
            raise Broken("reviews", f"anomaly rules {data['rule_version']} are unknown")
        last = self.last_counted.get(campaign_id)
        if last is None or last.call_id != data["call_id"] or last.publisher_id != publisher_id:
            raise Broken("reviews", f"flagged on {data['call_id']}, not the call just counted")
        if already:
            raise Broken("reviews", "flagged again on the campaign before it was cleared")
        mine, every = window_counts(self.traffic[campaign_id], publisher_id, last.at)
        rate = anomaly(mine, every, THRESHOLDS)
        expected = (
            None if rate is None else rate.value,
            mine.to_json(),
            every.to_json(),
            THRESHOLDS.to_json(),
            window_start(last.at).isoformat(),
        )
        found = (
            data["rate"],
            data["publisher_counts"],
            data["campaign_counts"],
            data["thresholds"],
            datetime.fromisoformat(data["window_started_at"]).isoformat(),
        )
        if found != expected:
            raise Broken("reviews", f"flagged with {found}; the log's counts give {expected}")

    def _review_cleared(self, publisher_id: str, data: dict[str, Any]) -> None:
        for campaign_id in data["campaign_ids"]:
            self.reviewed.discard((publisher_id, campaign_id))
            self.review_due.pop((publisher_id, campaign_id), None)


def _both(first: Handler, then: Handler) -> Handler:
    """Two readers of one event: the scores' (which only follows the call) first."""

    def handle(aggregate_id: str, data: dict[str, Any]) -> None:
        first(aggregate_id, data)
        then(aggregate_id, data)

    return handle


def serve(conn: Connection) -> None:
    """The worker process: pages of stored rows, marshalled, until an empty message; then
    the results go back pickled."""
    checker = CallChecker()
    while True:
        payload = conn.recv_bytes()
        if not payload:
            break
        # our own parent process over a private pipe: not untrusted input
        checker.feed(marshal.loads(payload))  # noqa: S302
    conn.send(checker.results())
    conn.close()
