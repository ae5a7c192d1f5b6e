"""Raw input → typed commands: the one parsing layer, shared by the API's routes (after
pydantic has checked a body's shape), the CLI and the tools.

Each function takes the request's fields by the names the API gives them, checks them in a
fixed order — the first bad one raises `ValidationError` naming its field (or `NotFound` for
a malformed id of the object a command acts on, as an unknown one would) — and returns the
command with parsed values: integer cents, value objects, ids matched whole. Nothing is
normalised, cut or guessed (docs/API.md, "Strict input"). What needs the store (does it
exist, whose is it, is a bid above the campaign's floor) is the handlers' business.

The order of the checks is the order of the statements, and of a command's keyword arguments
where they check (Python evaluates those as written).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import cast

from domain import validate
from domain.api_key import OWNED_ROLES, ROLES, Role
from domain.billing import PayoutRule, check_campaign_economics
from domain.campaign import DISTRIBUTIONS, Distribution
from domain.caps import Caps
from domain.clock import require_utc
from domain.commands import (
    AllowPublisher,
    BlockCaller,
    ChangeCreditLimit,
    ChangeWebhook,
    ConvertCall,
    CreateCampaign,
    CreateNumberPool,
    CreateTarget,
    DepositFunds,
    DisallowPublisher,
    DisputeCall,
    InviteUser,
    IssueApiKey,
    PauseTarget,
    ProvisionNumber,
    RegisterBuyer,
    RegisterPublisher,
    RegisterWebhook,
    RemoveWebhook,
    RenamePublisher,
    ResolveDispute,
    ResumeTarget,
    RevokeApiKey,
    RotateWebhookSecret,
    SetApiKeyExpiry,
    SetStandingBid,
    UnblockCaller,
)
from domain.errors import ValidationError
from domain.geo import GeoRule, parse_e164
from domain.ids import require_id, require_subject_id
from domain.invariant import invariant
from domain.ivr import parse_required_tags, parse_script
from domain.limits import (
    BID_TTL_S,
    BUFFER_S,
    BUZZER_MARGIN_S,
    CREDIT_LIMIT_CENTS_MAX,
    DUPLICATE_WINDOW_DAYS,
    KEY_HASH_LENGTH_MAX,
    KEY_LABEL_LENGTH_MAX,
    LEASE_TTL_S,
    MARKET_DEFAULT,
    MAX_ATTEMPTS,
    POOL_ORIGINS_MAX,
    POOL_SIZE,
    PRIORITY,
    RTB_DEADLINE_MS,
    RTB_TIMEOUT_MS,
    SHORT_CALL_S,
    TARGET_NAME_DEFAULT,
    WEBHOOK_DESCRIPTION_LENGTH_MAX,
    WEBHOOK_EVENTS,
    WEBHOOK_URL_LENGTH,
    WEIGHT,
)
from domain.money import parse_cents
from domain.recording import parse_recording_rule, parse_whisper
from domain.schedule import WeeklySchedule, parse_time_zone
from domain.screening import parse_velocity
from domain.transcript import parse_keywords
from domain.user import normal_email
from domain.webhook import WebhookMethod
from domain.webhook_events import WebhookEvent

GEO_FIELDS = frozenset({"mode", "states", "zips", "area_codes"})

# -- publishers and buyers ---------------------------------------------------------------------


def register_publisher(
    *, name: object, by: str, command_id: str | None = None
) -> RegisterPublisher:
    return RegisterPublisher(validate.name(name), by, command_id)


def rename_publisher(*, publisher_id: object, name: object, by: str) -> RenamePublisher:
    checked_name = validate.name(name)
    return RenamePublisher(
        require_subject_id(publisher_id, "pub", "publisher_id"), checked_name, by
    )


def parse_credit_limit(value: object) -> int:
    cents = parse_cents(value, "credit_limit")
    if cents > CREDIT_LIMIT_CENTS_MAX:
        raise ValidationError("credit_limit is out of range", field="credit_limit")
    return cents


def register_buyer(
    *,
    name: object,
    time_zone: object,
    by: str,
    credit_limit: object = "0.00",
    market: object = MARKET_DEFAULT,
    command_id: str | None = None,
) -> RegisterBuyer:
    return RegisterBuyer(
        name=validate.name(name),
        time_zone=parse_time_zone(time_zone),
        credit_limit_cents=parse_credit_limit(credit_limit),
        market=validate.slug(market, "market"),
        by=by,
        command_id=command_id,
    )


def deposit_funds(
    *,
    buyer_id: object,
    amount: object,
    by: str,
    reference: object = "",
    command_id: str | None = None,
) -> DepositFunds:
    amount_cents = parse_cents(amount, "amount")
    if amount_cents <= 0:
        raise ValidationError("amount must be positive", field="amount")
    return DepositFunds(
        amount_cents=amount_cents,
        reference=validate.text(reference, "reference"),
        buyer_id=require_subject_id(buyer_id, "buy", "buyer_id"),
        by=by,
        command_id=command_id,
    )


def change_credit_limit(
    *, buyer_id: object, credit_limit: object, by: str, command_id: str | None = None
) -> ChangeCreditLimit:
    return ChangeCreditLimit(
        credit_limit_cents=parse_credit_limit(credit_limit),
        buyer_id=require_subject_id(buyer_id, "buy", "buyer_id"),
        by=by,
        command_id=command_id,
    )


# -- campaigns ---------------------------------------------------------------------------------


def valid_distribution(value: object) -> Distribution:
    if not isinstance(value, str) or value not in DISTRIBUTIONS:
        raise ValidationError(
            f"distribution must be one of {', '.join(DISTRIBUTIONS)}", field="distribution"
        )
    return Distribution(value)


def create_campaign(
    *,
    name: object,
    vertical: object,
    publisher_payout: object,
    by: str,
    duplicate_window_days: object = DUPLICATE_WINDOW_DAYS.default,
    distribution: object = "auction",
    min_bid: object = None,
    min_margin: object = "0.00",
    allow_negative_margin: object = False,
    max_attempts: object = MAX_ATTEMPTS.default,
    bid_ttl_s: object = BID_TTL_S.default,
    rtb_deadline_ms: object = RTB_DEADLINE_MS.default,
    market: object = MARKET_DEFAULT,
    command_id: str | None = None,
    exclude_toll_free: object = False,
    exclude_premium_rate: object = False,
    velocity: object = None,
    buzzer_margin_s: object = BUZZER_MARGIN_S.default,
    short_call_s: object = SHORT_CALL_S.default,
    bill_buzzer_beaters: object = False,
    ivr: object = None,
    recording: object = None,
    keywords: object = None,
) -> CreateCampaign:
    checked_name = validate.name(name)
    checked_vertical = validate.slug(vertical, "vertical")
    payout = PayoutRule.parse(publisher_payout)
    window_days = validate.integer(
        duplicate_window_days, "duplicate_window_days", DUPLICATE_WINDOW_DAYS
    )
    mode = valid_distribution(distribution)
    min_margin_cents = parse_cents(min_margin, "min_margin", allow_negative=True)
    if not isinstance(allow_negative_margin, bool):
        raise ValidationError(
            "allow_negative_margin must be true or false", field="allow_negative_margin"
        )
    if min_bid is not None:
        min_bid_cents = parse_cents(min_bid, "min_bid")
    elif payout.fixed_cents is not None:
        min_bid_cents = max(payout.fixed_cents + min_margin_cents, 0)
    else:
        min_bid_cents = 0
    check_campaign_economics(payout, min_bid_cents, min_margin_cents, allow_negative_margin)
    return CreateCampaign(
        name=checked_name,
        vertical=checked_vertical,
        payout=payout,
        duplicate_window_days=window_days,
        distribution=mode,
        min_bid_cents=min_bid_cents,
        min_margin_cents=min_margin_cents,
        allow_negative_margin=allow_negative_margin,
        max_attempts=validate.integer(max_attempts, "max_attempts", MAX_ATTEMPTS),
        bid_ttl_s=validate.integer(bid_ttl_s, "bid_ttl_s", BID_TTL_S),
        rtb_deadline_ms=validate.integer(rtb_deadline_ms, "rtb_deadline_ms", RTB_DEADLINE_MS),
        market=validate.slug(market, "market"),
        by=by,
        command_id=command_id,
        exclude_toll_free=validate.boolean(exclude_toll_free, "exclude_toll_free"),
        exclude_premium_rate=validate.boolean(exclude_premium_rate, "exclude_premium_rate"),
        velocity=None if velocity is None else parse_velocity(velocity),
        buzzer_margin_s=validate.integer(buzzer_margin_s, "buzzer_margin_s", BUZZER_MARGIN_S),
        short_call_s=validate.integer(short_call_s, "short_call_s", SHORT_CALL_S),
        bill_buzzer_beaters=validate.boolean(bill_buzzer_beaters, "bill_buzzer_beaters"),
        ivr=None if ivr is None else parse_script(ivr),
        recording=None if recording is None else parse_recording_rule(recording),
        keywords=parse_keywords(keywords) if keywords is not None else None,
    )


def allow_publisher(*, campaign_id: object, publisher_id: object, by: str) -> AllowPublisher:
    publisher = require_id(publisher_id, "pub", "publisher_id")  # the body's, checked first
    return AllowPublisher(require_subject_id(campaign_id, "cmp", "campaign_id"), publisher, by)


def disallow_publisher(*, campaign_id: object, publisher_id: object, by: str) -> DisallowPublisher:
    """Both ids name objects the command acts on (a path's: DELETE …/publishers/{id})."""
    return DisallowPublisher(
        require_subject_id(campaign_id, "cmp", "campaign_id"),
        require_subject_id(publisher_id, "pub", "publisher_id"),
        by,
    )


# -- targets -----------------------------------------------------------------------------------


def valid_destination(value: object) -> str:
    """An E.164 number or a SIP URI."""
    if isinstance(value, str) and validate.sip_uri(value):
        return value
    try:
        return parse_e164(value, "destination")
    except ValidationError:
        raise ValidationError(
            "destination must be an E.164 number (+13105550123) or a SIP URI (sip:a@host)",
            field="destination",
        ) from None


def geo_rule(geo: Mapping[str, object] | None) -> GeoRule:
    geo = geo or {}
    rule = GeoRule.parse(
        geo.get("mode", "allow"),
        cast(Sequence[object], geo.get("states", ())),
        cast(Sequence[object], geo.get("zips", ())),
        cast(Sequence[object], geo.get("area_codes", ())),
    )
    if set(geo) - GEO_FIELDS:
        raise ValidationError("geo takes mode, states, zips and area_codes", field="geo")
    return rule


def weekly_schedule(schedule: Mapping[str, object] | None) -> WeeklySchedule:
    """Opening hours; none given: always open."""
    if not schedule:
        return WeeklySchedule()
    hours = cast(Mapping[str, object] | None, schedule.get("hours"))
    return WeeklySchedule.parse(schedule.get("time_zone"), hours)


def create_target(
    *,
    buyer_id: object,
    campaign_id: object,
    destination: object,
    by: str,
    name: object = TARGET_NAME_DEFAULT,
    bid: object = None,
    rtb_url: object = None,
    rtb_timeout_ms: object = RTB_TIMEOUT_MS.default,
    buffer_s: object = BUFFER_S.default,
    geo: Mapping[str, object] | None = None,
    schedule: Mapping[str, object] | None = None,
    caps: Mapping[str, object] | None = None,
    priority: object = PRIORITY.default,
    weight: object = WEIGHT.default,
    requires_consent: object = False,
    command_id: str | None = None,
    requires_tags: object = None,
    whisper: object = None,
) -> CreateTarget:
    buyer = require_id(buyer_id, "buy", "buyer_id")
    campaign = require_id(campaign_id, "cmp", "campaign_id")
    checked_name = validate.name(name)
    checked_destination = valid_destination(destination)
    if (bid is None) == (rtb_url is None):
        raise ValidationError("give either a standing bid or an rtb_url", field="bid")
    return CreateTarget(
        buyer_id=buyer,
        campaign_id=campaign,
        name=checked_name,
        destination=checked_destination,
        bid_cents=parse_cents(bid, "bid") if bid is not None else None,
        rtb_url=validate.http_url(rtb_url, "rtb_url") if rtb_url is not None else None,
        rtb_timeout_ms=validate.integer(rtb_timeout_ms, "rtb_timeout_ms", RTB_TIMEOUT_MS),
        buffer_s=validate.integer(buffer_s, "buffer_s", BUFFER_S),
        geo=geo_rule(geo),
        schedule=weekly_schedule(schedule),
        caps=Caps.parse(caps),
        priority=validate.integer(priority, "priority", PRIORITY),
        weight=validate.integer(weight, "weight", WEIGHT),
        by=by,
        command_id=command_id,
        requires_consent=validate.boolean(requires_consent, "requires_consent"),
        requires_tags=None if requires_tags is None else parse_required_tags(requires_tags),
        whisper=None if whisper is None else parse_whisper(whisper),
    )


def set_standing_bid(
    *,
    target_id: object,
    amount: object,
    by: str,
    buyer_id: str | None = None,
    command_id: str | None = None,
) -> SetStandingBid:
    amount_cents = parse_cents(amount, "amount")
    return SetStandingBid(
        require_subject_id(target_id, "tgt", "target_id"), amount_cents, by, buyer_id, command_id
    )


def pause_target(
    *, target_id: object, by: str, reason: object = "", buyer_id: str | None = None
) -> PauseTarget:
    checked_reason = validate.text(reason, "reason")
    return PauseTarget(
        require_subject_id(target_id, "tgt", "target_id"), checked_reason, by, buyer_id
    )


def resume_target(*, target_id: object, by: str, buyer_id: str | None = None) -> ResumeTarget:
    return ResumeTarget(require_subject_id(target_id, "tgt", "target_id"), by, buyer_id)


# -- numbers -----------------------------------------------------------------------------------


def provision_number(
    *,
    number: object,
    campaign_id: object,
    publisher_id: object,
    source: object,
    by: str,
    medium: object = None,
    keyword: object = None,
) -> ProvisionNumber:
    e164 = parse_e164(number, "number")
    checked_source = validate.name(source, "source")
    checked_medium = validate.name(medium, "medium") if medium else None
    checked_keyword = validate.name(keyword, "keyword") if keyword else None
    return ProvisionNumber(
        number=e164,
        source=checked_source,
        medium=checked_medium,
        keyword=checked_keyword,
        campaign_id=require_id(campaign_id, "cmp", "campaign_id"),
        publisher_id=require_id(publisher_id, "pub", "publisher_id"),
        by=by,
    )


def _origins(given: Sequence[object]) -> tuple[str, ...]:
    """A pool's allowed web origins, normalised as browsers send them, each listed once."""
    if len(given) > POOL_ORIGINS_MAX:
        raise ValidationError(
            f"a pool allows at most {POOL_ORIGINS_MAX} origins", field="allowed_origins"
        )
    origins = tuple(validate.origin(o, "allowed_origins") for o in given)
    if len(set(origins)) != len(origins):
        raise ValidationError("a pool lists each origin once", field="allowed_origins")
    return origins


def create_number_pool(
    *,
    name: object,
    campaign_id: object,
    publisher_id: object,
    numbers: Sequence[object],
    by: str,
    lease_ttl_s: object = LEASE_TTL_S.default,
    allowed_origins: Sequence[object] = (),
    command_id: str | None = None,
) -> CreateNumberPool:
    checked_name = validate.name(name)
    if len(numbers) not in POOL_SIZE:
        raise ValidationError(
            f"a pool holds {POOL_SIZE.minimum} to {POOL_SIZE.maximum} numbers", field="numbers"
        )
    e164s = tuple(parse_e164(n, "numbers") for n in numbers)
    if len(set(e164s)) != len(e164s):
        raise ValidationError("a pool lists each number once", field="numbers")
    ttl_s = validate.integer(lease_ttl_s, "lease_ttl_s", LEASE_TTL_S)
    origins = _origins(allowed_origins)
    return CreateNumberPool(
        name=checked_name,
        numbers=e164s,
        lease_ttl_s=ttl_s,
        allowed_origins=origins,
        campaign_id=require_id(campaign_id, "cmp", "campaign_id"),
        publisher_id=require_id(publisher_id, "pub", "publisher_id"),
        by=by,
        command_id=command_id,
    )


# -- API keys ------------------------------------------------------------------------------------


def valid_role(value: object) -> Role:
    if not isinstance(value, str) or value not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}", field="role")
    return Role(value)


