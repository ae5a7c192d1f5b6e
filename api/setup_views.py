"""Set-up aggregates → the response dicts of their single-object routes (GET and PATCH of a
target, campaign, buyer or publisher answer the same model, `api/models_changes.py`): current
values, money as decimal strings, a schedule's hours as "HH:MM", a `status` and a `version`."""

from __future__ import annotations

from typing import Any

from domain import limits
from domain.billing import PayoutRule
from domain.buyer import Buyer
from domain.campaign import Campaign
from domain.caps import Caps
from domain.money import format_cents
from domain.publisher import Publisher
from domain.screening import VelocityRule
from domain.target import Target


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def schedule_view(stored: dict[str, Any]) -> dict[str, Any] | None:
    if not stored or not stored.get("hours"):
        return None  # always open
    hours = {
        day: [[_clock(int(a)), _clock(int(b))] for a, b in intervals]
        for day, intervals in stored["hours"].items()
    }
    return {"time_zone": stored["time_zone"], "hours": hours}


def caps_view(stored: dict[str, Any]) -> dict[str, Any]:
    caps = Caps.from_dict(stored)
    budget = caps.daily_budget_cents
    return {
        "concurrency": caps.concurrency,
        "hourly": caps.hourly,
        "daily": caps.daily,
        "monthly": caps.monthly,
        "daily_budget": None if budget is None else format_cents(budget),
    }


def target_status(t: Target) -> str:
    return "archived" if t.archived else "paused" if t.paused else "active"


def target_view(t: Target) -> dict[str, Any]:
    return {
        "id": t.id,
        "buyer_id": t.buyer_id,
        "campaign_id": t.campaign_id,
        "name": t.name,
        "destination": t.destination,
        "bid": None if t.bid_cents is None else format_cents(t.bid_cents),
        "rtb_url": t.rtb_url,
        "rtb_timeout_ms": t.rtb_timeout_ms,
        "buffer_s": t.buffer_s,
        "geo": dict(t.geo),
        "schedule": schedule_view(t.schedule),
        "caps": caps_view(t.caps),
        "priority": t.priority,
        "weight": t.weight,
        "status": target_status(t),
        "auto_pause": [rule.to_dict() for rule in t.auto_pause_rules()],
        "version": t.version,
        "requires_consent": t.requires_consent,
        "requires_tags": t.requires_tags or None,
        "whisper": t.whisper,
    }


def campaign_view(c: Campaign) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "vertical": c.vertical,
        "publisher_payout": PayoutRule.from_dict(c.payout).describe(),
        "duplicate_window_days": c.duplicate_window_days,
        "distribution": str(c.distribution),
        "min_bid": format_cents(c.min_bid_cents),
        "min_margin": format_cents(c.min_margin_cents),
        "allow_negative_margin": c.allow_negative_margin,
        "max_attempts": c.max_attempts,
        "bid_ttl_s": c.bid_ttl_s,
        "rtb_deadline_ms": c.rtb_deadline_ms,
        "exclude_toll_free": c.exclude_toll_free,
        "exclude_premium_rate": c.exclude_premium_rate,
        "velocity": dict(VelocityRule.from_dict(c.velocity).to_dict()),
        "market": c.market,
        "floor": format_cents(c.floor_cents()),
        "allowed_publishers": sorted(c.allowed_publishers),
        "version": c.version,
        "buzzer_margin_s": c.buzzer_margin_s,
        "short_call_s": c.short_call_s,
        "bill_buzzer_beaters": c.bill_buzzer_beaters,
        "ivr": c.ivr,
        "recording": c.recording,
        "keywords": c.keywords,
    }


def buyer_view(b: Buyer) -> dict[str, Any]:
    return {
        "id": b.id,
        "name": b.name,
        "time_zone": b.time_zone,
        "market": b.market,
        "credit_limit": format_cents(b.credit_limit_cents),
        "posted": format_cents(b.posted_cents),
        "pending": format_cents(b.debits_pending),
        "available": format_cents(b.available_cents),
        "version": b.version,
    }


def publisher_view(p: Publisher, *, internal: bool = False) -> dict[str, Any]:
    """`internal` (admin, finance, analyst): with the campaigns the anomaly watch flagged it
    on for review."""
    return {
        **({"flagged_for_review": sorted(p.flagged_for_review)} if internal else {}),
        "id": p.id,
        "name": p.name,
        "status": "suspended" if p.suspended else "active",
        "suspended": p.suspended,
        "ping_rate_per_s": p.ping_rate_per_s or limits.PING_RATE_PER_S.default,
        "ping_burst": p.ping_burst or limits.PING_BURST.default,
        "version": p.version,
    }
