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

from domain import limits
from domain.api_key import Role
from domain.call_flags import EndedBy
from domain.call_state import TelephonyEvent
from domain.campaign import Distribution
from domain.clock import format_rfc3339, parse_rfc3339
from domain.consent import (
    JORNAYA_LEADID_PATTERN,
    TEXT_VERSION_PATTERN,
    TRUSTEDFORM_CERT_URL_PATTERN,
    Consent,
)
from domain.geo import (
    GeoMode,
    check_caller,
    parse_area_code,
    parse_e164,
    parse_state,
    parse_zip,
)
from domain.limits import Range
from domain.money import AMOUNT_UNITS_DIGITS_MAX, MAX_AMOUNT_CENTS, SHARE_PATTERN
from domain.recording import DISCLOSURE_DEFAULT
from domain.validate import SLUG_PATTERN

# ASCII digits only: pydantic-core's regex `\d` matches any Unicode digit ("１０.００"), and
# the domain's parsing (domain/money.py) checks the same shapes again.


def money_pattern(cents_max: int, *, signed: bool = False) -> str:
    """Money as the domain reads it (domain/money.py): units of up to 13 digits, two
    decimals at most, below `cents_max` (a power of ten: its units less one digit)."""
    digits = len(str(cents_max // 100)) - 1
    zeros = AMOUNT_UNITS_DIGITS_MAX - digits
    return f"^{'-?' if signed else ''}0{{0,{zeros}}}[0-9]{{1,{digits}}}" + r"(\.[0-9]{1,2})?$"


MONEY = money_pattern(MAX_AMOUNT_CENTS)  # not negative
SIGNED_MONEY = money_pattern(MAX_AMOUNT_CENTS, signed=True)
CREDIT_LIMIT = money_pattern(limits.CREDIT_LIMIT_CENTS_MAX)
_UNITS = MONEY[1:].split("(")[0]
_CENTS = r"(\.[0-9]{1,2})?"
POSITIVE_MONEY = rf"^(0{{0,2}}[1-9][0-9]{{0,10}}{_CENTS}|{_UNITS}\.(0[1-9]|[1-9][0-9]?))$"
E164 = r"^\+[1-9][0-9]{1,14}$"
SHARE = f"^{SHARE_PATTERN}$"
# Every bound below is a named limit of domain/limits.py, which the handlers check too (a unit
# test refuses a literal number in a bound here).
_TAG_KEY = limits.TAG_KEY_LENGTH
TagKey = Annotated[
    str, StringConstraints(pattern=rf"^[A-Za-z0-9_.\-]{{{_TAG_KEY.minimum},{_TAG_KEY.maximum}}}$")
]
TagValue = Annotated[str, StringConstraints(max_length=limits.TAG_VALUE_LENGTH_MAX)]
# Checked by the domain's own parsers, so the errors name the body's field ("caller.zip").
PhoneNumber = Annotated[str, AfterValidator(parse_e164)]


# A caller's number: E.164 as written and parseable; one that is not valid is screened
# before the auction (`domain.screening`), not refused as input.
CallerNumber = Annotated[str, AfterValidator(check_caller)]
UsState = Annotated[str, AfterValidator(parse_state)]
Zip = Annotated[str, AfterValidator(parse_zip)]
AreaCode = Annotated[str, AfterValidator(parse_area_code)]
# An RFC 3339 date-time with its offset, read by the domain's strict parser (pydantic's own
# takes dates alone, epoch seconds and times without an offset).
Rfc3339 = Annotated[datetime, BeforeValidator(parse_rfc3339)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def money(description: str, example: str, pattern: str = MONEY) -> Any:
    return Field(pattern=pattern, description=description, examples=[example])


def id_of(prefix: str, **options: Any) -> Any:
    """An id of the kind `prefix` names (`buy_<32 hex>`): a malformed one is 422."""
    return Field(
        pattern=rf"^{prefix}_[0-9a-f]{{32}}$", examples=[f"{prefix}_{ID_EXAMPLE}"], **options
    )


ID_EXAMPLE = "2f0c6a9e4b1d4e7f9a3c5b8d1e0f2a4c"


def bounded(bounds: Range, **options: Any) -> Any:
    """A whole number within `bounds`; optional with their default when they have one."""
    if bounds.default is not None:
        options.setdefault("default", bounds.default)
    return Field(ge=bounds.minimum, le=bounds.maximum, **options)


def sized(bounds: Range, **options: Any) -> Any:
    """A text or a list whose length lies within `bounds`."""
    return Field(min_length=bounds.minimum, max_length=bounds.maximum, **options)


# -- set-up ---------------------------------------------------------------------------------


class PublisherIn(Body):
    name: str = sized(limits.NAME_LENGTH, examples=["Acme Leads"])


class BuyerIn(Body):
    name: str = sized(limits.NAME_LENGTH, examples=["Smith & Jones Injury Law"])
    time_zone: str = Field(examples=["America/Los_Angeles"])
    credit_limit: str = money("how far below zero the prepaid balance may go", "0.00", CREDIT_LIMIT)
    market: str = Field(default=limits.MARKET_DEFAULT, examples=[limits.MARKET_DEFAULT])
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
    id: str = Field(description="the new object's id", examples=[f"tgt_{ID_EXAMPLE}"])


class DepositIn(Body):
    amount: str = Field(
        pattern=POSITIVE_MONEY,
        description="prepaid funds received (more than zero)",
        examples=["1000.00"],
    )
    reference: str = Field(
        default="", max_length=limits.TEXT_LENGTH_MAX, examples=["wire 2026-11-02"]
    )


class DepositOut(BaseModel):
    transfer_id: str
    available: str = Field(examples=["1000.00"])


class CreditLimitIn(Body):
    credit_limit: str = money("the new credit limit", "500.00", CREDIT_LIMIT)


class FixedPayout(Body):
    fixed: str = money("the publisher earns this per billable call", "30.00")


class SharePayout(Body):
    share: str = Field(
        pattern=SHARE,
        examples=["0.70"],
        description="the publisher earns this share of the revenue",
    )


class VelocityIn(Body):
    """Refuse a ping whose caller was pinged `calls` times or more, across all campaigns,
    within the last `window_s` seconds (`calls` 0: off, the default)."""

    calls: int = Field(ge=limits.VELOCITY_CALLS.minimum, le=limits.VELOCITY_CALLS.maximum)
    window_s: int = Field(ge=limits.VELOCITY_WINDOW_S.minimum, le=limits.VELOCITY_WINDOW_S.maximum)
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"calls": 10, "window_s": 600}]},
    )