def issue_api_key(
    *,
    role: object,
    owner_id: str | None,
    label: object,
    key_hash: str,
    key_id: object,
    by: str,
    expires_at: datetime | None = None,
) -> IssueApiKey:
    checked_role = valid_role(role)
    if (checked_role in OWNED_ROLES) != (owner_id is not None):
        raise ValidationError(
            "publisher and buyer keys need an owner_id; other roles take none", field="owner_id"
        )
    checked_label = validate.text(label, "label", KEY_LABEL_LENGTH_MAX)
    if not key_hash or len(key_hash) > KEY_HASH_LENGTH_MAX:
        raise ValidationError("key_hash is required", field="key_hash")
    return IssueApiKey(
        role=checked_role,
        owner_id=owner_id,
        key_hash=key_hash,
        label=checked_label,
        key_id=require_id(key_id, "key", "key_id"),
        by=by,
        expires_at=None if expires_at is None else require_utc(expires_at, "expires_at"),
    )


def revoke_api_key(*, key_id: object, by: str) -> RevokeApiKey:
    return RevokeApiKey(require_subject_id(key_id, "key", "key_id"), by)


def set_api_key_expiry(*, key_id: object, expires_at: datetime, by: str) -> SetApiKeyExpiry:
    return SetApiKeyExpiry(
        require_subject_id(key_id, "key", "key_id"), require_utc(expires_at, "expires_at"), by
    )


