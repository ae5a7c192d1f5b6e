"""Set-up commands: publishers, buyers and their funds, campaigns, targets, numbers, keys and
the block list. Every check runs before an event is triggered; bad input records nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from domain.api_key import ApiKey, check_expiry
from domain.base import PPCXAggregate
from domain.blocklist import BlockedCaller, blocked_caller_id
from domain.buyer import Buyer
from domain.campaign import Campaign
from domain.commands import (
    AllowPublisher,
    ArchiveTarget,
    BlockCaller,
    ChangeBuyerProfile,
    ChangeCampaign,
    ChangeCreditLimit,
    ChangeTarget,
    CreateCampaign,
    CreateNumberPool,
    CreateTarget,
    DepositFunds,
    DisallowPublisher,
    ExpireUnusedApiKey,
    IssueApiKey,
    PauseTarget,
    ProvisionNumber,
    RegisterBuyer,
    RegisterPublisher,
    ReinstatePublisher,
    RenamePublisher,
    ResumeTarget,
    RevokeApiKey,
    SetApiKeyExpiry,
    SetPingLimit,
    SetStandingBid,
    SuspendPublisher,
    UnblockCaller,
    WarnApiKeyExpiry,
)
from domain.errors import ArchivedError, Conflict, NotFound, ValidationError
from domain.ids import derived_id, new_id, require_command_id, require_subject_id
from domain.invariant import present
from domain.money import format_cents
from domain.numbers import NumberPool, TrackingNumber, number_id
from domain.publisher import Publisher
from domain.setup_changes import campaign_rule_changes, target_rule_changes
from domain.target import Target
from handlers.results import DepositReceipt
from handlers.unit_of_work import HandlerContext


def _id_for(prefix: str, command_id: str | None) -> str:
    if command_id is None:
        return new_id(prefix)
    return derived_id(prefix, require_command_id(command_id))


class SetupHandlers:
    def __init__(self, ctx: HandlerContext) -> None:
        self.ctx = ctx
        self.app = ctx.app

    # -- publishers and buyers -------------------------------------------------------------
    def register_publisher(self, cmd: RegisterPublisher) -> str:
        publisher_id = _id_for("pub", cmd.command_id)

        def change() -> tuple[list[PPCXAggregate], str]:
            if cmd.command_id and self.app.exists(publisher_id):
                return [], publisher_id
            publisher = Publisher(
                id=publisher_id, name=cmd.name, by=cmd.by, timestamp=self.ctx.now()
            )
            return [publisher], publisher_id

        return self.ctx.run(change)

    def rename_publisher(self, cmd: RenamePublisher) -> None:
        def change() -> tuple[list[PPCXAggregate], None]:
            publisher = self.app.load(Publisher, cmd.publisher_id, "publisher_id")
            if publisher.name == cmd.name:
                return [], None
            publisher.rename(cmd.name, by=cmd.by, timestamp=self.ctx.now())
            return [publisher], None

        self.ctx.run(change, hot=(cmd.publisher_id,))

    def change_publisher(
        self,
        publisher_id: str,
        rename: RenamePublisher | None,
        status: SuspendPublisher | ReinstatePublisher | None,
        ping_limit: SetPingLimit | None = None,
    ) -> Publisher:
        """Rename, suspend or reinstate a publisher, set its ping limit, in one save (each
        only when it changes something) → the publisher after."""

        def change() -> tuple[list[PPCXAggregate], Publisher]:
            publisher = self.app.load(Publisher, publisher_id, "publisher_id")
            at = self.ctx.now()
            if rename is not None and rename.name != publisher.name:
                publisher.rename(rename.name, by=rename.by, timestamp=at)
            if isinstance(status, SuspendPublisher) and not publisher.suspended:
                publisher.suspend(reason=status.reason, by=status.by, timestamp=at)
            elif isinstance(status, ReinstatePublisher) and publisher.suspended:
                publisher.reinstate(by=status.by, timestamp=at)
            if ping_limit is not None:
                rate_per_s = ping_limit.rate_per_s or publisher.ping_rate_per_s
                burst = ping_limit.burst or publisher.ping_burst
                if (rate_per_s, burst) != (publisher.ping_rate_per_s, publisher.ping_burst):
                    publisher.set_ping_limit(rate_per_s, burst, by=ping_limit.by, timestamp=at)
            return ([publisher] if publisher.pending_events else []), publisher

        return self.ctx.run(change, hot=(publisher_id,))

    def clear_review(self, publisher_id: str, by: str) -> Publisher:
        """An admin reviewed a publisher the anomaly watch flagged: every flag is cleared, so
        the watch may flag it again (nothing is recorded when none is set) → the publisher."""
        require_subject_id(publisher_id, "pub", "publisher_id")

        def change() -> tuple[list[PPCXAggregate], Publisher]:
            publisher = self.app.load(Publisher, publisher_id, "publisher_id")
            if not publisher.flagged_for_review:
                return [], publisher
            publisher.clear_review(
                campaign_ids=list(publisher.flagged_for_review), by=by, timestamp=self.ctx.now()
            )
            return [publisher], publisher

        return self.ctx.run(change, hot=(publisher_id,))

    def register_buyer(self, cmd: RegisterBuyer) -> str:
        buyer_id = _id_for("buy", cmd.command_id)

        def change() -> tuple[list[PPCXAggregate], str]:
            if cmd.command_id and self.app.exists(buyer_id):
                return [], buyer_id
            buyer = Buyer(
                id=buyer_id,
                name=cmd.name,
                time_zone=cmd.time_zone,
                credit_limit_cents=cmd.credit_limit_cents,
                market=cmd.market,
                by=cmd.by,
                timestamp=self.ctx.now(),
            )
            return [buyer], buyer_id

        return self.ctx.run(change)

    def deposit(self, cmd: DepositFunds) -> DepositReceipt:
        """Record prepaid funds → the transfer and the funds available after it."""
        transfer_id = _id_for("tx", cmd.command_id)

        def change() -> tuple[list[PPCXAggregate], DepositReceipt]:
            receipt = self.ctx.receipt_for(cmd.command_id)
            if receipt is not None:
                return [], DepositReceipt.from_json(receipt.result)
            buyer = self.app.load(Buyer, cmd.buyer_id, "buyer_id")
            at = self.ctx.now()
            buyer.deposit(transfer_id, cmd.amount_cents, cmd.reference, cmd.by, at)
            result = DepositReceipt(transfer_id, buyer.available_cents)
            stored = self.ctx.new_receipt(cmd.command_id, "DepositFunds", result.to_json(), at)
            return [buyer, *stored], result

        return self.ctx.run(change, hot=(cmd.buyer_id,))

    def change_credit_limit(self, cmd: ChangeCreditLimit) -> None:
        def change() -> tuple[list[PPCXAggregate], None]:
            buyer = self.app.load(Buyer, cmd.buyer_id, "buyer_id")
            if buyer.credit_limit_cents == cmd.credit_limit_cents:
                return [], None
            buyer.change_credit_limit(cmd.credit_limit_cents, cmd.by, self.ctx.now())
            return [buyer], None

        self.ctx.run(change, hot=(cmd.buyer_id,))

    def change_buyer(
        self, profile: ChangeBuyerProfile, limit: ChangeCreditLimit | None = None
    ) -> Buyer:
        """A buyer's name and time zone, and its credit limit, in one save (each only when it
        changes something) → the buyer after."""

        def change() -> tuple[list[PPCXAggregate], Buyer]:
            buyer = self.app.load(Buyer, profile.buyer_id, "buyer_id")
            at = self.ctx.now()
            wanted = {"name": profile.name, "time_zone": profile.time_zone}
            changed = {k: v for k, v in wanted.items() if v is not None and getattr(buyer, k) != v}
            if changed:
                buyer.change_profile(changed, profile.by, at)
            if limit is not None and limit.credit_limit_cents != buyer.credit_limit_cents:
                buyer.change_credit_limit(limit.credit_limit_cents, limit.by, at)
            return ([buyer] if buyer.pending_events else []), buyer

        return self.ctx.run(change, hot=(profile.buyer_id,))

    # -- campaigns -------------------------------------------------------------------------
    def create_campaign(self, cmd: CreateCampaign) -> str:
        campaign_id = _id_for("cmp", cmd.command_id)

        def change() -> tuple[list[PPCXAggregate], str]:
            if cmd.command_id and self.app.exists(campaign_id):
                return [], campaign_id
            campaign = Campaign(
                id=campaign_id,
                name=cmd.name,
                vertical=cmd.vertical,
                payout=cmd.payout.to_dict(),
                duplicate_window_days=cmd.duplicate_window_days,
                distribution=cmd.distribution,
                min_bid_cents=cmd.min_bid_cents,
                min_margin_cents=cmd.min_margin_cents,
                allow_negative_margin=cmd.allow_negative_margin,
                max_attempts=cmd.max_attempts,
                bid_ttl_s=cmd.bid_ttl_s,
                rtb_deadline_ms=cmd.rtb_deadline_ms,
                market=cmd.market,
                by=cmd.by,
                timestamp=self.ctx.now(),
            )
            # rules newer than `Campaign.Created`: one save with it (the traffic-quality
            # rules only when they differ from their defaults)
            newer: dict[str, Any] = {
                name: getattr(cmd, name)
                for name in ("buzzer_margin_s", "short_call_s", "bill_buzzer_beaters")
                if getattr(cmd, name) != getattr(Campaign, name)
            }
            ivr = None if cmd.ivr is None else cmd.ivr.stored()
            if ivr is not None:
                newer["ivr"] = ivr
            if cmd.recording is not None:
                newer["recording"] = cmd.recording.to_dict()
            newer |= _screening_rules(cmd)
            if cmd.keywords is not None:
                newer["keywords"] = cmd.keywords
            if newer:
                campaign.change_rules(changes=newer, by=cmd.by, timestamp=self.ctx.now())
            return [campaign], campaign_id

        return self.ctx.run(change)

    def change_campaign(self, cmd: ChangeCampaign) -> Campaign:
        """New rules for a campaign (its economics checked as a whole); the next auction on
        every worker uses them, auctions already decided keep theirs. → the campaign after."""

        def change() -> tuple[list[PPCXAggregate], Campaign]:
            campaign = self.app.load(Campaign, cmd.campaign_id, "campaign_id")
            changed = campaign_rule_changes(campaign, cmd.changes)
            if not changed:
                return [], campaign
            campaign.change_rules(changes=changed, by=cmd.by, timestamp=self.ctx.now())
            return [campaign], campaign

        return self.ctx.run(change, hot=(cmd.campaign_id,))

    def allow_publisher(self, cmd: AllowPublisher) -> None:
        def change() -> tuple[list[PPCXAggregate], None]:
            campaign = self.app.load(Campaign, cmd.campaign_id, "campaign_id")
            self.app.load(Publisher, cmd.publisher_id, "publisher_id")
            if campaign.admits(cmd.publisher_id):
                return [], None
            campaign.allow_publisher(cmd.publisher_id, by=cmd.by, timestamp=self.ctx.now())
            return [campaign], None

        self.ctx.run(change, hot=(cmd.campaign_id,))

    def disallow_publisher(self, cmd: DisallowPublisher) -> None:
        def change() -> tuple[list[PPCXAggregate], None]:
            campaign = self.app.load(Campaign, cmd.campaign_id, "campaign_id")
            self.app.load(Publisher, cmd.publisher_id, "publisher_id")
            if not campaign.admits(cmd.publisher_id):
                return [], None
            campaign.disallow_publisher(cmd.publisher_id, by=cmd.by, timestamp=self.ctx.now())
            return [campaign], None

        self.ctx.run(change, hot=(cmd.campaign_id,))

    # -- targets ---------------------------------------------------------------------------
    def create_target(self, cmd: CreateTarget) -> str:
        target_id = _id_for("tgt", cmd.command_id)

        def change() -> tuple[list[PPCXAggregate], str]:
            if cmd.command_id and self.app.exists(target_id):
                return [], target_id
            campaign = self.app.load(Campaign, cmd.campaign_id, "campaign_id")
            buyer = self.app.load(Buyer, cmd.buyer_id, "buyer_id")
            if buyer.market != campaign.market:
                raise ValidationError(
                    f"buyer is in market {buyer.market!r}, the campaign in {campaign.market!r}",
                    field="campaign_id",
                )
            if cmd.bid_cents is not None:
                self._check_bid(campaign, cmd.bid_cents)
            target = Target(
                id=target_id,
                buyer_id=cmd.buyer_id,
                campaign_id=cmd.campaign_id,
                name=cmd.name,
                destination=cmd.destination,
                bid_cents=cmd.bid_cents,
                rtb_url=cmd.rtb_url,
                rtb_timeout_ms=cmd.rtb_timeout_ms,
                buffer_s=cmd.buffer_s,
                geo=cmd.geo.to_dict(),
                schedule=cmd.schedule.to_dict(),
                caps=cmd.caps.to_dict(),
                priority=cmd.priority,
                weight=cmd.weight,
                by=cmd.by,
                timestamp=self.ctx.now(),
            )
            newer: dict[str, Any] = {}  # rules newer than `Target.Created`: one save with it
            if cmd.requires_consent:
                newer["requires_consent"] = True
            if cmd.requires_tags:
                newer["requires_tags"] = dict(cmd.requires_tags)
            if cmd.whisper:
                newer["whisper"] = cmd.whisper
            if newer:
                target.change_rules(changes=newer, by=cmd.by, timestamp=self.ctx.now())
            return [target], target_id

        return self.ctx.run(change)

    def _check_bid(self, campaign: Campaign, bid_cents: int, field: str = "amount") -> None:
        floor = campaign.floor_cents()
        if bid_cents < floor and not campaign.allow_negative_margin:
            raise ValidationError(
                f"the bid {format_cents(bid_cents)} is below the campaign's floor "
                f"{format_cents(floor)} (the publisher payout plus the minimum margin)",
                field=field,
            )

    def _owned_target(
        self, target_id: str, buyer_id: str | None, *, archived_ok: bool = False
    ) -> Target:
        """The target (NotFound when it is another buyer's); ArchivedError when it is archived
        and the command would change it."""
        require_subject_id(target_id, "tgt", "target_id")
        target = self.app.load(Target, target_id, "target_id")
        if buyer_id is not None and target.buyer_id != buyer_id:
            raise NotFound(f"target_id {target_id!r} does not exist", field="target_id")
        if target.archived and not archived_ok:
            raise ArchivedError(f"target {target_id} is archived", field="target_id")
        return target

    def load_target(self, target_id: str, buyer_id: str | None) -> Target:
        """A target as its owner (or an admin) reads it, archived or not."""
        return self._owned_target(target_id, buyer_id, archived_ok=True)

    def change_target(self, cmd: ChangeTarget) -> Target:
        """New rules for a target, checked as the whole target they leave (a standing bid
        against the campaign's floor); nothing is recorded when nothing changes. The target
        as it is after → the caller's answer."""

        def change() -> tuple[list[PPCXAggregate], Target]:
            target = self._owned_target(cmd.target_id, cmd.buyer_id)
            changed = target_rule_changes(target, cmd.changes)
            if changed.get("bid_cents") is not None:
                campaign = self.app.load(Campaign, target.campaign_id, "campaign_id")
                self._check_bid(campaign, changed["bid_cents"], field="bid")
            at = self.ctx.now()
            if changed:
                target.change_rules(changes=changed, by=cmd.by, timestamp=at)
            paused = cmd.changes.paused
            if paused is True and not target.paused:
                target.pause(reason="", by=cmd.by, timestamp=at)
            elif paused is False and target.paused:
                target.resume(by=cmd.by, timestamp=at)
            return ([target] if target.pending_events else []), target

        return self.ctx.run(change, hot=(cmd.target_id,))

    def archive_target(self, cmd: ArchiveTarget) -> Target:
        """Archive a target: no new auctions, no failover to it; calls in flight finish under
        the rules they started with. Archiving an archived target changes nothing."""

        def change() -> tuple[list[PPCXAggregate], Target]:
            target = self._owned_target(cmd.target_id, cmd.buyer_id, archived_ok=True)
            if target.archived:
                return [], target
            target.archive(reason=cmd.reason, by=cmd.by, timestamp=self.ctx.now())
            return [target], target

        return self.ctx.run(change, hot=(cmd.target_id,))

    def set_standing_bid(self, cmd: SetStandingBid) -> None:
        def change() -> tuple[list[PPCXAggregate], None]:
            if self.ctx.receipt_for(cmd.command_id) is not None:
                return [], None
            target = self._owned_target(cmd.target_id, cmd.buyer_id)
            if target.is_rtb:
                raise Conflict(
                    "this target bids in real time; it has no standing bid", field="target_id"
                )
            campaign = self.app.load(Campaign, target.campaign_id, "campaign_id")
            self._check_bid(campaign, cmd.amount_cents)
            at = self.ctx.now()
            target.set_bid(cmd.amount_cents, by=cmd.by, timestamp=at)
            receipt = self.ctx.new_receipt(cmd.command_id, "SetStandingBid", {}, at)
            return [target, *receipt], None

        self.ctx.run(change, hot=(cmd.target_id,))

    def pause_target(self, cmd: PauseTarget) -> None:
        def change() -> tuple[list[PPCXAggregate], None]:
            target = self._owned_target(cmd.target_id, cmd.buyer_id)
            if target.paused:
                return [], None
            target.pause(reason=cmd.reason, by=cmd.by, timestamp=self.ctx.now())
            return [target], None

        self.ctx.run(change, hot=(cmd.target_id,))

    def resume_target(self, cmd: ResumeTarget) -> None:
        def change() -> tuple[list[PPCXAggregate], None]:
            target = self._owned_target(cmd.target_id, cmd.buyer_id)
            if not target.paused:
                return [], None
            target.resume(by=cmd.by, timestamp=self.ctx.now())
            return [target], None

        self.ctx.run(change, hot=(cmd.target_id,))

    # -- numbers ---------------------------------------------------------------------------
    def _number_context(self, campaign_id: str, publisher_id: str) -> None:
        self.app.load(Campaign, campaign_id, "campaign_id")
        self.app.load(Publisher, publisher_id, "publisher_id")

    def provision_number(self, cmd: ProvisionNumber) -> str:
        number = cmd.number
        tracking_id = number_id(number)

        def change() -> tuple[list[PPCXAggregate], str]:
            self._number_context(cmd.campaign_id, cmd.publisher_id)
            if self.app.exists(tracking_id):
                raise Conflict(f"{number} is already provisioned", field="number")
            tracking = TrackingNumber(
                id=tracking_id,
                number=number,
                campaign_id=cmd.campaign_id,
                publisher_id=cmd.publisher_id,
                source=cmd.source,
                medium=cmd.medium,
                keyword=cmd.keyword,
                pool_id=None,
                by=cmd.by,
                timestamp=self.ctx.now(),
            )
            return [tracking], tracking_id

        return self.ctx.run(change)

    def create_number_pool(self, cmd: CreateNumberPool) -> str:
        numbers = list(cmd.numbers)
        pool_id = _id_for("pool", cmd.command_id)

        def change() -> tuple[list[PPCXAggregate], str]:
            if cmd.command_id and self.app.exists(pool_id):
                return [], pool_id
            self._number_context(cmd.campaign_id, cmd.publisher_id)
            taken = [n for n in numbers if self.app.exists(number_id(n))]
            if taken:
                raise Conflict(f"{taken[0]} is already provisioned", field="numbers")
            at = self.ctx.now()
            pool = NumberPool(
                id=pool_id,
                name=cmd.name,
                campaign_id=cmd.campaign_id,
                publisher_id=cmd.publisher_id,
                numbers=numbers,
                lease_ttl_s=cmd.lease_ttl_s,
                by=cmd.by,
                timestamp=at,
            )
            if cmd.allowed_origins:  # a fact of its own: pools stored before origins still load
                pool.allow_origins(list(cmd.allowed_origins), by=cmd.by, timestamp=at)
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

        return self.ctx.run(change)

    # -- API keys ----------------------------------------------------------------------------
    def issue_api_key(self, cmd: IssueApiKey) -> str:
        key_id = cmd.key_id

        def change() -> tuple[list[PPCXAggregate], str]:
            at = self.ctx.now()
            expires_at = None if cmd.expires_at is None else check_expiry(cmd.expires_at, at)
            if cmd.role == "publisher":
                self.app.load(Publisher, cmd.owner_id, "owner_id")
            elif cmd.role == "buyer":
                self.app.load(Buyer, cmd.owner_id, "owner_id")
            key = ApiKey(
                id=key_id,
                role=cmd.role,
                owner_id=cmd.owner_id,
                key_hash=cmd.key_hash,
                label=cmd.label,
                by=cmd.by,
                timestamp=at,
            )
            if expires_at is not None:
                key.set_expiry(expires_at=expires_at, by=cmd.by, timestamp=at)
            return [key], key_id

        return self.ctx.run(change)

    def revoke_api_key(self, cmd: RevokeApiKey) -> None:
        def change() -> tuple[list[PPCXAggregate], None]:
            key = self.app.load(ApiKey, cmd.key_id, "key_id")
            if key.revoked:
                return [], None
            key.revoke(by=cmd.by, timestamp=self.ctx.now())
            return [key], None

        self.ctx.run(change, hot=(cmd.key_id,))

    def set_api_key_expiry(self, cmd: SetApiKeyExpiry) -> datetime:
        """Move a key's expiry: a time already past means now (the key stops at once); at
        most `KEY_EXPIRY_DAYS_MAX` days ahead. A revoked or expired key is never brought back:
        a later expiry for it is a Conflict, an earlier one changes nothing."""

        def change() -> tuple[list[PPCXAggregate], datetime]:
            at = self.ctx.now()
            key = self.app.load(ApiKey, cmd.key_id, "key_id")
            expires_at = at if cmd.expires_at <= at else check_expiry(cmd.expires_at, at)
            if key.revoked:
                raise Conflict("the key is revoked: issue a new one", field="key_id")
            if key.expires_at is not None and key.expires_at <= at:
                if expires_at > at:
                    raise Conflict("the key has expired: issue a new one", field="key_id")
                return [], key.expires_at
            key.set_expiry(expires_at=expires_at, by=cmd.by, timestamp=at)
            return [key], expires_at

        return self.ctx.run(change, hot=(cmd.key_id,))

    def warn_api_key_expiry(self, cmd: WarnApiKeyExpiry) -> bool:
        """Record that the key's owner is warned of its expiry → whether it was now (not: the
        key is unusable, not expiring within the window, or already warned of this expiry)."""

        def change() -> tuple[list[PPCXAggregate], bool]:
            at = self.ctx.now()
            key = self.app.load(ApiKey, cmd.key_id, "key_id")
            if not key.needs_warning(at, cmd.warning_days):
                return [], False
            expires_at = present(key.expires_at, "a key warned of expires")
            key.warn_expiry(
                expires_at=expires_at, warning_days=cmd.warning_days, by=cmd.by, timestamp=at
            )
            return [key], True

        return self.ctx.run(change, hot=(cmd.key_id,))

    def expire_unused_api_key(self, cmd: ExpireUnusedApiKey) -> bool:
        """Expire a usable key unused since `last_used_at` for `unused_days` or more, now →
        whether it was expired now."""

        def change() -> tuple[list[PPCXAggregate], bool]:
            at = self.ctx.now()
            key = self.app.load(ApiKey, cmd.key_id, "key_id")
            if not key.usable_at(at) or at - cmd.last_used_at < timedelta(days=cmd.unused_days):
                return [], False
            key.expire_unused(
                expires_at=at,
                last_used_at=cmd.last_used_at,
                reason=f"unused for {cmd.unused_days} days or more",
                by=cmd.by,
                timestamp=at,
            )
            return [key], True

        return self.ctx.run(change, hot=(cmd.key_id,))

    # -- block list ---------------------------------------------------------------------------
    def block_caller(self, cmd: BlockCaller) -> None:
        block_id = blocked_caller_id(cmd.caller_hash)

        def change() -> tuple[list[PPCXAggregate], None]:
            at = self.ctx.now()
            existing = self.app.find(BlockedCaller, block_id)
            if existing is None:
                blocked = BlockedCaller(
                    id=block_id,
                    caller_hash=cmd.caller_hash,
                    reason=cmd.reason,
                    by=cmd.by,
                    timestamp=at,
                )
                return [blocked], None
            if existing.blocked:
                return [], None
            existing.reblock(reason=cmd.reason, by=cmd.by, timestamp=at)
            return [existing], None

        self.ctx.run(change, hot=(block_id,))

    def unblock_caller(self, cmd: UnblockCaller) -> None:
        block_id = blocked_caller_id(cmd.caller_hash)

        def change() -> tuple[list[PPCXAggregate], None]:
            existing = self.app.find(BlockedCaller, block_id)
            if existing is None or not existing.blocked:
                return [], None
            existing.unblock(by=cmd.by, timestamp=self.ctx.now())
            return [existing], None

        self.ctx.run(change, hot=(block_id,))


def _screening_rules(cmd: CreateCampaign) -> dict[str, Any]:
    """The screening rules a new campaign sets other than the defaults (a RulesChanged's
    `changes`)."""
    changes: dict[str, Any] = {}
    if cmd.exclude_toll_free:
        changes["exclude_toll_free"] = True
    if cmd.exclude_premium_rate:
        changes["exclude_premium_rate"] = True
    if cmd.velocity is not None:
        changes["velocity"] = cmd.velocity.to_dict()
    return changes
