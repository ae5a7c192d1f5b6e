"""Set-up routes (admin keys): publishers, buyers and funds, campaigns, targets, numbers, keys,
and the block list."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Response

from api.auth import Principal, require, services
from api.models import (
    E164,
    ApiKeyExpiryIn,
    ApiKeyExpiryOut,
    ApiKeyIn,
    ApiKeyOut,
    BlockIn,
    BuyerIn,
    CampaignIn,
    CampaignPublisherIn,
    Created,
    CreatedWithKey,
    CreditLimitIn,
    DepositIn,
    DepositOut,
    NumberIn,
    NumberPoolIn,
    Page,
    PublisherIn,
    TargetIn,
)
from api.openapi import problems
from api.params import PAGE_LIMIT_DEFAULT, PageCursor, PageLimit
from api.problems import Problem
from api.services import ApiServices
from domain.api_key import Role
from domain.clock import format_rfc3339
from domain.geo import parse_e164
from domain.money import format_cents
from handlers import parse
from projections.readers import NoProjections

router = APIRouter(tags=["set-up (admin)"])
admin = require()


async def issue_key(
    s: ApiServices,
    role: str,
    owner_id: str | None,
    label: str,
    by: str,
    expires_at: datetime | None = None,
) -> tuple[str, str]:
    issued = s.keys.issue()
    command = parse.issue_api_key(
        role=role,
        owner_id=owner_id,
        label=label,
        key_hash=issued.key_hash,
        key_id=issued.key_id,
        by=by,
        expires_at=expires_at,
    )
    key_id = await s.call(s.setup.issue_api_key, command)
    return key_id, issued.api_key


@router.post("/v1/publishers", status_code=201, response_model=CreatedWithKey)
async def register_publisher(
    body: PublisherIn, who: Principal = Depends(admin), s: ApiServices = Depends(services)
) -> CreatedWithKey:
    """Register a publisher and issue its first API key (shown once)."""
    publisher_id = await s.call(
        s.setup.register_publisher, parse.register_publisher(**body.model_dump(), by=who.by)
    )
    _, api_key = await issue_key(
        s, Role.PUBLISHER, publisher_id, "created with the publisher", who.by
    )
    return CreatedWithKey(id=publisher_id, api_key=api_key)


@router.post("/v1/buyers", status_code=201, response_model=CreatedWithKey)
async def register_buyer(
    body: BuyerIn, who: Principal = Depends(admin), s: ApiServices = Depends(services)
) -> CreatedWithKey:
    """Register a buyer (its prepaid account starts at zero) and issue its first API key."""
    buyer_id = await s.configured(
        s.setup.register_buyer, parse.register_buyer(**body.model_dump(), by=who.by)
    )
    _, api_key = await issue_key(s, Role.BUYER, buyer_id, "created with the buyer", who.by)
    return CreatedWithKey(id=buyer_id, api_key=api_key)


@router.post("/v1/buyers/{buyer_id}/deposits", status_code=201, response_model=DepositOut)
async def deposit(
    buyer_id: str,
    body: DepositIn,
    who: Principal = Depends(require(Role.FINANCE)),
    s: ApiServices = Depends(services),
) -> DepositOut:
    """Record prepaid funds received from a buyer (debit cash, credit the buyer)."""
    result = await s.configured(
        s.setup.deposit, parse.deposit_funds(buyer_id=buyer_id, **body.model_dump(), by=who.by)
    )
    return DepositOut(
        transfer_id=result.transfer_id, available=format_cents(result.available_cents)
    )


@router.put("/v1/buyers/{buyer_id}/credit-limit", status_code=204)
async def credit_limit(
    buyer_id: str,
    body: CreditLimitIn,
    who: Principal = Depends(require(Role.FINANCE)),
    s: ApiServices = Depends(services),
) -> Response:
    """Change how far below zero the buyer's available balance may go."""
    await s.configured(
        s.setup.change_credit_limit,
        parse.change_credit_limit(buyer_id=buyer_id, **body.model_dump(), by=who.by),
    )
    return Response(status_code=204)