# -- the block list ------------------------------------------------------------------------------


def block_caller(*, caller_hash: str, reason: object, by: str) -> BlockCaller:
    checked_reason = validate.text(reason, "reason")
    if not caller_hash:
        raise ValidationError("caller_hash is required", field="caller_hash")
    return BlockCaller(caller_hash, checked_reason, by)


def unblock_caller(*, caller_hash: str, by: str) -> UnblockCaller:
    return UnblockCaller(caller_hash, by)


# -- after a call: the buyer's conversion and dispute, finance's resolution -----------------------


def convert_call(
    *, call_id: str, by: str, value: object = None, buyer_id: str | None = None
) -> ConvertCall:
    value_cents = parse_cents(value, "value") if value is not None else None
    return ConvertCall(call_id, value_cents, by, buyer_id)


def dispute_call(
    *,
    call_id: object,
    reason: object,
    by: str,
    buyer_id: str | None = None,
    command_id: str | None = None,
) -> DisputeCall:
    checked_reason = validate.name(reason, "reason")
    return DisputeCall(
        require_subject_id(call_id, "call", "call_id"), checked_reason, by, buyer_id, command_id
    )


def resolve_dispute(
    *, call_id: str, dispute_id: str, accept: object, by: str, note: object = ""
) -> ResolveDispute:
    checked_note = validate.text(note, "note")
    if not isinstance(accept, bool):
        raise ValidationError("accept must be true or false", field="accept")
    return ResolveDispute(call_id, dispute_id, accept, checked_note, by)


