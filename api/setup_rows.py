"""Projected set-up rows (DuckDB, `projections/schema.sql`) → the list items of
`api/models_reads.py`, in the shapes the single-object views (`api/setup_views.py`) give."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from api.setup_views import caps_view, schedule_view
from domain import limits
from domain.api_key import is_expired
from domain.billing import PayoutRule, floor_cents
from domain.clock import format_rfc3339
from domain.money import format_cents
from domain.quality import rules_of
from domain.screening import VelocityRule


def time_text(value: datetime | None) -> str | None:
    return None if value is None else format_rfc3339(value)


def _stamps(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "created_at": time_text(row["created_at"]),
        "changed_at": time_text(row["changed_at"]),
        "changed_by": row["changed_by"],
    }


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _money(cents: int | None) -> str | None:
    return None if cents is None else format_cents(cents)


def _json_or_none(text: str | None) -> Any:
    """A JSON setting as the projection keeps it (SQL NULL, JSON null or {}: none)."""
    return (json.loads(text) or None) if text else None


def target_item(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["target_id"],
        "buyer_id": row["buyer_id"],
        "campaign_id": row["campaign_id"],
        "name": row["name"],
        "destination": row["destination"],
        "bid": _money(row["bid_cents"]),
        "rtb_url": row["rtb_url"],
        "rtb_timeout_ms": row["rtb_timeout_ms"],
        "buffer_s": row["buffer_s"],
        "geo": json.loads(row["geo"]),
        "schedule": schedule_view(json.loads(row["schedule"])),
        "caps": caps_view(json.loads(row["caps"])),
        "priority": row["priority"],
        "weight": row["weight"],
        "status": row["status"],
        "auto_pause": [
            r.to_dict()
            for r in rules_of(json.loads(row["auto_pause"]) if row["auto_pause"] else None)
        ],
        "version": row["version"],
        "requires_consent": bool(row["requires_consent"]),
        "requires_tags": _json_or_none(row["requires_tags"]),
        **_stamps(row),
    }


def campaign_item(row: dict[str, Any]) -> dict[str, Any]:
    rule = PayoutRule.from_dict(json.loads(row["payout_rule"]))
    return {
        "id": row["campaign_id"],
        "name": row["name"],
        "vertical": row["vertical"],
        "publisher_payout": rule.describe(),
        "duplicate_window_days": row["duplicate_window_days"],
        "distribution": row["distribution"],
        "min_bid": format_cents(row["min_bid_cents"]),
        "min_margin": format_cents(row["min_margin_cents"]),
        "allow_negative_margin": row["allow_negative_margin"],
        "max_attempts": row["max_attempts"],
        "bid_ttl_s": row["bid_ttl_s"],
        "rtb_deadline_ms": row["rtb_deadline_ms"],
        "exclude_toll_free": bool(row["exclude_toll_free"]),
        "exclude_premium_rate": bool(row["exclude_premium_rate"]),
        "velocity": dict(
            VelocityRule.from_dict(
                json.loads(row["velocity"]) if row["velocity"] else None
            ).to_dict()
        ),
        "market": row["market"],
        "floor": format_cents(floor_cents(rule, row["min_margin_cents"], row["min_bid_cents"])),
        "allowed_publishers": list(row["allowed_publishers"] or []),
        "version": row["version"],
        "buzzer_margin_s": _or(row.get("buzzer_margin_s"), limits.BUZZER_MARGIN_S.default),
        "short_call_s": _or(row.get("short_call_s"), limits.SHORT_CALL_S.default),
        "bill_buzzer_beaters": bool(row.get("bill_buzzer_beaters")),
        "ivr": _json_or_none(row["ivr"]),
        **_stamps(row),
    }


def publisher_item(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["publisher_id"],
        "name": row["name"],
        "status": row["status"],
        "suspended": row["suspended"],
        "version": row["version"],
        **_stamps(row),
    }


def buyer_item(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["buyer_id"],
        "name": row["name"],
        "time_zone": row["time_zone"],
        "market": row["market"],
        "credit_limit": format_cents(row["credit_limit_cents"]),
        **_stamps(row),
    }


def number_item(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["number_id"],
        "number": row["number"],
        "campaign_id": row["campaign_id"],
        "publisher_id": row["publisher_id"],
        "source": row["source"],
        "medium": row["medium"],
        "keyword": row["keyword"],
        "pool_id": row["pool_id"],
        "created_at": time_text(row["created_at"]),
    }


def number_pool_item(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["pool_id"],
        "name": row["name"],
        "campaign_id": row["campaign_id"],
        "publisher_id": row["publisher_id"],
        "numbers": json.loads(row["numbers"]),
        "lease_ttl_s": row["lease_ttl_s"],
        "allowed_origins": json.loads(row["allowed_origins"]),
        "created_at": time_text(row["created_at"]),
        "changed_at": time_text(row["changed_at"]),
    }


def api_key_item(
    row: dict[str, Any], last_used_at: datetime | None, now: datetime
) -> dict[str, Any]:
    status = (
        "revoked"
        if row["revoked_at"] is not None
        else "expired"
        if is_expired(row["expires_at"], now)
        else "active"
    )
    return {
        "id": row["key_id"],
        "role": row["role"],
        "owner_id": row["owner_id"],
        "label": row["label"],
        "created_at": time_text(row["created_at"]),
        "created_by": row["created_by"],
        "expires_at": time_text(row["expires_at"]),
        "revoked_at": time_text(row["revoked_at"]),
        "last_used_at": time_text(last_used_at),
        "status": status,
    }


def dispute_item(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["dispute_id"],
        "call_id": row["call_id"],
        "buyer_id": row["buyer_id"],
        "reason": row["reason"],
        "status": row["status"],
        "opened_at": time_text(row["opened_at"]),
        "opened_by": row["opened_by"],
        "resolved_at": time_text(row["resolved_at"]),
        "resolved_by": row["resolved_by"],
        "note": row["note"],
    }


def history_item(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "position": row["position"],
        "at": time_text(row["changed_at"]),
        "event": row["event"],
        "version": row["version"],
        "changes": json.loads(row["changes"]),
        "by": row["changed_by"],
    }
