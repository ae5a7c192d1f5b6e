"""Raw input → typed change commands (PATCH of targets, campaigns, buyers and publishers):
creation's parsers and limits, field by field (`handlers/parse.py`), but every bad field is
reported, together, in one `InvalidFields` (the API's `errors[]`, dotted paths such as
`caps.daily` or `schedule.time_zone`). A field left out — or given as null — keeps its value;
a null cap removes that cap. The path's id is checked after the body (as creation does)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from domain import validate
from domain.billing import PayoutRule
from domain.caps import Caps
from domain.commands import (
    ArchiveTarget,
    CampaignChanges,
    ChangeBuyerProfile,
    ChangeCampaign,
    ChangeCreditLimit,
    ChangeTarget,
    ReinstatePublisher,
    RenamePublisher,
    SetPingLimit,
    SuspendPublisher,
    TargetChanges,
)
from domain.errors import InvalidFields, ValidationError
from domain.ids import require_subject_id
from domain.ivr import parse_required_tags, parse_script
from domain.limits import (
    BID_TTL_S,
    BUFFER_S,
    BUZZER_MARGIN_S,
    DUPLICATE_WINDOW_DAYS,
    MAX_ATTEMPTS,
    PING_BURST,
    PING_RATE_PER_S,
    PRIORITY,
    RTB_DEADLINE_MS,
    RTB_TIMEOUT_MS,
    SHORT_CALL_S,
    WEIGHT,
)
from domain.money import parse_cents
from domain.quality import parse_rules
from domain.recording import parse_recording_rule, parse_whisper
from domain.schedule import parse_time_zone
from domain.screening import parse_velocity
from domain.transcript import parse_keywords
from handlers.parse import (
    geo_rule,
    parse_credit_limit,
    valid_destination,
    valid_distribution,
    weekly_schedule,
)

T = TypeVar("T")
CAP_NAMES = {  # a cap as the API names it -> as the target stores it
    "concurrency": "concurrency",
    "hourly": "hourly",
    "daily": "daily",
    "monthly": "monthly",
    "daily_budget": "daily_budget_cents",
}
TARGET_STATUSES = {"active": False, "paused": True}  # `status` -> paused


class _Fields:
    """Each given field parsed on its own; every error kept."""

    def __init__(self) -> None:
        self.errors: list[ValidationError] = []

    def parse(self, value: object, parser: Callable[[Any], T]) -> T | None:
        """`parser(value)` for a given value (None: not given, nothing to parse)."""
        if value is None:
            return None
        try:
            return parser(value)
        except InvalidFields as error:
            self.errors.extend(error.errors)
        except ValidationError as error:
            self.errors.append(error)
        return None

    def fail(self, message: str, field: str) -> None:
        self.errors.append(ValidationError(message, field=field))

    def check(self) -> None:
        if self.errors:
            raise InvalidFields(self.errors)


def _caps(given: Mapping[str, object]) -> dict[str, int | None]:
    if not isinstance(given, Mapping):
        raise ValidationError("caps must be an object", field="caps")
    errors: list[ValidationError] = []
    parsed: dict[str, int | None] = {}
    for name, value in given.items():
        stored = CAP_NAMES.get(name)
        if stored is None:
            errors.append(ValidationError(f"unknown cap {name!r}", field=f"caps.{name}"))
            continue
        try:
            parsed[stored] = getattr(Caps.parse({name: value}), stored)
        except ValidationError as error:
            errors.append(error)
    if errors:
        raise InvalidFields(errors)
    return parsed


def _status(value: object) -> bool:
    if not isinstance(value, str) or value not in TARGET_STATUSES:
        raise ValidationError(
            "status must be active or paused (archive with DELETE)", field="status"
        )
    return TARGET_STATUSES[value]


def change_target(
    *,
    target_id: object,
    by: str,
    buyer_id: str | None = None,
    name: object = None,
    destination: object = None,
    bid: object = None,
    rtb_url: object = None,
    rtb_timeout_ms: object = None,
    buffer_s: object = None,
    geo: Mapping[str, object] | None = None,
    schedule: Mapping[str, object] | None = None,
    caps: Mapping[str, object] | None = None,
    priority: object = None,
    weight: object = None,
    status: object = None,
    auto_pause: object = None,
    requires_consent: object = None,
    requires_tags: object = None,
    whisper: object = None,
) -> ChangeTarget:
    f = _Fields()
    if bid is not None and rtb_url is not None:
        f.fail("give either a standing bid or an rtb_url, not both", "bid")
    changes = TargetChanges(
        name=f.parse(name, validate.name),
        destination=f.parse(destination, valid_destination),
        bid_cents=f.parse(bid, lambda v: parse_cents(v, "bid")) if rtb_url is None else None,
        rtb_url=f.parse(rtb_url, lambda v: validate.http_url(v, "rtb_url")),
        rtb_timeout_ms=f.parse(
            rtb_timeout_ms, lambda v: validate.integer(v, "rtb_timeout_ms", RTB_TIMEOUT_MS)
        ),
        buffer_s=f.parse(buffer_s, lambda v: validate.integer(v, "buffer_s", BUFFER_S)),
        geo=f.parse(geo, geo_rule),
        schedule=f.parse(schedule, weekly_schedule),
        caps=f.parse(caps, _caps),
        priority=f.parse(priority, lambda v: validate.integer(v, "priority", PRIORITY)),
        weight=f.parse(weight, lambda v: validate.integer(v, "weight", WEIGHT)),
        paused=f.parse(status, _status),
        auto_pause=f.parse(auto_pause, parse_rules),
        requires_consent=f.parse(
            requires_consent, lambda v: validate.boolean(v, "requires_consent")
        ),
        requires_tags=f.parse(requires_tags, parse_required_tags),
        whisper=f.parse(whisper, lambda v: parse_whisper(v) or ""),
    )
    f.check()
    return ChangeTarget(require_subject_id(target_id, "tgt", "target_id"), changes, by, buyer_id)


def archive_target(
    *, target_id: object, by: str, reason: object = "", buyer_id: str | None = None
) -> ArchiveTarget:
    checked_reason = validate.text(reason, "reason")
    return ArchiveTarget(
        require_subject_id(target_id, "tgt", "target_id"), checked_reason, by, buyer_id
    )


def _allow_negative_margin(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(
            "allow_negative_margin must be true or false", field="allow_negative_margin"
        )
    return value


def change_campaign(
    *,
    campaign_id: object,
    by: str,
    name: object = None,
    vertical: object = None,
    publisher_payout: object = None,
    duplicate_window_days: object = None,
    distribution: object = None,
    min_bid: object = None,
    min_margin: object = None,
    allow_negative_margin: object = None,
    max_attempts: object = None,
    bid_ttl_s: object = None,
    rtb_deadline_ms: object = None,
    exclude_toll_free: object = None,
    exclude_premium_rate: object = None,
    velocity: object = None,
    buzzer_margin_s: object = None,
    short_call_s: object = None,
    bill_buzzer_beaters: object = None,
    ivr: object = None,
    recording: object = None,
    keywords: object = None,
) -> ChangeCampaign:
    f = _Fields()
    changes = CampaignChanges(
        name=f.parse(name, validate.name),
        vertical=f.parse(vertical, lambda v: validate.slug(v, "vertical")),
        payout=f.parse(publisher_payout, PayoutRule.parse),
        duplicate_window_days=f.parse(
            duplicate_window_days,
            lambda v: validate.integer(v, "duplicate_window_days", DUPLICATE_WINDOW_DAYS),
        ),
        distribution=f.parse(distribution, valid_distribution),
        min_bid_cents=f.parse(min_bid, lambda v: parse_cents(v, "min_bid")),
        min_margin_cents=f.parse(
            min_margin, lambda v: parse_cents(v, "min_margin", allow_negative=True)
        ),
        allow_negative_margin=f.parse(allow_negative_margin, _allow_negative_margin),
        max_attempts=f.parse(
            max_attempts, lambda v: validate.integer(v, "max_attempts", MAX_ATTEMPTS)
        ),
        bid_ttl_s=f.parse(bid_ttl_s, lambda v: validate.integer(v, "bid_ttl_s", BID_TTL_S)),
        rtb_deadline_ms=f.parse(
            rtb_deadline_ms, lambda v: validate.integer(v, "rtb_deadline_ms", RTB_DEADLINE_MS)
        ),
        exclude_toll_free=f.parse(
            exclude_toll_free, lambda v: validate.boolean(v, "exclude_toll_free")
        ),
        exclude_premium_rate=f.parse(
            exclude_premium_rate, lambda v: validate.boolean(v, "exclude_premium_rate")
        ),
        velocity=f.parse(velocity, parse_velocity),
        buzzer_margin_s=f.parse(
            buzzer_margin_s, lambda v: validate.integer(v, "buzzer_margin_s", BUZZER_MARGIN_S)
        ),
        short_call_s=f.parse(
            short_call_s, lambda v: validate.integer(v, "short_call_s", SHORT_CALL_S)
        ),
        bill_buzzer_beaters=f.parse(
            bill_buzzer_beaters, lambda v: validate.boolean(v, "bill_buzzer_beaters")
        ),
        ivr=f.parse(ivr, parse_script),
        recording=f.parse(recording, parse_recording_rule),
        keywords=f.parse(keywords, parse_keywords),
    )
    f.check()
    return ChangeCampaign(require_subject_id(campaign_id, "cmp", "campaign_id"), changes, by)


def change_buyer(
    *,
    buyer_id: object,
    by: str,
    name: object = None,
    time_zone: object = None,
    credit_limit: object = None,
) -> tuple[ChangeBuyerProfile, ChangeCreditLimit | None]:
    """The profile's change (perhaps empty) and a credit limit's, when one is given."""
    f = _Fields()
    checked_name = f.parse(name, validate.name)
    zone = f.parse(time_zone, parse_time_zone)
    limit_cents = f.parse(credit_limit, parse_credit_limit)
    f.check()
    subject = require_subject_id(buyer_id, "buy", "buyer_id")
    limit = None if limit_cents is None else ChangeCreditLimit(subject, limit_cents, by)
    return ChangeBuyerProfile(subject, checked_name, zone, by), limit


PublisherStatusChange = SuspendPublisher | ReinstatePublisher


def change_publisher(
    *,
    publisher_id: object,
    by: str,
    name: object = None,
    suspended: object = None,
    reason: object = None,
    ping_rate_per_s: object = None,
    ping_burst: object = None,
) -> tuple[RenamePublisher | None, PublisherStatusChange | None]:
    """A rename and a suspension (`suspended: true`, with an optional `reason`) or a
    reinstatement (`suspended: false`), each when given (the ping limit's fields are checked
    with the others; `change_ping_limit` makes their command)."""
    f = _Fields()
    _ping_limit_fields(f, ping_rate_per_s, ping_burst)
    checked_name = f.parse(name, validate.name)
    checked_reason = f.parse(reason, lambda v: validate.text(v, "reason"))
    if suspended is not None and not isinstance(suspended, bool):
        f.fail("suspended must be true or false", "suspended")
    if reason is not None and suspended is not True:
        f.fail("a reason goes with suspended: true", "reason")
    f.check()
    subject = require_subject_id(publisher_id, "pub", "publisher_id")
    rename = None if checked_name is None else RenamePublisher(subject, checked_name, by)
    status: PublisherStatusChange | None = None
    if suspended is True:
        status = SuspendPublisher(subject, checked_reason or "", by)
    elif suspended is False:
        status = ReinstatePublisher(subject, by)
    return rename, status


def _ping_limit_fields(
    f: _Fields, rate_per_s: object, burst: object
) -> tuple[int | None, int | None]:
    return (
        f.parse(rate_per_s, lambda v: validate.integer(v, "ping_rate_per_s", PING_RATE_PER_S)),
        f.parse(burst, lambda v: validate.integer(v, "ping_burst", PING_BURST)),
    )


def change_ping_limit(
    *,
    publisher_id: object,
    by: str,
    ping_rate_per_s: object = None,
    ping_burst: object = None,
    **_other_fields: object,
) -> SetPingLimit | None:
    """A publisher's new ping limit (its pings and RTB pings a second, and its burst), when
    either is given."""
    f = _Fields()
    rate_per_s, burst = _ping_limit_fields(f, ping_rate_per_s, ping_burst)
    f.check()
    if rate_per_s is None and burst is None:
        return None
    subject = require_subject_id(publisher_id, "pub", "publisher_id")
    return SetPingLimit(subject, rate_per_s, burst, by)
