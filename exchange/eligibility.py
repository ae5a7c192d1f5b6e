"""Which targets may bid on a ping, and why each other one may not (pure).

The checks, in order: paused, the caller's consent (a target that requires it gets no ping
without one), the ping's tags (a target that requires tags gets no ping lacking one), geo
(state, ZIP, area code allow/deny), the target's schedule in its own time zone, caps
(concurrency, local hour/day/month counts, daily budget), the buyer's funds, and a duplicate
of a caller the buyer already paid for within the campaign's window. The caller's block-list
status is decided before (a blocked caller gets no auction).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.call_state import ExclusionReason, NoBuyerReason
from domain.caps import CapUsage, cap_exceeded
from domain.geo import Geo
from domain.ivr import satisfies
from exchange.market import TargetRule

NO_USAGE = CapUsage()
NO_TAGS: Mapping[str, str] = {}


@dataclass(frozen=True, slots=True)
class Eligibility:
    eligible: list[TargetRule]
    excluded: dict[str, ExclusionReason]  # target id -> reason


def eligible_targets(
    targets: Sequence[TargetRule],
    *,
    geo: Geo,
    at: datetime,
    floor_cents: int,
    usage: Mapping[str, CapUsage],
    headroom_cents: Mapping[str, int],
    duplicate_buyers: frozenset[str],
    consented: bool = False,
    tags: Mapping[str, str] = NO_TAGS,
) -> Eligibility:
    """`headroom_cents[buyer]` is available funds plus credit limit; a standing bid must fit
    in it, an RTB target needs at least the floor (its price is not known yet). `consented`:
    the ping carries the caller's consent references; `tags`: the ping's tags."""
    eligible: list[TargetRule] = []
    excluded: dict[str, ExclusionReason] = {}
    for t in targets:
        price = t.bid_cents if t.bid_cents is not None else floor_cents
        reason = None if t.plain else _rule_reason(t, geo, at, usage, price, consented, tags)
        if reason is None:
            if headroom_cents.get(t.buyer_id, 0) < price:
                reason = ExclusionReason.INSUFFICIENT_FUNDS
            elif t.buyer_id in duplicate_buyers:
                reason = ExclusionReason.DUPLICATE
        if reason is None:
            eligible.append(t)
        else:
            excluded[t.target_id] = reason
    return Eligibility(eligible, excluded)


def _rule_reason(
    t: TargetRule,
    geo: Geo,
    at: datetime,
    usage: Mapping[str, CapUsage],
    price: int,
    consented: bool,
    tags: Mapping[str, str],
) -> ExclusionReason | None:
    """The target's own rules (a `plain` target has none of them)."""
    if t.paused:
        return ExclusionReason.PAUSED
    if t.requires_consent and not consented:
        return ExclusionReason.CONSENT_MISSING
    if not satisfies(t.requires_tags, tags):
        return ExclusionReason.TAGS_MISSING
    if not t.geo.admits(geo):
        return ExclusionReason.GEO
    if not t.schedule.is_open(at):
        return ExclusionReason.SCHEDULE
    return cap_exceeded(t.caps, usage.get(t.target_id, NO_USAGE), price)


def no_buyer_reason(
    excluded: Mapping[str, ExclusionReason],
    below_floor: int,
    bids: int,
    *,
    rtb_asked: int = 0,
    rtb_timed_out: int = 0,
) -> NoBuyerReason:
    """The ping's `reason` when nobody wins, in the API's vocabulary: `below_floor` (the
    only bids were under the floor), `timed_out` (real-time bidders were asked and every
    one missed the deadline), `no_bid` (bidders were asked and each declined or timed
    out), `duplicate` (every target had paid for this caller), else `no_eligible_buyer`."""
    if bids == 0 and below_floor:
        return NoBuyerReason.BELOW_FLOOR
    if bids == 0 and rtb_asked:
        return NoBuyerReason.TIMED_OUT if rtb_timed_out == rtb_asked else NoBuyerReason.NO_BID
    if excluded and all(r == ExclusionReason.DUPLICATE for r in excluded.values()):
        return NoBuyerReason.DUPLICATE
    return NoBuyerReason.NO_ELIGIBLE_BUYER
