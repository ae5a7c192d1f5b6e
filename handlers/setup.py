"""Set-up commands: publishers, buyers and their funds, campaigns, targets, numbers, keys and
the block list. Every check runs before an event is triggered; bad input records nothing."""

from __future__ import annotations

from typing import Any

from domain import validate
from domain.api_key import OWNED_ROLES, ROLES, ApiKey
from domain.base import PPCXAggregate
from domain.billing import PayoutRule, check_campaign_economics
from domain.blocklist import BlockedCaller, blocked_caller_id
from domain.buyer import Buyer
from domain.campaign import DISTRIBUTIONS, Campaign
from domain.caps import Caps
from domain.commands import (
    AllowPublisher,
    BlockCaller,
    ChangeCreditLimit,
    CreateCampaign,
    CreateNumberPool,
    CreateTarget,
    DepositFunds,
    IssueApiKey,
    PauseTarget,
    ProvisionNumber,
    RegisterBuyer,
    RegisterPublisher,
    ResumeTarget,
    RevokeApiKey,
    SetStandingBid,
    UnblockCaller,
)
from domain.errors import Conflict, NotFound, ValidationError
from domain.geo import GeoRule, parse_e164
from domain.ids import derived_id, new_id, require_command_id, require_id, require_subject_id
from domain.limits import (
    BID_TTL_S,
    BUFFER_S,
    CREDIT_LIMIT_CENTS_MAX,
    DUPLICATE_WINDOW_DAYS,
    KEY_HASH_LENGTH_MAX,
    KEY_LABEL_LENGTH_MAX,
    LEASE_TTL_S,
    MAX_ATTEMPTS,
    POOL_ORIGINS_MAX,
    POOL_SIZE,
    PRIORITY,
    RTB_DEADLINE_MS,
    RTB_TIMEOUT_MS,
    WEIGHT,
)
from domain.money import format_cents, parse_cents
from domain.numbers import NumberPool, TrackingNumber, number_id
from domain.publisher import Publisher
from domain.schedule import WeeklySchedule, parse_time_zone
from domain.target import Target
from handlers.unit_of_work import HandlerContext


def _id_for(prefix: str, command_id: str | None) -> str:
    if command_id is None:
        return new_id(prefix)
    return derived_id(prefix, require_command_id(command_id))


def _origins(given: tuple[str, ...]) -> list[str]:
    """A pool's allowed web origins, normalised as browsers send them, each listed once."""
    if len(given) > POOL_ORIGINS_MAX:
        raise ValidationError(
            f"a pool allows at most {POOL_ORIGINS_MAX} origins", field="allowed_origins"
        )
    origins = [validate.origin(o, "allowed_origins") for o in given]
    if len(set(origins)) != len(origins):
        raise ValidationError("a pool lists each origin once", field="allowed_origins")
    return origins


