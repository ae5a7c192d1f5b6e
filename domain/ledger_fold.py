"""Folding stored events into a `Ledger` (`domain.ledger`): the buyers' ledger events, read
as raw rows (topic and decoded JSON state), so replay and tests need not build event objects.
Its `READS` says which events move money or set a credit limit, and which it passes over."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from domain.anomaly import CampaignTraffic
from domain.api_key import ApiKey
from domain.blocklist import BlockedCaller
from domain.buyer import Buyer
from domain.call import Call
from domain.caller_history import CallerHistory
from domain.campaign import Campaign
from domain.catalog import Reads, topic_of
from domain.ledger import Ledger, Transfer
from domain.numbers import NumberPool, TrackingNumber
from domain.publisher import Publisher
from domain.rate_limits import RateLimitReport
from domain.receipt import CommandReceipt
from domain.saved_query import SavedQueries
from domain.scoring_model import ScoringModels
from domain.target import Target
from domain.user import User
from domain.webhook import Webhook

Fold = Callable[[Ledger, str, Mapping[str, Any]], bool]


def _limit(ledger: Ledger, buyer_id: str, state: Mapping[str, Any]) -> bool:
    ledger.credit_limits[buyer_id] = int(state["credit_limit_cents"])
    return False


def _post(ledger: Ledger, buyer_id: str, state: Mapping[str, Any]) -> bool:
    ledger.post(Transfer.from_dict(state["transfer"]))
    return True


def _hold(ledger: Ledger, buyer_id: str, state: Mapping[str, Any]) -> bool:
    ledger.hold(Transfer.from_dict(state["transfer"]))
    return True


def _post_hold(ledger: Ledger, buyer_id: str, state: Mapping[str, Any]) -> bool:
    ledger.post_hold(state["hold_id"])
    return True


def _void_hold(ledger: Ledger, buyer_id: str, state: Mapping[str, Any]) -> bool:
    ledger.void_hold(state["hold_id"])
    return True


FOLDS: dict[type, Fold] = {
    Buyer.Registered: _limit,
    Buyer.CreditLimitChanged: _limit,
    Buyer.FundsDeposited: _post,
    Buyer.TransferReversed: _post,
    Buyer.HoldPlaced: _hold,
    Buyer.HoldPosted: _post_hold,
    Buyer.HoldVoided: _void_hold,
}
# Money moves only on a buyer's account (a call's holds too, in Buyer events): no event of
# these aggregates, nor these events of a buyer, touches the ledger. Every reader of the
# ledger's events ignores them.
OUTSIDE_THE_LEDGER: tuple[type, ...] = (
    Buyer.ProfileChanged,  # a name and a time zone
    ApiKey,
    BlockedCaller,
    Call,
    CallerHistory,
    Campaign,
    CommandReceipt,
    RateLimitReport,
    CampaignTraffic,
    NumberPool,
    Publisher,
    Target,
    TrackingNumber,
    User,
    SavedQueries,
    Webhook,
    ScoringModels,
)
READS = Reads("domain.ledger_fold", handles=tuple(FOLDS), ignores=OUTSIDE_THE_LEDGER)
_BY_TOPIC = {topic_of(cls): fold for cls, fold in FOLDS.items()}


def apply_stored_event(
    ledger: Ledger, topic: str, originator_id: str, state: Mapping[str, Any]
) -> bool:
    """Apply one stored event (its topic and decoded JSON state) to `ledger`; False when the
    event does not move money."""
    fold = _BY_TOPIC.get(topic)
    return fold is not None and fold(ledger, originator_id, state)