@router.post("/v1/campaigns", status_code=201, response_model=Created)
async def create_campaign(
    body: CampaignIn, who: Principal = Depends(admin), s: ApiServices = Depends(services)
) -> Created:
    """Create a campaign. A fixed payout that could exceed a bid is refused unless
    `allow_negative_margin` says otherwise."""
    campaign_id = await s.configured(
        s.setup.create_campaign, parse.create_campaign(**body.model_dump(), by=who.by)
    )
    return Created(id=campaign_id)


@router.post("/v1/campaigns/{campaign_id}/publishers", status_code=204)
async def allow_publisher(
    campaign_id: str,
    body: CampaignPublisherIn,
    who: Principal = Depends(admin),
    s: ApiServices = Depends(services),
) -> Response:
    """Allow a publisher to send pings for the campaign."""
    await s.configured(
        s.setup.allow_publisher,
        parse.allow_publisher(campaign_id=campaign_id, **body.model_dump(), by=who.by),
    )
    return Response(status_code=204)


@router.post("/v1/targets", status_code=201, response_model=Created)
async def create_target(
    body: TargetIn, who: Principal = Depends(admin), s: ApiServices = Depends(services)
) -> Created:
    """Create a buyer's target on a campaign: a standing `bid` or an `rtb_url`, never both."""
    target_id = await s.configured(
        s.setup.create_target, parse.create_target(**body.model_dump(), by=who.by)
    )
    return Created(id=target_id)


@router.post("/v1/api-keys", status_code=201, response_model=ApiKeyOut)
async def create_api_key(
    body: ApiKeyIn, who: Principal = Depends(admin), s: ApiServices = Depends(services)
) -> ApiKeyOut:
    """Issue an API key (shown once; only its keyed hash is stored), optionally expiring at
    `expires_at` (then answered 401 like a revoked key, on every worker)."""
    key_id, api_key = await issue_key(
        s, body.role, body.owner_id, body.label, who.by, body.expires_at
    )
    expires_at = None if body.expires_at is None else format_rfc3339(body.expires_at)
    return ApiKeyOut(
        id=key_id, api_key=api_key, role=body.role, owner_id=body.owner_id, expires_at=expires_at
    )


@router.delete("/v1/api-keys/{key_id}", status_code=204, responses=problems(409))
async def revoke_api_key(
    key_id: str, who: Principal = Depends(admin), s: ApiServices = Depends(services)
) -> Response:
    """Revoke a key: this server refuses it from the next request on, every worker within
    a second."""
    if key_id == who.key_id:
        raise Problem(409, "a key cannot revoke itself")
    await s.call(s.setup.revoke_api_key, parse.revoke_api_key(key_id=key_id, by=who.by))
    s.known_keys.forget(key_id)  # the other workers refuse it within their cache's second
    return Response(status_code=204)


@router.put("/v1/api-keys/{key_id}/expiry", response_model=ApiKeyExpiryOut, responses=problems(409))
async def expire_api_key(
    key_id: str,
    body: ApiKeyExpiryIn,
    who: Principal = Depends(admin),
    s: ApiServices = Depends(services),
) -> ApiKeyExpiryOut:
    """Set when a key stops working (a time already past: now); from then on it is answered
    401 like a revoked key, by this server at once and every worker within a second. A
    revoked or expired key is never brought back (409); expiring it again changes nothing."""
    if key_id == who.key_id:
        raise Problem(409, "a key cannot expire itself")
    command = parse.set_api_key_expiry(key_id=key_id, expires_at=body.expires_at, by=who.by)
    expires_at = await s.call(s.setup.set_api_key_expiry, command)
    s.known_keys.forget(key_id)
    return ApiKeyExpiryOut(id=key_id, expires_at=format_rfc3339(expires_at))


@router.post("/v1/numbers", status_code=201, response_model=Created)
async def provision_number(
    body: NumberIn, who: Principal = Depends(admin), s: ApiServices = Depends(services)
) -> Created:
    """Provision a static tracking number tied to a campaign, publisher and source."""
    number_id = await s.configured(
        s.setup.provision_number, parse.provision_number(**body.model_dump(), by=who.by)
    )
    return Created(id=number_id)


