"""The market as the auction sees it: campaigns, targets and buyers, parsed once from the
JSON that the log follower writes into Redis, and indexed per campaign."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from domain.billing import PayoutRule, floor_cents
from domain.buyer import Buyer
from domain.campaign import Campaign, Distribution
from domain.caps import Caps
from domain.geo import GeoRule
from domain.ivr import IvrScript
from domain.numbers import TrackingNumber
from domain.publisher import Publisher
from domain.schedule import WeeklySchedule
from domain.target import Target
from exchange.auction import Bid


@dataclass(frozen=True, slots=True)
class CampaignRule:
    campaign_id: str
    version: int  # the Campaign aggregate's version this rule was read at
    name: str
    vertical: str
    payout: PayoutRule
    duplicate_window_days: int
    distribution: Distribution
    floor_cents: int
    allow_negative_margin: bool
    max_attempts: int
    bid_ttl_s: int
    rtb_deadline_ms: int
    market: str
    allowed_publishers: frozenset[str]
    ivr: IvrScript | None = None  # the questions asked before the auction (Twilio calls)


@dataclass(frozen=True, slots=True)
class TargetRule:
    target_id: str
    buyer_id: str
    campaign_id: str
    name: str
    destination: str
    bid_cents: int | None
    rtb_url: str | None
    rtb_timeout_ms: int
    buffer_s: int
    geo: GeoRule
    schedule: WeeklySchedule
    caps: Caps
    priority: int
    weight: int
    paused: bool
    version: int = 0  # the Target aggregate's version this rule was read at
    archived: bool = False  # never eligible, never a failover (kept for calls in flight)
    plain: bool = False  # no pause, consent, geo, schedule or cap rule: eligibility's fast path
    requires_consent: bool = False  # a ping without the caller's consent is not for it
    # the tags a ping must carry (name -> value, None: any); None: none required
    requires_tags: Mapping[str, str | None] | None = None
    standing: Bid | None = None  # the standing bid, built once per snapshot


@dataclass(frozen=True, slots=True)
class BuyerRule:
    buyer_id: str
    name: str
    time_zone: str
    credit_limit_cents: int


# -- JSON written by the log follower (absolute state, with the aggregate's version) ---------------


def campaign_json(c: Campaign) -> bytes:
    return orjson.dumps(
        {
            "version": c.version,
            "id": c.id,
            "name": c.name,
            "vertical": c.vertical,
            "payout": c.payout,
            "duplicate_window_days": c.duplicate_window_days,
            "distribution": c.distribution,
            "min_bid_cents": c.min_bid_cents,
            "min_margin_cents": c.min_margin_cents,
            "allow_negative_margin": c.allow_negative_margin,
            "max_attempts": c.max_attempts,
            "bid_ttl_s": c.bid_ttl_s,
            "rtb_deadline_ms": c.rtb_deadline_ms,
            "market": c.market,
            "allowed_publishers": sorted(c.allowed_publishers),
            "ivr": c.ivr,
        }
    )


def target_json(t: Target) -> bytes:
    return orjson.dumps(
        {
            "version": t.version,
            "id": t.id,
            "buyer_id": t.buyer_id,
            "campaign_id": t.campaign_id,
            "name": t.name,
            "destination": t.destination,
            "bid_cents": t.bid_cents,
            "rtb_url": t.rtb_url,
            "rtb_timeout_ms": t.rtb_timeout_ms,
            "buffer_s": t.buffer_s,
            "geo": t.geo,
            "schedule": t.schedule,
            "caps": t.caps,
            "priority": t.priority,
            "weight": t.weight,
            "paused": t.paused,
            "archived": t.archived,
            "requires_consent": t.requires_consent,
            "requires_tags": t.requires_tags or None,
        }
    )


def number_json(n: TrackingNumber) -> bytes:
    return orjson.dumps(
        {
            "version": n.version,
            "id": n.id,
            "number": n.number,
            "campaign_id": n.campaign_id,
            "publisher_id": n.publisher_id,
            "pool_id": n.pool_id,
        }
    )


def publisher_json(p: Publisher) -> bytes:
    """What a ping needs of a publisher: whether it is suspended, its ping limit (null: the
    defaults) — written to every market."""
    return orjson.dumps(
        {
            "version": p.version,
            "id": p.id,
            "suspended": p.suspended,
            "ping_rate_per_s": p.ping_rate_per_s,
            "ping_burst": p.ping_burst,
        }
    )


def buyer_json(b: Buyer) -> bytes:
    return orjson.dumps(
        {
            "version": b.version,
            "id": b.id,
            "name": b.name,
            "time_zone": b.time_zone,
            "credit_limit_cents": b.credit_limit_cents,
            "market": b.market,
        }
    )


def parse_campaign(data: Mapping[str, Any]) -> CampaignRule:
    payout = PayoutRule.from_dict(data["payout"])
    return CampaignRule(
        campaign_id=data["id"],
        version=data["version"],
        name=data["name"],
        vertical=data["vertical"],
        payout=payout,
        duplicate_window_days=data["duplicate_window_days"],
        distribution=Distribution(data["distribution"]),
        floor_cents=floor_cents(payout, data["min_margin_cents"], data["min_bid_cents"]),
        allow_negative_margin=data["allow_negative_margin"],
        max_attempts=data["max_attempts"],
        bid_ttl_s=data["bid_ttl_s"],
        rtb_deadline_ms=data["rtb_deadline_ms"],
        market=data["market"],
        allowed_publishers=frozenset(data["allowed_publishers"]),
        ivr=IvrScript.of(data.get("ivr")),  # JSON written before IVR lacks it
    )


def parse_target(data: Mapping[str, Any]) -> TargetRule:
    geo = GeoRule.from_dict(data["geo"])
    schedule = WeeklySchedule.from_dict(data["schedule"])
    caps = Caps.from_dict(data["caps"])
    archived = bool(data.get("archived", False))  # JSON written before archiving lacks it
    requires_consent = bool(data.get("requires_consent", False))  # and before consent
    requires_tags = data.get("requires_tags") or None  # and before required tags
    ruled = (
        data["paused"]
        or archived
        or requires_consent
        or requires_tags is not None
        or not geo.is_open
        or not schedule.always_open
    )
    plain = not ruled and caps == Caps()
    return TargetRule(
        target_id=data["id"],
        buyer_id=data["buyer_id"],
        campaign_id=data["campaign_id"],
        name=data["name"],
        destination=data["destination"],
        bid_cents=data["bid_cents"],
        rtb_url=data["rtb_url"],
        rtb_timeout_ms=data["rtb_timeout_ms"],
        buffer_s=data["buffer_s"],
        geo=geo,
        schedule=schedule,
        caps=caps,
        priority=data["priority"],
        weight=data["weight"],
        paused=data["paused"],
        version=data["version"],
        archived=archived,
        plain=plain,
        requires_consent=requires_consent,
        requires_tags=requires_tags,
        standing=None
        if data["bid_cents"] is None
        else Bid(data["id"], data["buyer_id"], data["bid_cents"], data["priority"], data["weight"]),
    )


def parse_buyer(data: Mapping[str, Any]) -> BuyerRule:
    return BuyerRule(data["id"], data["name"], data["time_zone"], data["credit_limit_cents"])


@dataclass
class MarketSnapshot:
    """One market's configuration at one config version, indexed for the auction."""

    market: str
    version: int
    campaigns: dict[str, CampaignRule] = field(default_factory=dict)
    targets: dict[str, TargetRule] = field(default_factory=dict)
    buyers: dict[str, BuyerRule] = field(default_factory=dict)
    by_campaign: dict[str, list[TargetRule]] = field(default_factory=dict)
    # static tracking numbers (not DNI pool numbers) by campaign and publisher, sorted
    static_numbers: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    counted: dict[str, list[TargetRule]] = field(default_factory=dict)  # hour/day/month/budget
    concurrent: dict[str, list[TargetRule]] = field(default_factory=dict)  # concurrency caps
    suspended_publishers: set[str] = field(default_factory=set)  # their pings are refused
    # (rate a second, burst) of publishers with a limit of their own (others: the defaults)
    ping_limits: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)

    @classmethod
    def parse(cls, market: str, raw: Mapping[bytes, bytes]) -> MarketSnapshot:
        snapshot = cls(market, int(raw.get(b"version", b"0")))
        for key, value in raw.items():
            kind, _, _ = key.partition(b":")
            if kind == b"campaign":
                c = parse_campaign(orjson.loads(value))
                snapshot.campaigns[c.campaign_id] = c
            elif kind == b"target":
                t = parse_target(orjson.loads(value))
                snapshot.targets[t.target_id] = t
            elif kind == b"buyer":
                b = parse_buyer(orjson.loads(value))
                snapshot.buyers[b.buyer_id] = b
            else:
                snapshot._add_other(kind, orjson.loads(value))
        for numbers in snapshot.static_numbers.values():
            numbers.sort()
        for t in sorted(snapshot.targets.values(), key=lambda t: t.target_id):
            if t.archived:  # in `targets` (a call in flight may name it), in no auction
                continue
            snapshot.by_campaign.setdefault(t.campaign_id, []).append(t)
            caps = t.caps
            if caps.hourly or caps.daily or caps.monthly or caps.daily_budget_cents:
                snapshot.counted.setdefault(t.campaign_id, []).append(t)
            if caps.concurrency:
                snapshot.concurrent.setdefault(t.campaign_id, []).append(t)
        return snapshot

    def _add_other(self, kind: bytes, data: dict[str, Any]) -> None:
        """A tracking number or a publisher's status (anything else is not the auction's)."""
        if kind == b"publisher":
            if data["suspended"]:
                self.suspended_publishers.add(data["id"])
            limit = (data.get("ping_rate_per_s"), data.get("ping_burst"))
            if limit != (None, None):
                self.ping_limits[data["id"]] = limit
        elif kind == b"number" and data["pool_id"] is None:
            owner = (data["campaign_id"], data["publisher_id"])
            self.static_numbers.setdefault(owner, []).append(data["number"])