class IvrQuestionIn(Body):
    """One question asked before the auction (`<Gather>`): a passed one tags the ping."""

    id: str = Field(pattern=f"^{SLUG_PATTERN}$", examples=["injured"])
    prompt: str = sized(
        limits.IVR_PROMPT_LENGTH,
        examples=["Press 1 if you were injured in an accident in the last two years."],
    )
    input: Literal["dtmf", "speech"] = Field(
        default="dtmf", description="keypad digits, or speech (Twilio's transcription)"
    )
    accept: list[str] = sized(
        limits.IVR_ACCEPTS,
        description="accepted answers: digits (dtmf), or phrases matched as lower-case words "
        "(speech)",
        examples=[["1"]],
    )
    tag: TagKey = Field(description="the ping's tag a passed answer sets", examples=["injured"])
    tag_value: TagValue = Field(default="yes", description="the tag's value")
    timeout_s: int = bounded(limits.IVR_TIMEOUT_S)


class IvrOnFailIn(Body):
    """What a caller who fails a question gets: a message and a hang-up, or the fallback
    number dialled."""

    action: Literal["hangup", "fallback"] = "hangup"
    fallback_number: str | None = Field(default=None, pattern=E164, examples=["+18005550199"])
    message: str | None = Field(
        default=None,
        min_length=limits.IVR_MESSAGE_LENGTH.minimum,
        max_length=limits.IVR_MESSAGE_LENGTH.maximum,
    )


class IvrIn(Body):
    """A campaign's IVR qualification (no questions: none asked; the setting is removed)."""

    questions: list[IvrQuestionIn] = Field(max_length=limits.IVR_QUESTIONS_MAX)
    on_fail: IvrOnFailIn = Field(default_factory=IvrOnFailIn)