@router.post("/v1/number-pools", status_code=201, response_model=Created)
async def create_number_pool(
    body: NumberPoolIn, who: Principal = Depends(admin), s: ApiServices = Depends(services)
) -> Created:
    """Create a DNI pool: numbers leased to web sessions by `GET /v1/dni/number`, from pages
    on the pool's `allowed_origins` when they are on another domain (CORS)."""
    pool_id = await s.configured(
        s.setup.create_number_pool, parse.create_number_pool(**body.model_dump(), by=who.by)
    )
    return Created(id=pool_id)


@router.post("/v1/blocklist", status_code=204)
async def block(
    body: BlockIn, who: Principal = Depends(admin), s: ApiServices = Depends(services)
) -> Response:
    """Put a caller on the block list (DNC): no auction, and never billed."""
    caller_hash = s.callers(parse_e164(body.number, "number"))
    command = parse.block_caller(caller_hash=caller_hash, reason=body.reason, by=who.by)
    await s.configured(s.setup.block_caller, command)
    return Response(status_code=204)


@router.delete("/v1/blocklist/{number}", status_code=204)
async def unblock(
    number: str = Path(pattern=E164, examples=["+13105550123"]),
    who: Principal = Depends(admin),
    s: ApiServices = Depends(services),
) -> Response:
    """Take a caller off the block list."""
    caller_hash = s.callers(parse_e164(number, "number"))
    await s.configured(
        s.setup.unblock_caller, parse.unblock_caller(caller_hash=caller_hash, by=who.by)
    )
    return Response(status_code=204)


BLOCKLIST_COLUMNS = (
    "entry_id",
    "caller_hash",
    "blocked",
    "reason",
    "blocked_at",
    "blocked_by",
    "changed_at",
    "changed_by",
)
BLOCKLIST_SQL = (
    "SELECT entry_id, caller_hash, blocked, reason, blocked_at, blocked_by, changed_at, "
    "changed_by FROM blocklist WHERE ($status = 'all' OR blocked = ($status = 'blocked')) "
    "AND entry_id > $after ORDER BY entry_id LIMIT $limit"
)


def _blocklist_page(s: ApiServices, status: str, limit: int, cursor: str | None) -> Page:
    after = ""
    if cursor is not None:
        try:
            after = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        except ValueError:
            raise Problem(
                422,
                "the cursor is not one this API issued",
                errors=[{"field": "cursor", "message": "invalid cursor"}],
            ) from None
    params = {"status": status, "after": after, "limit": limit + 1}
    try:
        rows = s.reports.cursor().execute(BLOCKLIST_SQL, params).fetchall()
    except NoProjections:
        raise Problem(503, "no projections yet: run `ppcx project`") from None
    items: list[dict[str, Any]] = []
    for row in rows[:limit]:
        item = dict(zip(BLOCKLIST_COLUMNS, row, strict=True))
        for name in ("blocked_at", "changed_at"):
            if item[name] is not None:
                item[name] = item[name].isoformat().replace("+00:00", "Z")
        items.append(item)
    next_cursor = None
    if len(rows) > limit:
        next_cursor = base64.urlsafe_b64encode(items[-1]["entry_id"].encode()).decode()
    for item in items:
        del item["entry_id"]
    return Page(items=items, next_cursor=next_cursor.rstrip("=") if next_cursor else None)


@router.get("/v1/blocklist", response_model=Page)
async def blocklist(
    status: Literal["blocked", "unblocked", "all"] = "blocked",
    limit: PageLimit = PAGE_LIMIT_DEFAULT,
    cursor: PageCursor = None,
    who: Principal = Depends(require(Role.FINANCE)),
    s: ApiServices = Depends(services),
) -> Page:
    """The block list (DNC), from the projections (a few seconds behind the log): each
    caller by its keyed hash (never the number), whether it is blocked now, the reason, and
    who blocked it when. `status=unblocked|all` shows the ones taken off too."""
    return await s.call(_blocklist_page, s, status, limit, cursor)
