"""What a change of the set-up sets (pure): a target's or a campaign's new rule values, only
those that differ from the aggregate's, in the form its created event stores them — the
`changes` of `Target.RulesChanged` and `Campaign.RulesChanged` — and the checks of the whole
object the change would leave (a campaign's economics). Nothing here reads the store."""

from __future__ import annotations

from typing import Any

from domain.billing import PayoutRule, check_campaign_economics
from domain.campaign import Campaign
from domain.caps import Caps
from domain.commands import CampaignChanges, TargetChanges
from domain.target import Target

_TARGET_PLAIN = (
    "name",
    "destination",
    "rtb_timeout_ms",
    "buffer_s",
    "priority",
    "weight",
    "requires_consent",
)
_CAMPAIGN_PLAIN = (
    "name",
    "vertical",
    "duplicate_window_days",
    "min_bid_cents",
    "min_margin_cents",
    "allow_negative_margin",
    "max_attempts",
    "bid_ttl_s",
    "rtb_deadline_ms",
    "exclude_toll_free",
    "exclude_premium_rate",
    "buzzer_margin_s",
    "short_call_s",
    "bill_buzzer_beaters",
    "keywords",
)


def _differing(aggregate: object, wanted: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in wanted.items() if getattr(aggregate, k) != v}


def target_rule_changes(target: Target, changes: TargetChanges) -> dict[str, Any]:
    """The target's rule attributes the change sets to new values (empty: nothing changes).
    Caps are merged into the target's (a None cap removes it); geo and schedule are whole
    rules, replaced; a standing bid and an rtb_url switch the target between them."""
    wanted: dict[str, Any] = {
        name: getattr(changes, name) for name in _TARGET_PLAIN if getattr(changes, name) is not None
    }
    if changes.bid_cents is not None:
        wanted |= {"bid_cents": changes.bid_cents, "rtb_url": None}
    if changes.rtb_url is not None:
        wanted |= {"rtb_url": changes.rtb_url, "bid_cents": None}
    if changes.geo is not None:
        wanted["geo"] = changes.geo.to_dict()
    if changes.schedule is not None:
        wanted["schedule"] = changes.schedule.to_dict()
    if changes.caps is not None:
        wanted["caps"] = Caps.from_dict({**target.caps, **changes.caps}).to_dict()
    if changes.auto_pause is not None:
        wanted["auto_pause"] = [rule.to_dict() for rule in changes.auto_pause]
    if changes.requires_tags is not None:  # an empty mapping: none required (stored as None)
        wanted["requires_tags"] = dict(changes.requires_tags) or None
    if changes.whisper is not None:
        wanted["whisper"] = changes.whisper or None  # "" clears it
    return _differing(target, wanted)


def campaign_rule_changes(campaign: Campaign, changes: CampaignChanges) -> dict[str, Any]:
    """The campaign's rule attributes the change sets to new values (empty: nothing changes),
    after checking the economics of the campaign it would leave (`ValidationError`)."""
    wanted: dict[str, Any] = {
        name: getattr(changes, name)
        for name in _CAMPAIGN_PLAIN
        if getattr(changes, name) is not None
    }
    if changes.payout is not None:
        wanted["payout"] = changes.payout.to_dict()
    if changes.distribution is not None:
        wanted["distribution"] = changes.distribution.value
    if changes.velocity is not None:
        wanted["velocity"] = changes.velocity.to_dict()
    if changes.ivr is not None:  # a script without questions removes the setting
        wanted["ivr"] = changes.ivr.stored()
    if changes.recording is not None:
        wanted["recording"] = changes.recording.to_dict()
    found = _differing(campaign, wanted)
    if found:
        after = {
            name: found.get(name, getattr(campaign, name))
            for name in ("payout", "min_bid_cents", "min_margin_cents", "allow_negative_margin")
        }
        check_campaign_economics(
            PayoutRule.from_dict(after["payout"]),
            after["min_bid_cents"],
            after["min_margin_cents"],
            after["allow_negative_margin"],
        )
    return found