# a target's required tags: names (any value), or names with the value each requires (null:
# any value)
RequiredTagsIn = (
    Annotated[list[TagKey], Field(max_length=limits.REQUIRED_TAGS_MAX)]
    | Annotated[dict[TagKey, TagValue | None], Field(max_length=limits.REQUIRED_TAGS_MAX)]
)


class RecordingIn(Body):
    """The campaign's call recording: the disclosure said to the caller before the transfer,
    how long recordings are kept, whether the publisher may listen."""

    enabled: bool
    disclosure: str = Field(
        default=DISCLOSURE_DEFAULT,
        min_length=limits.RECORDING_DISCLOSURE_LENGTH.minimum,
        max_length=limits.RECORDING_DISCLOSURE_LENGTH.maximum,
    )
    retention_days: int = bounded(limits.RECORDING_RETENTION_DAYS)
    publisher_access: bool = False


class KeywordsIn(Body):
    phrases: list[
        Annotated[
            str,
            Field(
                min_length=limits.KEYWORD_PHRASE_CHARS.minimum,
                max_length=limits.KEYWORD_PHRASE_CHARS.maximum,
            ),
        ]
    ] = Field(
        max_length=limits.KEYWORD_PHRASES_MAX,
        examples=[["appointment", "quote", "not interested", "wrong number"]],
    )
    model_config = ConfigDict(extra="forbid", strict=True)


class CampaignIn(Body):
    name: str = sized(limits.NAME_LENGTH, examples=["LA car accidents"])
    vertical: str = Field(pattern=f"^{SLUG_PATTERN}$", examples=["legal"])
    publisher_payout: FixedPayout | SharePayout
    duplicate_window_days: int = bounded(limits.DUPLICATE_WINDOW_DAYS)
    distribution: Distribution = Field(default=Distribution.AUCTION, strict=False)
    min_bid: str | None = Field(default=None, pattern=MONEY, examples=["40.00"])
    min_margin: str = Field(default="0.00", pattern=SIGNED_MONEY, examples=["5.00"])
    allow_negative_margin: bool = False
    max_attempts: int = bounded(limits.MAX_ATTEMPTS)
    bid_ttl_s: int = bounded(limits.BID_TTL_S)
    rtb_deadline_ms: int = bounded(limits.RTB_DEADLINE_MS)
    recording: RecordingIn | None = Field(
        default=None, description="record its calls (null: not recorded; PATCH changes it)"
    )
    market: str = limits.MARKET_DEFAULT
    exclude_toll_free: bool = Field(
        default=False, description="true: a toll-free caller's ping is refused (screened)"
    )
    exclude_premium_rate: bool = Field(
        default=False, description="true: a premium-rate caller's ping is refused (screened)"
    )
    velocity: VelocityIn | None = Field(
        default=None, description="the caller-velocity screen; not given: off"
    )
    buzzer_margin_s: int = bounded(
        limits.BUZZER_MARGIN_S,
        description="a call the buyer ends within this many seconds before its buffer is "
        "flagged `buzzer_beater` (0: never)",
    )
    short_call_s: int = bounded(
        limits.SHORT_CALL_S,
        description="an answered call shorter than this is flagged `short_call` (0: never)",
    )
    bill_buzzer_beaters: bool = Field(
        default=False, description="bill a buzzer-beater as if it had reached the buffer"
    )
    ivr: IvrIn | None = Field(
        default=None, description="questions asked before the auction (Twilio calls)"
    )
    keywords: KeywordsIn | None = Field(
        default=None,
        description="phrases that mark a call's outcome, spotted in each recorded call's "
        "transcript (`Call.PhrasesSpotted`); recorded by a RulesChanged in the same save",
    )
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
    publisher_id: str = id_of("pub")


class GeoIn(Body):
    mode: GeoMode = Field(default=GeoMode.ALLOW, strict=False)
    states: list[str] = Field(
        default_factory=list, max_length=limits.GEO_STATES_MAX, examples=[["CA", "NV"]]
    )
    zips: list[str] = Field(default_factory=list, max_length=limits.GEO_ZIPS_MAX)
    area_codes: list[str] = Field(default_factory=list, max_length=limits.GEO_AREA_CODES_MAX)


