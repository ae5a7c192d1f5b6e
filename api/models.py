"""Request and response bodies. Money is a decimal string ("45.50"); a number is refused.
Unknown fields are refused too, so a typo is an error rather than a silent default."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from domain.call_state import TelephonyEvent
from domain.clock import parse_rfc3339
from domain.geo import parse_area_code, parse_e164, parse_state, parse_zip
from domain.money import AMOUNT_PATTERN, SHARE_PATTERN

# ASCII digits only: pydantic-core's regex `\d` matches any Unicode digit ("１０.００"), and
# the domain's parsing (domain/money.py) checks the same shapes again.
MONEY = f"^{AMOUNT_PATTERN}$"
SHARE = f"^{SHARE_PATTERN}$"
TAGS_MAX = 50
TAG_KEY_LENGTH_MAX = 64
TAG_VALUE_LENGTH_MAX = 200
TagKey = Annotated[str, StringConstraints(pattern=rf"^[A-Za-z0-9_.\-]{{1,{TAG_KEY_LENGTH_MAX}}}$")]
TagValue = Annotated[str, StringConstraints(max_length=TAG_VALUE_LENGTH_MAX)]
# Checked by the domain's own parsers, so the errors name the body's field ("caller.zip").
PhoneNumber = Annotated[str, AfterValidator(parse_e164)]
UsState = Annotated[str, AfterValidator(parse_state)]
Zip = Annotated[str, AfterValidator(parse_zip)]
AreaCode = Annotated[str, AfterValidator(parse_area_code)]
# An RFC 3339 date-time with its offset, read by the domain's strict parser (pydantic's own
# takes dates alone, epoch seconds and times without an offset).
Rfc3339 = Annotated[datetime, BeforeValidator(parse_rfc3339)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def money(description: str, example: str) -> Any:
    return Field(pattern=MONEY, description=description, examples=[example])


# -- set-up ---------------------------------------------------------------------------------


class PublisherIn(Body):
    name: str = Field(min_length=1, max_length=200, examples=["Acme Leads"])


class BuyerIn(Body):
    name: str = Field(min_length=1, max_length=200, examples=["Smith & Jones Injury Law"])
    time_zone: str = Field(examples=["America/Los_Angeles"])
    credit_limit: str = money("how far below zero the prepaid balance may go", "0.00")
    market: str = Field(default="main", examples=["main"])
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "name": "Smith & Jones",
                    "time_zone": "America/Los_Angeles",
                    "credit_limit": "500.00",
                }
            ]
        },
    )


class CreatedWithKey(BaseModel):
    id: str = Field(examples=["pub_2f0c…"])
    api_key: str = Field(description="shown once: store it now", examples=["ppcx_…"])


class Created(BaseModel):
    id: str


class DepositIn(Body):
    amount: str = money("prepaid funds received", "1000.00")
    reference: str = Field(default="", max_length=2000, examples=["wire 2026-11-02"])


class DepositOut(BaseModel):
    transfer_id: str
    available: str = Field(examples=["1000.00"])


class CreditLimitIn(Body):
    credit_limit: str = money("the new credit limit", "500.00")


class FixedPayout(Body):
    fixed: str = money("the publisher earns this per billable call", "30.00")


class SharePayout(Body):
    share: str = Field(
        pattern=SHARE,
        examples=["0.70"],
        description="the publisher earns this share of the revenue",
    )


class CampaignIn(Body):
    name: str = Field(min_length=1, max_length=200, examples=["LA car accidents"])
    vertical: str = Field(examples=["legal"])
    publisher_payout: FixedPayout | SharePayout
    duplicate_window_days: int = Field(default=30, ge=0, le=365)
    distribution: Literal["auction", "waterfall", "round_robin", "weighted"] = "auction"
    min_bid: str | None = Field(default=None, pattern=MONEY, examples=["40.00"])
    min_margin: str = Field(default="0.00", pattern=MONEY, examples=["5.00"])
    allow_negative_margin: bool = False
    max_attempts: int = Field(default=3, ge=1, le=10)
    bid_ttl_s: int = Field(default=60, ge=5, le=3600)
    rtb_deadline_ms: int = Field(default=250, ge=20, le=5000)
    market: str = "main"
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "name": "LA car accidents",
                    "vertical": "legal",
                    "publisher_payout": {"fixed": "30.00"},
                    "duplicate_window_days": 30,
                    "min_margin": "5.00",
                }
            ]
        },
    )


class CampaignPublisherIn(Body):
    publisher_id: str


class GeoIn(Body):
    mode: Literal["allow", "deny"] = "allow"
    states: list[str] = Field(default_factory=list, max_length=100, examples=[["CA", "NV"]])
    zips: list[str] = Field(default_factory=list, max_length=50_000)
    area_codes: list[str] = Field(default_factory=list, max_length=1000)


class ScheduleIn(Body):
    time_zone: str = Field(examples=["America/Los_Angeles"])
    hours: dict[str, list[list[str]]] = Field(
        default_factory=dict, examples=[{"mon": [["08:00", "18:00"]], "sat": [["10:00", "14:00"]]}]
    )


class CapsIn(Body):
    concurrency: int | None = Field(default=None, gt=0)
    hourly: int | None = Field(default=None, gt=0)
    daily: int | None = Field(default=None, gt=0)
    monthly: int | None = Field(default=None, gt=0)
    daily_budget: str | None = Field(default=None, pattern=MONEY)


class TargetIn(Body):
    buyer_id: str
    campaign_id: str
    name: str = Field(default="target", min_length=1, max_length=200)
    destination: str = Field(description="E.164 number or SIP URI", examples=["+13105550100"])
    bid: str | None = Field(
        default=None, pattern=MONEY, description="a standing bid", examples=["45.00"]
    )
    rtb_url: str | None = Field(
        default=None,
        description="a real-time bidding endpoint",
        examples=["https://bids.example.com/ppcx"],
    )
    rtb_timeout_ms: int = Field(default=150, ge=10, le=5000)
    buffer_s: int = Field(
        default=90, ge=0, le=7200, description="minimum billable duration in seconds"
    )
    geo: GeoIn = Field(default_factory=GeoIn)
    schedule: ScheduleIn | None = None
    caps: CapsIn = Field(default_factory=CapsIn)
    priority: int = Field(default=0, ge=-1000, le=1000)
    weight: int = Field(default=1, ge=1, le=10_000)


class ApiKeyIn(Body):
    role: Literal["admin", "publisher", "buyer", "finance", "analyst"]
    owner_id: str | None = None
    label: str = Field(default="", max_length=200)


class ApiKeyOut(BaseModel):
    id: str
    api_key: str = Field(description="shown once: store it now")
    role: str
    owner_id: str | None


class NumberIn(Body):
    number: str = Field(examples=["+18005550100"])
    campaign_id: str
    publisher_id: str
    source: str = Field(examples=["google"])
    medium: str | None = Field(default=None, examples=["cpc"])
    keyword: str | None = None


class NumberPoolIn(Body):
    name: str = Field(min_length=1, max_length=200)
    campaign_id: str
    publisher_id: str
    numbers: list[str] = Field(min_length=1, max_length=1000)
    lease_ttl_s: int = Field(default=1800, ge=60, le=7 * 86400)
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="web origins (scheme://host[:port]) whose pages may lease numbers (CORS)",
        examples=[["https://landing.example.com"]],
    )


class BlockIn(Body):
    number: str = Field(examples=["+13105550123"])
    reason: str = Field(default="", max_length=2000, examples=["asked not to be called"])


# -- the exchange ---------------------------------------------------------------------------------


class CallerIn(Body):
    number: PhoneNumber = Field(examples=["+13105550123"])
    state: UsState | None = Field(
        default=None, examples=["CA"], description="derived from the number when not given"
    )
    zip: Zip | None = Field(default=None, examples=["90210"])
    area_code: AreaCode | None = Field(
        default=None, examples=["310"], description="derived from the number when not given"
    )


class AttributionIn(Body):
    source: str | None = Field(default=None, max_length=200, examples=["google"])
    medium: str | None = Field(default=None, max_length=200, examples=["cpc"])
    campaign: str | None = Field(default=None, max_length=200, examples=["la-injury"])
    keyword: str | None = Field(default=None, max_length=200, examples=["car accident lawyer"])
    click_id: str | None = Field(default=None, max_length=500)
    tracking_number: PhoneNumber | None = Field(default=None, examples=["+18005550100"])
    dni_session: str | None = Field(default=None, max_length=200)
    sub_id: str | None = Field(default=None, max_length=200)


class PingIn(Body):
    campaign_id: str
    caller: CallerIn
    attribution: AttributionIn = Field(default_factory=AttributionIn)
    tags: dict[TagKey, TagValue] = Field(
        default_factory=dict,
        max_length=TAGS_MAX,
        description=f"at most {TAGS_MAX}; keys of letters, digits, _ . - "
        f"(up to {TAG_KEY_LENGTH_MAX}), values up to {TAG_VALUE_LENGTH_MAX} characters",
    )
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "campaign_id": "cmp_…",
                    "caller": {"number": "+13105550123", "state": "CA", "zip": "90210"},
                    "attribution": {
                        "source": "google",
                        "medium": "cpc",
                        "keyword": "car accident lawyer",
                    },
                    "tags": {"ivr_qualified": "yes"},
                }
            ]
        },
    )


class PingOut(BaseModel):
    ping_id: str
    accepted: bool
    payout: str | None = Field(default=None, examples=["30.00"])
    expires_at: str | None = None
    bid_count: int | None = None
    reason: str | None = Field(default=None, examples=["no_eligible_buyer"])


class PostOut(BaseModel):
    call_id: str
    destination: str


class CallEventIn(Body):
    type: TelephonyEvent = Field(strict=False)  # the enum from its value in JSON
    at: Rfc3339 | None = Field(
        default=None,
        description="when it happened (RFC 3339 with an offset); within 5 minutes before and "
        "5 seconds after the server's time, else 422; the events it causes carry this time",
        examples=["2026-11-02T15:04:05Z"],
    )
    duration_s: int | None = Field(default=None, ge=0, le=86_400)


class BidIn(Body):
    amount: str = money("the new standing bid", "52.00")


class PauseIn(Body):
    reason: str = Field(default="", max_length=2000)


class ConversionIn(Body):
    value: str | None = Field(default=None, pattern=MONEY, examples=["250.00"])


class DisputeIn(Body):
    reason: str = Field(min_length=1, max_length=2000, examples=["wrong number"])


class DisputeOut(BaseModel):
    dispute_id: str


class ResolveIn(Body):
    accept: bool
    note: str = Field(default="", max_length=2000)


class BuyerOut(BaseModel):
    id: str
    name: str
    time_zone: str
    credit_limit: str = Field(examples=["500.00"])
    posted: str = Field(
        description="prepaid funds left (credits − debits, posted)", examples=["950.00"]
    )
    pending: str = Field(description="held for calls in progress", examples=["45.00"])
    available: str = Field(
        description="posted − pending: what new wins may hold", examples=["905.00"]
    )


class Page(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for the next page")


class TimelineOut(BaseModel):
    call_id: str
    status: str
    events: list[dict[str, Any]]


class DisputeResolvedOut(BaseModel):
    dispute_id: str
    accepted: bool
    reversal_transfer_id: str | None


class LeaseOut(BaseModel):
    number: str = Field(examples=["+18005550142"])
    pool_id: str
    session: str
    reused: bool = Field(
        description="the pool was exhausted: the least recently used number was taken over"
    )
    expires_in_s: int
