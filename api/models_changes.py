"""Bodies of the set-up's changes (PATCH, DELETE) and the one-object models that GET and PATCH
answer alike. Every PATCH field is optional (left out or null: unchanged); unknown fields are
refused; bounds are creation's named limits (the handlers' parsers check them again)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.models import (
    MONEY,
    Body,
    FixedPayout,
    GeoIn,
    IvrIn,
    KeywordsIn,
    RecordingIn,
    RequiredTagsIn,
    ScheduleIn,
    SharePayout,
    VelocityIn,
    bounded,
    sized,
)
from domain import limits
from domain.campaign import Distribution


class CapsPatch(Body):
    """Caps to set; a null cap is removed, one left out is kept."""

    concurrency: int | None = bounded(limits.CAP, default=None)
    hourly: int | None = bounded(limits.CAP, default=None)
    daily: int | None = bounded(limits.CAP, default=None)
    monthly: int | None = bounded(limits.CAP, default=None)
    daily_budget: str | None = Field(default=None, pattern=MONEY)


class AutoPauseRuleIn(Body):
    """Pause the target once it leaves `unanswered` calls unanswered within `window_s`."""

    unanswered: int = bounded(limits.AUTO_PAUSE_UNANSWERED)
    window_s: int = bounded(limits.AUTO_PAUSE_WINDOW_S)


class TargetPatch(Body):
    name: str | None = sized(limits.NAME_LENGTH, default=None)
    destination: str | None = Field(default=None, description="E.164 number or SIP URI")
    bid: str | None = Field(
        default=None, pattern=MONEY, description="a standing bid (clears rtb_url)"
    )
    rtb_url: str | None = Field(
        default=None, description="a real-time bidding endpoint (clears the standing bid)"
    )
    rtb_timeout_ms: int | None = bounded(limits.RTB_TIMEOUT_MS, default=None)
    buffer_s: int | None = bounded(limits.BUFFER_S, default=None)
    geo: GeoIn | None = Field(default=None, description="the whole geo rule, replaced")
    schedule: ScheduleIn | None = Field(default=None, description="the whole schedule, replaced")
    caps: CapsPatch | None = None
    priority: int | None = bounded(limits.PRIORITY, default=None)
    weight: int | None = bounded(limits.WEIGHT, default=None)
    status: Literal["active", "paused"] | None = None
    auto_pause: list[AutoPauseRuleIn] | None = Field(
        default=None,
        max_length=limits.AUTO_PAUSE_RULES_MAX,
        description="the whole list of auto-pause rules, replaced (empty: never paused "
        "automatically; never set: 3 unanswered within 3600 s or 5 within 86400 s)",
    )
    requires_consent: bool | None = None
    requires_tags: RequiredTagsIn | None = Field(
        default=None,
        description="the whole set of tags a ping must carry, replaced (empty: none)",
    )
    whisper: str | None = Field(
        default=None,
        max_length=limits.WHISPER_LENGTH.maximum,
        description='said to the buyer\'s agent before the call is connected ("" removes it)',
        examples=["Call from PPCX: legal, California, qualified"],
    )
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"bid": "52.00", "caps": {"daily": 40}, "buffer_s": 120}]},
    )

    def given(self) -> dict[str, Any]:
        """The fields the body gives (caps: only the caps it names, nulls included)."""
        fields = self.model_dump(exclude_none=True, exclude={"caps"})
        if self.caps is not None:
            fields["caps"] = self.caps.model_dump(exclude_unset=True)
        return fields


class ArchiveIn(Body):
    reason: str = Field(default="", max_length=limits.TEXT_LENGTH_MAX)


class CampaignPatch(Body):
    name: str | None = sized(limits.NAME_LENGTH, default=None)
    vertical: str | None = None
    publisher_payout: FixedPayout | SharePayout | None = None
    duplicate_window_days: int | None = bounded(limits.DUPLICATE_WINDOW_DAYS, default=None)
    distribution: Distribution | None = Field(default=None, strict=False)
    min_bid: str | None = Field(default=None, pattern=MONEY)
    min_margin: str | None = Field(default=None, pattern=MONEY)
    allow_negative_margin: bool | None = None
    max_attempts: int | None = bounded(limits.MAX_ATTEMPTS, default=None)
    bid_ttl_s: int | None = bounded(limits.BID_TTL_S, default=None)
    rtb_deadline_ms: int | None = bounded(limits.RTB_DEADLINE_MS, default=None)
    exclude_toll_free: bool | None = None
    exclude_premium_rate: bool | None = None
    velocity: VelocityIn | None = Field(
        default=None, description="the caller-velocity screen (`calls` 0: off)"
    )
    buzzer_margin_s: int | None = bounded(limits.BUZZER_MARGIN_S, default=None)
    short_call_s: int | None = bounded(limits.SHORT_CALL_S, default=None)
    bill_buzzer_beaters: bool | None = None
    ivr: IvrIn | None = Field(
        default=None,
        description="the IVR questions, replaced (no questions: none asked)",
    )
    recording: RecordingIn | None = None
    keywords: KeywordsIn | None = Field(
        default=None,
        description="phrases that mark a call's outcome, spotted in each recorded call's "
        "transcript (`Call.PhrasesSpotted`); an empty list spots none",
    )
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"publisher_payout": {"fixed": "32.00"}}]},
    )


class BuyerPatch(Body):
    name: str | None = sized(limits.NAME_LENGTH, default=None)
    time_zone: str | None = Field(default=None, examples=["America/Chicago"])
    credit_limit: str | None = Field(default=None, pattern=MONEY, examples=["500.00"])


class PublisherPatch(Body):
    name: str | None = sized(limits.NAME_LENGTH, default=None)
    suspended: bool | None = Field(
        default=None, description="true: its pings and posts are refused (403 `suspended`)"
    )
    reason: str | None = Field(default=None, max_length=limits.TEXT_LENGTH_MAX)
    ping_rate_per_s: int | None = bounded(
        limits.PING_RATE_PER_S,
        default=None,
        description="its pings and RTB pings a second, on average (token bucket refill)",
    )
    ping_burst: int | None = bounded(
        limits.PING_BURST, default=None, description="pings it may send at once (bucket size)"
    )


# -- one object, as GET and PATCH answer it ------------------------------------------------------


class TargetOut(BaseModel):
    id: str
    buyer_id: str
    campaign_id: str
    name: str
    destination: str
    bid: str | None = Field(examples=["45.00"])
    rtb_url: str | None
    rtb_timeout_ms: int
    buffer_s: int
    geo: dict[str, Any]
    schedule: dict[str, Any] | None = Field(description="null: always open")
    caps: dict[str, Any]
    priority: int
    weight: int
    status: Literal["active", "paused", "archived"]
    auto_pause: list[dict[str, int]] | None = Field(
        default=None,
        description="the auto-pause rules in force (`unanswered` calls within `window_s`)",
        examples=[[{"unanswered": 3, "window_s": 3600}, {"unanswered": 5, "window_s": 86400}]],
    )
    version: int
    requires_consent: bool = Field(
        default=False, description="true: only pings with the caller's consent reach it"
    )
    requires_tags: dict[str, str | None] | None = Field(
        default=None,
        description="tags a ping must carry to reach it (a null value: any value)",
        examples=[{"injured": "yes"}],
    )
    whisper: str | None = Field(
        default=None, description="said to its agent before connecting (null in lists: GET it)"
    )


class CampaignFields(BaseModel):
    id: str
    name: str
    vertical: str
    publisher_payout: dict[str, str] = Field(examples=[{"fixed": "30.00"}])
    duplicate_window_days: int
    distribution: Distribution
    min_bid: str
    min_margin: str
    allow_negative_margin: bool
    max_attempts: int
    bid_ttl_s: int
    rtb_deadline_ms: int
    market: str
    floor: str = Field(description="the lowest price a bid may win at")
    allowed_publishers: list[str]
    version: int
    buzzer_margin_s: int = Field(
        default=limits.BUZZER_MARGIN_S.default or 0,
        description="a call the buyer ends within this many seconds before its buffer is "
        "flagged `buzzer_beater`",
    )
    short_call_s: int = Field(
        default=limits.SHORT_CALL_S.default or 0,
        description="an answered call shorter than this is flagged `short_call`",
    )
    bill_buzzer_beaters: bool = Field(
        default=False, description="buzzer-beaters are billed as if they reached the buffer"
    )
    ivr: dict[str, Any] | None = Field(
        default=None, description="the IVR questions asked before the auction (null: none)"
    )
    recording: dict[str, Any] | None = Field(
        default=None,
        description="the call recording rule (null: calls are not recorded; null in lists)",
    )


class CampaignOut(CampaignFields):
    """A campaign, with its screening settings (`domain.screening`)."""

    exclude_toll_free: bool
    exclude_premium_rate: bool
    velocity: dict[str, int] = Field(examples=[{"calls": 10, "window_s": 600}])
    keywords: dict[str, list[str]] | None = Field(
        default=None, examples=[{"phrases": ["appointment", "not interested"]}]
    )


class BuyerOut(BaseModel):
    id: str
    name: str
    time_zone: str
    market: str
    credit_limit: str = Field(examples=["500.00"])
    posted: str = Field(description="prepaid funds left (credits − debits, posted)")
    pending: str = Field(description="held for calls in progress")
    available: str = Field(description="posted − pending: what new wins may hold")
    version: int


class PublisherOut(BaseModel):
    id: str
    name: str
    status: Literal["active", "suspended"]
    suspended: bool
    ping_rate_per_s: int
    ping_burst: int
    version: int
    flagged_for_review: list[str] | None = Field(
        default=None,
        description="admins, finance and analysts: the campaigns on which the anomaly watch "
        "flagged it for review (short-call or duplicate rate far above the campaign's), "
        "until an admin clears them (`POST /v1/publishers/{id}/review/clear`)",
    )