class ScheduleIn(Body):
    time_zone: str = Field(examples=["America/Los_Angeles"])
    hours: dict[str, list[list[str]]] = Field(
        default_factory=dict, examples=[{"mon": [["08:00", "18:00"]], "sat": [["10:00", "14:00"]]}]
    )


class CapsIn(Body):
    concurrency: int | None = bounded(limits.CAP, default=None)
    hourly: int | None = bounded(limits.CAP, default=None)
    daily: int | None = bounded(limits.CAP, default=None)
    monthly: int | None = bounded(limits.CAP, default=None)
    daily_budget: str | None = Field(
        default=None,
        pattern=POSITIVE_MONEY,
        examples=["500.00"],
    )


class TargetIn(Body):
    buyer_id: str = id_of("buy")
    campaign_id: str = id_of("cmp")
    name: str = sized(limits.NAME_LENGTH, default=limits.TARGET_NAME_DEFAULT)
    destination: str = Field(description="E.164 number or SIP URI", examples=["+13105550100"])
    bid: str | None = Field(
        default=None, pattern=MONEY, description="a standing bid", examples=["45.00"]
    )
    rtb_url: str | None = Field(
        default=None,
        description="a real-time bidding endpoint",
        examples=["https://bids.example.com/ppcx"],
    )
    rtb_timeout_ms: int = bounded(limits.RTB_TIMEOUT_MS)
    buffer_s: int = bounded(limits.BUFFER_S, description="minimum billable duration in seconds")
    geo: GeoIn = Field(default_factory=GeoIn)
    schedule: ScheduleIn | None = None
    caps: CapsIn = Field(default_factory=CapsIn)
    priority: int = bounded(limits.PRIORITY)
    weight: int = bounded(limits.WEIGHT)
    requires_consent: bool = Field(
        default=False,
        description="true: only pings carrying the caller's consent references reach it",
    )
    requires_tags: RequiredTagsIn | None = Field(
        default=None,
        description="tags a ping must carry to reach it: names, or names and values",
        examples=[{"injured": "yes"}],
    )
    whisper: str | None = Field(
        default=None,
        min_length=limits.WHISPER_LENGTH.minimum,
        max_length=limits.WHISPER_LENGTH.maximum,
        description="said to the buyer's agent before the call is connected",
        examples=["Call from PPCX: legal, California, qualified"],
    )
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "buyer_id": f"buy_{ID_EXAMPLE}",
                    "campaign_id": f"cmp_{ID_EXAMPLE}",
                    "destination": "+13105550100",
                    "bid": "45.00",
                    "buffer_s": 60,
                    "geo": {"states": ["CA", "NV"]},
                    "caps": {"concurrency": 2, "daily": 20},
                }
            ]
        },
    )


class ApiKeyIn(Body):
    role: Role = Field(strict=False)
    owner_id: str | None = None
    label: str = Field(default="", max_length=limits.KEY_LABEL_LENGTH_MAX)
    expires_at: Rfc3339 | None = Field(
        default=None,
        description="when the key stops working (RFC 3339 with an offset): after the "
        f"server's time and at most {limits.KEY_EXPIRY_DAYS_MAX} days ahead; from then on it "
        "answers 401 like a revoked key. Without it the key works until revoked",
        examples=["2027-01-01T00:00:00Z"],
    )


class ApiKeyExpiryIn(Body):
    expires_at: Rfc3339 = Field(
        description="when the key stops working (RFC 3339 with an offset): a time already "
        f"past means now; at most {limits.KEY_EXPIRY_DAYS_MAX} days ahead",
        examples=["2027-01-01T00:00:00Z"],
    )


class ApiKeyExpiryOut(BaseModel):
    id: str
    expires_at: str = Field(description="RFC 3339: the expiry recorded")


class ApiKeyOut(BaseModel):
    id: str
    api_key: str = Field(description="shown once: store it now")
    role: str
    owner_id: str | None
    expires_at: str | None = Field(default=None, description="RFC 3339; null: never expires")