class SetupHandlers:
    def __init__(self, ctx: HandlerContext) -> None:
        self.ctx = ctx
        self.app = ctx.app

    # -- publishers and buyers -------------------------------------------------------------
    def register_publisher(self, cmd: RegisterPublisher) -> str:
        name = validate.name(cmd.name)
        publisher_id = _id_for("pub", cmd.command_id)

        def decide() -> tuple[list[PPCXAggregate], str]:
            if cmd.command_id and self.app.exists(publisher_id):
                return [], publisher_id
            return [Publisher(id=publisher_id, name=name, by=cmd.by, timestamp=self.ctx.now())], (
                publisher_id
            )

        return self.ctx.run(decide)

    def register_buyer(self, cmd: RegisterBuyer) -> str:
        name = validate.name(cmd.name)
        time_zone = parse_time_zone(cmd.time_zone)
        credit_limit_cents = parse_cents(cmd.credit_limit, "credit_limit")
        if credit_limit_cents > CREDIT_LIMIT_CENTS_MAX:
            raise ValidationError("credit_limit is out of range", field="credit_limit")
        market = validate.slug(cmd.market, "market")
        buyer_id = _id_for("buy", cmd.command_id)

        def decide() -> tuple[list[PPCXAggregate], str]:
            if cmd.command_id and self.app.exists(buyer_id):
                return [], buyer_id
            buyer = Buyer(
                id=buyer_id,
                name=name,
                time_zone=time_zone,
                credit_limit_cents=credit_limit_cents,
                market=market,
                by=cmd.by,
                timestamp=self.ctx.now(),
            )
            return [buyer], buyer_id

        return self.ctx.run(decide)

    def deposit(self, cmd: DepositFunds) -> dict[str, Any]:
        """Record prepaid funds → {"transfer_id", "balance"}."""
        amount_cents = parse_cents(cmd.amount, "amount")
        if amount_cents <= 0:
            raise ValidationError("amount must be positive", field="amount")
        reference = validate.text(cmd.reference, "reference")
        require_subject_id(cmd.buyer_id, "buy", "buyer_id")
        transfer_id = _id_for("tx", cmd.command_id)

        def decide() -> tuple[list[PPCXAggregate], dict[str, Any]]:
            receipt = self.ctx.receipt_for(cmd.command_id)
            if receipt is not None:
                return [], receipt.result
            buyer = self.app.load(Buyer, cmd.buyer_id, "buyer_id")
            at = self.ctx.now()
            buyer.deposit(transfer_id, amount_cents, reference, cmd.by, at)
            result = {"transfer_id": transfer_id, "available_cents": buyer.available_cents}
            return [buyer, *self.ctx.new_receipt(cmd.command_id, "DepositFunds", result, at)], (
                result
            )

        return self.ctx.run(decide, hot=(cmd.buyer_id,))

    def change_credit_limit(self, cmd: ChangeCreditLimit) -> None:
        limit_cents = parse_cents(cmd.credit_limit, "credit_limit")
        if limit_cents > CREDIT_LIMIT_CENTS_MAX:
            raise ValidationError("credit_limit is out of range", field="credit_limit")
        require_subject_id(cmd.buyer_id, "buy", "buyer_id")

        def decide() -> tuple[list[PPCXAggregate], None]:
            buyer = self.app.load(Buyer, cmd.buyer_id, "buyer_id")
            if buyer.credit_limit_cents == limit_cents:
                return [], None
            buyer.change_credit_limit(limit_cents, cmd.by, self.ctx.now())
            return [buyer], None

        self.ctx.run(decide, hot=(cmd.buyer_id,))

    # -- campaigns -------------------------------------------------------------------------
    def create_campaign(self, cmd: CreateCampaign) -> str:
        name = validate.name(cmd.name)
        vertical = validate.slug(cmd.vertical, "vertical")
        payout = PayoutRule.parse(cmd.publisher_payout)
        window_days = validate.integer(
            cmd.duplicate_window_days, "duplicate_window_days", DUPLICATE_WINDOW_DAYS
        )
        if cmd.distribution not in DISTRIBUTIONS:
            raise ValidationError(
                f"distribution must be one of {', '.join(DISTRIBUTIONS)}", field="distribution"
            )
        min_margin_cents = parse_cents(cmd.min_margin, "min_margin", allow_negative=True)
        if not isinstance(cmd.allow_negative_margin, bool):
            raise ValidationError(
                "allow_negative_margin must be true or false", field="allow_negative_margin"
            )
        if cmd.min_bid is not None:
            min_bid_cents = parse_cents(cmd.min_bid, "min_bid")
        elif payout.fixed_cents is not None:
            min_bid_cents = max(payout.fixed_cents + min_margin_cents, 0)
        else:
            min_bid_cents = 0
        check_campaign_economics(payout, min_bid_cents, min_margin_cents, cmd.allow_negative_margin)
        max_attempts = validate.integer(cmd.max_attempts, "max_attempts", MAX_ATTEMPTS)
        bid_ttl_s = validate.integer(cmd.bid_ttl_s, "bid_ttl_s", BID_TTL_S)
        deadline_ms = validate.integer(cmd.rtb_deadline_ms, "rtb_deadline_ms", RTB_DEADLINE_MS)
        market = validate.slug(cmd.market, "market")
        campaign_id = _id_for("cmp", cmd.command_id)

        def decide() -> tuple[list[PPCXAggregate], str]:
            if cmd.command_id and self.app.exists(campaign_id):
                return [], campaign_id
            campaign = Campaign(
                id=campaign_id,
                name=name,
                vertical=vertical,
                payout=payout.to_dict(),
                duplicate_window_days=window_days,
                distribution=cmd.distribution,
                min_bid_cents=min_bid_cents,
                min_margin_cents=min_margin_cents,
                allow_negative_margin=cmd.allow_negative_margin,
                max_attempts=max_attempts,
                bid_ttl_s=bid_ttl_s,
                rtb_deadline_ms=deadline_ms,
                market=market,
                by=cmd.by,
                timestamp=self.ctx.now(),
            )
            return [campaign], campaign_id

        return self.ctx.run(decide)

    def allow_publisher(self, cmd: AllowPublisher) -> None:
        require_id(cmd.publisher_id, "pub", "publisher_id")  # the body's, checked first
        require_subject_id(cmd.campaign_id, "cmp", "campaign_id")

        def decide() -> tuple[list[PPCXAggregate], None]:
            campaign = self.app.load(Campaign, cmd.campaign_id, "campaign_id")
            self.app.load(Publisher, cmd.publisher_id, "publisher_id")
            if campaign.admits(cmd.publisher_id):
                return [], None
            campaign.allow_publisher(cmd.publisher_id, by=cmd.by, timestamp=self.ctx.now())
            return [campaign], None

        self.ctx.run(decide, hot=(cmd.campaign_id,))

    # -- targets ---------------------------------------------------------------------------
    def _destination(self, value: object) -> str:
        if isinstance(value, str) and validate.sip_uri(value):
            return value
        try:
            return parse_e164(value, "destination")
        except ValidationError:
            raise ValidationError(
                "destination must be an E.164 number (+13105550123) or a SIP URI (sip:a@host)",
                field="destination",
            ) from None

    def create_target(self, cmd: CreateTarget) -> str:
        require_id(cmd.buyer_id, "buy", "buyer_id")
        require_id(cmd.campaign_id, "cmp", "campaign_id")
        name = validate.name(cmd.name)
        destination = self._destination(cmd.destination)
        if (cmd.bid is None) == (cmd.rtb_url is None):
            raise ValidationError("give either a standing bid or an rtb_url", field="bid")
        bid_cents = parse_cents(cmd.bid, "bid") if cmd.bid is not None else None
        rtb_url = validate.http_url(cmd.rtb_url, "rtb_url") if cmd.rtb_url is not None else None
        rtb_timeout_ms = validate.integer(cmd.rtb_timeout_ms, "rtb_timeout_ms", RTB_TIMEOUT_MS)
        buffer_s = validate.integer(cmd.buffer_s, "buffer_s", BUFFER_S)
        geo = GeoRule.parse(
            cmd.geo.get("mode", "allow"),
            cmd.geo.get("states", ()),
            cmd.geo.get("zips", ()),
            cmd.geo.get("area_codes", ()),
        )
        if set(cmd.geo) - {"mode", "states", "zips", "area_codes"}:
            raise ValidationError("geo takes mode, states, zips and area_codes", field="geo")
        schedule = (
            WeeklySchedule.parse(cmd.schedule.get("time_zone"), cmd.schedule.get("hours"))
            if cmd.schedule
            else WeeklySchedule()
        )
        caps = Caps.parse(cmd.caps)
        priority = validate.integer(cmd.priority, "priority", PRIORITY)
        weight = validate.integer(cmd.weight, "weight", WEIGHT)
        target_id = _id_for("tgt", cmd.command_id)

        def decide() -> tuple[list[PPCXAggregate], str]:
            if cmd.command_id and self.app.exists(target_id):
                return [], target_id
            campaign = self.app.load(Campaign, cmd.campaign_id, "campaign_id")
            buyer = self.app.load(Buyer, cmd.buyer_id, "buyer_id")
            if buyer.market != campaign.market:
                raise ValidationError(
                    f"buyer is in market {buyer.market!r}, the campaign in {campaign.market!r}",
                    field="campaign_id",
                )
            if bid_cents is not None:
                self._check_bid(campaign, bid_cents)
            target = Target(
                id=target_id,
                buyer_id=cmd.buyer_id,
                campaign_id=cmd.campaign_id,
                name=name,
                destination=destination,
                bid_cents=bid_cents,
                rtb_url=rtb_url,
                rtb_timeout_ms=rtb_timeout_ms,
                buffer_s=buffer_s,
                geo=geo.to_dict(),
                schedule=schedule.to_dict(),
                caps=caps.to_dict(),
                priority=priority,
                weight=weight,
                by=cmd.by,
                timestamp=self.ctx.now(),
            )
            return [target], target_id

        return self.ctx.run(decide)

    def _check_bid(self, campaign: Campaign, bid_cents: int) -> None:
        floor = campaign.floor_cents()
        if bid_cents < floor and not campaign.allow_negative_margin:
            raise ValidationError(
                f"the bid {format_cents(bid_cents)} is below the campaign's floor "
                f"{format_cents(floor)} (the publisher payout plus the minimum margin)",
                field="amount",
            )

    def _owned_target(self, target_id: str, buyer_id: str | None) -> Target:
        require_subject_id(target_id, "tgt", "target_id")
        target = self.app.load(Target, target_id, "target_id")
        if buyer_id is not None and target.buyer_id != buyer_id:
            raise NotFound(f"target_id {target_id!r} does not exist", field="target_id")
        return target

    def set_standing_bid(self, cmd: SetStandingBid) -> None:
        bid_cents = parse_cents(cmd.amount, "amount")

        def decide() -> tuple[list[PPCXAggregate], None]:
            if self.ctx.receipt_for(cmd.command_id) is not None:
                return [], None
            target = self._owned_target(cmd.target_id, cmd.buyer_id)
            if target.is_rtb:
                raise Conflict(
                    "this target bids in real time; it has no standing bid", field="target_id"
                )
            self._check_bid(self.app.load(Campaign, target.campaign_id, "campaign_id"), bid_cents)
            at = self.ctx.now()
            target.set_bid(bid_cents, by=cmd.by, timestamp=at)
            receipt = self.ctx.new_receipt(cmd.command_id, "SetStandingBid", {}, at)
            return [target, *receipt], None

        self.ctx.run(decide, hot=(cmd.target_id,))

    def pause_target(self, cmd: PauseTarget) -> None:
        reason = validate.text(cmd.reason, "reason")

        def decide() -> tuple[list[PPCXAggregate], None]:
            target = self._owned_target(cmd.target_id, cmd.buyer_id)
            if target.paused:
                return [], None
            target.pause(reason=reason, by=cmd.by, timestamp=self.ctx.now())
            return [target], None

        self.ctx.run(decide, hot=(cmd.target_id,))

    def resume_target(self, cmd: ResumeTarget) -> None:
        def decide() -> tuple[list[PPCXAggregate], None]:
            target = self._owned_target(cmd.target_id, cmd.buyer_id)
            if not target.paused:
                return [], None
            target.resume(by=cmd.by, timestamp=self.ctx.now())
            return [target], None

        self.ctx.run(decide, hot=(cmd.target_id,))

    # -- numbers ---------------------------------------------------------------------------
    def _number_context(self, campaign_id: str, publisher_id: str) -> None:
        require_id(campaign_id, "cmp", "campaign_id")
        require_id(publisher_id, "pub", "publisher_id")
        self.app.load(Campaign, campaign_id, "campaign_id")
        self.app.load(Publisher, publisher_id, "publisher_id")

    def provision_number(self, cmd: ProvisionNumber) -> str:
        number = parse_e164(cmd.number, "number")
        source = validate.name(cmd.source, "source")
        medium = validate.name(cmd.medium, "medium") if cmd.medium else None
        keyword = validate.name(cmd.keyword, "keyword") if cmd.keyword else None
        tracking_id = number_id(number)

        def decide() -> tuple[list[PPCXAggregate], str]:
            self._number_context(cmd.campaign_id, cmd.publisher_id)
            if self.app.exists(tracking_id):
                raise Conflict(f"{number} is already provisioned", field="number")
            tracking = TrackingNumber(
                id=tracking_id,
                number=number,
                campaign_id=cmd.campaign_id,
                publisher_id=cmd.publisher_id,
                source=source,
                medium=medium,
                keyword=keyword,
                pool_id=None,
                by=cmd.by,
                timestamp=self.ctx.now(),
            )
            return [tracking], tracking_id

        return self.ctx.run(decide)

    def create_number_pool(self, cmd: CreateNumberPool) -> str:
        name = validate.name(cmd.name)
        if len(cmd.numbers) not in POOL_SIZE:
            raise ValidationError(
                f"a pool holds {POOL_SIZE.minimum} to {POOL_SIZE.maximum} numbers", field="numbers"
            )
        numbers = [parse_e164(n, "numbers") for n in cmd.numbers]
        if len(set(numbers)) != len(numbers):
            raise ValidationError("a pool lists each number once", field="numbers")
        lease_ttl_s = validate.integer(cmd.lease_ttl_s, "lease_ttl_s", LEASE_TTL_S)
        origins = _origins(cmd.allowed_origins)
        pool_id = _id_for("pool", cmd.command_id)

        def decide() -> tuple[list[PPCXAggregate], str]:
            if cmd.command_id and self.app.exists(pool_id):
                return [], pool_id
            self._number_context(cmd.campaign_id, cmd.publisher_id)
            taken = [n for n in numbers if self.app.exists(number_id(n))]
            if taken:
                raise Conflict(f"{taken[0]} is already provisioned", field="numbers")
            at = self.ctx.now()
            pool = NumberPool(
                id=pool_id,
                name=name,
                campaign_id=cmd.campaign_id,
                publisher_id=cmd.publisher_id,
                numbers=numbers,
                lease_ttl_s=lease_ttl_s,
                by=cmd.by,
                timestamp=at,
            )
            if origins:  # a fact of its own, so pools stored before origins existed still load
                pool.allow_origins(origins, by=cmd.by, timestamp=at)
            trackers: list[PPCXAggregate] = [
                TrackingNumber(
                    id=number_id(n),
                    number=n,
                    campaign_id=cmd.campaign_id,
                    publisher_id=cmd.publisher_id,
                    source="dni",
                    medium=None,
                    keyword=None,
                    pool_id=pool_id,
                    by=cmd.by,
                    timestamp=at,
                )
                for n in numbers
            ]
            return [pool, *trackers], pool_id

        return self.ctx.run(decide)

    # -- API keys ----------------------------------------------------------------------------
    def issue_api_key(self, cmd: IssueApiKey) -> str:
        if cmd.role not in ROLES:
            raise ValidationError(f"role must be one of {', '.join(ROLES)}", field="role")
        if (cmd.role in OWNED_ROLES) != (cmd.owner_id is not None):
            raise ValidationError(
                "publisher and buyer keys need an owner_id; other roles take none",
                field="owner_id",
            )
        label = validate.text(cmd.label, "label", KEY_LABEL_LENGTH_MAX)
        if not cmd.key_hash or len(cmd.key_hash) > KEY_HASH_LENGTH_MAX:
            raise ValidationError("key_hash is required", field="key_hash")
        key_id = cmd.key_id or new_id("key")
        require_id(key_id, "key", "key_id")

        def decide() -> tuple[list[PPCXAggregate], str]:
            if cmd.role == "publisher":
                self.app.load(Publisher, cmd.owner_id, "owner_id")
            elif cmd.role == "buyer":
                self.app.load(Buyer, cmd.owner_id, "owner_id")
            key = ApiKey(
                id=key_id,
                role=cmd.role,
                owner_id=cmd.owner_id,
                key_hash=cmd.key_hash,
                label=label,
                by=cmd.by,
                timestamp=self.ctx.now(),
            )
            return [key], key_id

        return self.ctx.run(decide)

    def revoke_api_key(self, cmd: RevokeApiKey) -> None:
        require_subject_id(cmd.key_id, "key", "key_id")

        def decide() -> tuple[list[PPCXAggregate], None]:
            key = self.app.load(ApiKey, cmd.key_id, "key_id")
            if key.revoked:
                return [], None
            key.revoke(by=cmd.by, timestamp=self.ctx.now())
            return [key], None

        self.ctx.run(decide, hot=(cmd.key_id,))

    # -- block list ---------------------------------------------------------------------------
    def block_caller(self, cmd: BlockCaller) -> None:
        reason = validate.text(cmd.reason, "reason")
        if not cmd.caller_hash:
            raise ValidationError("caller_hash is required", field="caller_hash")
        block_id = blocked_caller_id(cmd.caller_hash)

        def decide() -> tuple[list[PPCXAggregate], None]:
            at = self.ctx.now()
            existing = self.app.find(BlockedCaller, block_id)
            if existing is None:
                blocked = BlockedCaller(
                    id=block_id,
                    caller_hash=cmd.caller_hash,
                    reason=reason,
                    by=cmd.by,
                    timestamp=at,
                )
                return [blocked], None
            if existing.blocked:
                return [], None
            existing.reblock(reason=reason, by=cmd.by, timestamp=at)
            return [existing], None

        self.ctx.run(decide, hot=(block_id,))

    def unblock_caller(self, cmd: UnblockCaller) -> None:
        block_id = blocked_caller_id(cmd.caller_hash)

        def decide() -> tuple[list[PPCXAggregate], None]:
            existing = self.app.find(BlockedCaller, block_id)
            if existing is None or not existing.blocked:
                return [], None
            existing.unblock(by=cmd.by, timestamp=self.ctx.now())
            return [existing], None

        self.ctx.run(decide, hot=(block_id,))