def invite_user(
    *, email: object, role: object, owner_id: object, invite_hash: str, by: str
) -> InviteUser:
    """A portal user's invite: the same roles and owners as an API key's."""
    checked_role = valid_role(role)
    if checked_role in OWNED_ROLES:
        prefix = "pub" if checked_role == Role.PUBLISHER else "buy"
        owner = require_id(owner_id or None, prefix, "owner_id")
    elif owner_id:
        raise ValidationError("admin, finance and analyst users take no owner_id", field="owner_id")
    else:
        owner = None
    invariant(bool(invite_hash), "an invite is stored as a hash")
    return InviteUser(
        email=normal_email(email), role=checked_role, owner_id=owner, invite_hash=invite_hash, by=by
    )


# -- webhooks ----------------------------------------------------------------------------------
WEBHOOK_STATUSES = {"active": False, "paused": True}  # PATCH `status` -> paused


def webhook_url(value: object) -> str:
    """A URL's type and length; its form and address are the outbound policy's (the handlers
    apply it, with the method the webhook is left with)."""
    if not isinstance(value, str) or not value:
        raise ValidationError("url must be an http or https URL", field="url")
    if len(value) > WEBHOOK_URL_LENGTH.maximum:
        raise ValidationError(
            f"url must be at most {WEBHOOK_URL_LENGTH.maximum} characters", field="url"
        )
    return value