class NumberIn(Body):
    number: str = Field(pattern=E164, examples=["+18005550100"])
    campaign_id: str = id_of("cmp")
    publisher_id: str = id_of("pub")
    source: str = sized(limits.NAME_LENGTH, examples=["google"])
    medium: str | None = Field(
        default=None, max_length=limits.NAME_LENGTH.maximum, examples=["cpc"]
    )
    keyword: str | None = Field(default=None, max_length=limits.NAME_LENGTH.maximum)


class NumberPoolIn(Body):
    name: str = sized(limits.NAME_LENGTH, examples=["Landing pages"])
    campaign_id: str = id_of("cmp")
    publisher_id: str = id_of("pub")
    numbers: list[Annotated[str, StringConstraints(pattern=E164)]] = sized(
        limits.POOL_SIZE, examples=[["+18005550142", "+18005550143"]]
    )
    lease_ttl_s: int = bounded(limits.LEASE_TTL_S)
    allowed_origins: list[str] = Field(
        default_factory=list,
        max_length=limits.POOL_ORIGINS_MAX,
        description="web origins (scheme://host[:port]) whose pages may lease numbers (CORS)",
        examples=[["https://landing.example.com"]],
    )


class BlockIn(Body):
    number: str = Field(pattern=E164, examples=["+13105550123"])
    reason: str = Field(
        default="", max_length=limits.TEXT_LENGTH_MAX, examples=["asked not to be called"]
    )


# -- the exchange ---------------------------------------------------------------------------------


class CallerIn(Body):
    number: CallerNumber = Field(
        pattern=E164,
        examples=["+13105550123"],
        description="E.164 as written; a number that is not possible or not in its "
        "country's numbering plan is screened (answer `screen`), a malformed one is a 422",
    )
    state: UsState | None = Field(
        default=None, examples=["CA"], description="derived from the number when not given"
    )
    zip: Zip | None = Field(default=None, examples=["90210"])
    area_code: AreaCode | None = Field(
        default=None, examples=["310"], description="derived from the number when not given"
    )


_ATTRIBUTION_MAX = limits.ATTRIBUTION_TEXT_LENGTH_MAX


class AttributionIn(Body):
    source: str | None = Field(default=None, max_length=_ATTRIBUTION_MAX, examples=["google"])
    medium: str | None = Field(default=None, max_length=_ATTRIBUTION_MAX, examples=["cpc"])
    campaign: str | None = Field(default=None, max_length=_ATTRIBUTION_MAX, examples=["la-injury"])
    keyword: str | None = Field(
        default=None, max_length=_ATTRIBUTION_MAX, examples=["car accident lawyer"]
    )
    click_id: str | None = Field(default=None, max_length=limits.CLICK_ID_LENGTH_MAX)
    tracking_number: PhoneNumber | None = Field(
        default=None, pattern=E164, examples=["+18005550100"]
    )
    dni_session: str | None = Field(default=None, max_length=limits.DNI_SESSION_LENGTH.maximum)
    sub_id: str | None = Field(default=None, max_length=_ATTRIBUTION_MAX)


class ConsentIn(Body):
    """The caller's consent to be called (TCPA): references to the evidence, not the evidence.
    A TrustedForm certificate or a Jornaya LeadiD is required."""

    trustedform_cert_url: str | None = Field(
        default=None,
        pattern=TRUSTEDFORM_CERT_URL_PATTERN,
        examples=["https://cert.trustedform.com/0123456789abcdef0123456789abcdef01234567"],
    )
    jornaya_leadid: str | None = Field(
        default=None,
        pattern=JORNAYA_LEADID_PATTERN,
        examples=["3F2504E0-4F89-11D3-9A0C-0305E82C3301"],
    )
    text_version: str | None = Field(
        default=None, pattern=TEXT_VERSION_PATTERN, examples=["tcpa-2024-03"]
    )
    consented_at: Rfc3339 | None = Field(default=None, examples=["2026-12-01T14:30:00Z"])

    def parsed(self) -> Consent:
        """The consent, checked by the domain's parser too (a reference is required)."""
        given = self.model_dump(exclude_none=True)
        if self.consented_at is not None:
            given["consented_at"] = format_rfc3339(self.consented_at)
        return Consent.parse(given)