def webhook_method(value: object) -> str:
    if not isinstance(value, str) or value not in set(WebhookMethod):
        raise ValidationError("method must be POST or GET", field="method")
    return value


def webhook_events(value: object) -> tuple[str, ...]:
    """Event types, each a known one, each once, in the order given."""
    if not isinstance(value, list | tuple) or len(value) not in WEBHOOK_EVENTS:
        raise ValidationError(
            f"events must list {WEBHOOK_EVENTS.minimum}-{WEBHOOK_EVENTS.maximum} event types",
            field="events",
        )
    known = set(WebhookEvent)
    for index, item in enumerate(value):
        if not isinstance(item, str) or item not in known:
            raise ValidationError(
                f"events[{index}] must be one of {', '.join(WebhookEvent)}",
                field=f"events.{index}",
            )
    if len(set(value)) != len(value):
        raise ValidationError("events must name each event type once", field="events")
    return tuple(value)


def register_webhook(
    *,
    url: object,
    events: object,
    by: str,
    owner_role: Role,
    owner_id: str | None,
    method: object = WebhookMethod.POST.value,
    description: object = "",
) -> RegisterWebhook:
    """A subscription of the key's own publisher or buyer (admin: of every call)."""
    invariant((owner_role in OWNED_ROLES) == (owner_id is not None), "an owner for owned roles")
    return RegisterWebhook(
        owner_role=owner_role,
        owner_id=owner_id,
        url=webhook_url(url),
        method=webhook_method(method),
        events=webhook_events(events),
        description=validate.text(description, "description", WEBHOOK_DESCRIPTION_LENGTH_MAX),
        by=by,
    )


def change_webhook(
    *,
    webhook_id: object,
    by: str,
    owner_id: str | None = None,
    url: object = None,
    events: object = None,
    method: object = None,
    description: object = None,
    status: object = None,
) -> ChangeWebhook:
    """The body's fields first, then the path's id (a bad body is 422 whatever the id)."""
    if status is not None and status not in WEBHOOK_STATUSES:
        raise ValidationError("status must be active or paused", field="status")
    return ChangeWebhook(
        url=None if url is None else webhook_url(url),
        method=None if method is None else webhook_method(method),
        events=None if events is None else webhook_events(events),
        description=None
        if description is None
        else validate.text(description, "description", WEBHOOK_DESCRIPTION_LENGTH_MAX),
        paused=None if status is None else WEBHOOK_STATUSES[str(status)],
        webhook_id=require_subject_id(webhook_id, "whk", "webhook_id"),
        by=by,
        owner_id=owner_id,
    )


def rotate_webhook_secret(
    *, webhook_id: object, by: str, owner_id: str | None = None
) -> RotateWebhookSecret:
    return RotateWebhookSecret(require_subject_id(webhook_id, "whk", "webhook_id"), by, owner_id)


def remove_webhook(*, webhook_id: object, by: str, owner_id: str | None = None) -> RemoveWebhook:
    return RemoveWebhook(require_subject_id(webhook_id, "whk", "webhook_id"), by, owner_id)