class PingIn(Body):
    campaign_id: str = id_of("cmp")
    caller: CallerIn
    attribution: AttributionIn = Field(default_factory=AttributionIn)
    consent: ConsentIn | None = None
    tags: dict[TagKey, TagValue] = Field(
        default_factory=dict,
        max_length=limits.TAGS_MAX,
        description=f"at most {limits.TAGS_MAX}; keys of letters, digits, _ . - "
        f"(up to {_TAG_KEY.maximum}), values up to {limits.TAG_VALUE_LENGTH_MAX} characters",
    )
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "campaign_id": f"cmp_{ID_EXAMPLE}",
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
    screen: str | None = Field(
        default=None,
        examples=["velocity"],
        description="with reason `screened`: the screen that refused the ping before the "
        "auction (invalid_number, unassignable_number, premium_rate, toll_free, velocity)",
    )


class RtbAnswer(BaseModel):
    """The Ringba-style RTB answer (camelCase as Ringba's; `bidAmount` a JSON number)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "bidId": "call_…",
                    "bidAmount": 45.0,
                    "phoneNumber": "+18005550100",
                    "phoneNumberNoPlus": "18005550100",
                    "expireInSeconds": 60,
                }
            ]
        }
    )
    bidId: str | None
    bidAmount: float = Field(description="two decimals; 0 when there is no bid")
    phoneNumber: str | None = None
    phoneNumberNoPlus: str | None = None
    expireInSeconds: int | None = None
    rejectReason: str | None = None


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
    duration_s: int | None = bounded(limits.DURATION_S, default=None)
    ended_by: EndedBy | None = Field(
        default=None,
        strict=False,
        description="`completed` only: who hung up first, the `caller` or the `buyer`'s side "
        "(absent: unknown). A call the buyer ends within its campaign's `buzzer_margin_s` "
        "before the buffer is flagged `buzzer_beater`",
    )


class BidIn(Body):
    amount: str = money("the new standing bid", "52.00")


class PauseIn(Body):
    reason: str = Field(default="", max_length=limits.TEXT_LENGTH_MAX)


class ConversionIn(Body):
    value: str | None = Field(default=None, pattern=MONEY, examples=["250.00"])


class DisputeIn(Body):
    reason: str = sized(limits.DISPUTE_REASON_LENGTH, examples=["wrong number"])


class DisputeOut(BaseModel):
    dispute_id: str


class ResolveIn(Body):
    accept: bool
    note: str = Field(default="", max_length=limits.TEXT_LENGTH_MAX)


class Page(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for the next page")


class TimelineOut(BaseModel):
    call_id: str
    status: str
    events: list[dict[str, Any]]


class TranscriptOut(BaseModel):
    recording_id: str
    text: str | None = Field(
        description="as stored: card-number and SSN digit runs are [REDACTED] (null: missing "
        "from the transcripts store, which `ppcx replay verify` reports)"
    )
    transcript_sha256: str = Field(description="SHA-256 of the text (UTF-8), as recorded")
    engine: str
    engine_version: str
    redactions: int
    audio_ms: int
    transcribed_at: str
    phrases: list[str] | None = Field(
        description="the campaign's keywords found in it (null: its campaign spots none)"
    )


class TranscriptsOut(BaseModel):
    call_id: str
    transcripts: list[TranscriptOut]


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


class Readiness(BaseModel):
    status: str = Field(examples=["ready"], description="`ready` or `not ready`")
    checks: dict[str, str] = Field(examples=[{"event_store": "ok", "redis": "ok", "nats": "ok"}])
    lag: dict[str, Any] = Field(
        description="how far the relay and the projections trail the store's head",
        examples=[{"relay_events": 0, "projection_events": 0}],
    )


class SweepOut(BaseModel):
    handled: int = Field(description="expired reservations released", examples=[0])
    keys_warned: list[str] = Field(
        default_factory=list, description="API keys whose owners were warned of their expiry"
    )
    keys_expired: list[str] = Field(
        default_factory=list, description="API keys expired for being unused"
    )
    recordings_fetched: int = Field(
        default=0, description="call recordings fetched from Twilio, stored and recorded"
    )
    recordings_deleted: int = Field(
        default=0, description="call recordings deleted at the end of their retention"
    )
