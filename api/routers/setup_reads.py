"""Reading the set-up. One object (`GET /v1/<things>/{id}`) is loaded from the event store:
exact current values, read-your-writes. Lists come from the DuckDB projections (a few seconds
behind the log; 503 until the projector has run once), a page at a time (`limit`, `cursor`).
A path id the key may not see is 404, whether malformed, unknown or another tenant's."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from api import setup_rows
from api.auth import Principal, owned, require, services
from api.models_changes import CampaignOut, PublisherOut, TargetOut
from api.models_reads import (
    ApiKeyPage,
    BuyerPage,
    CampaignPage,
    DisputePage,
    HistoryPage,
    NumberPage,
    NumberPoolPage,
    PublisherPage,
    TargetPage,
)
from api.params import PAGE_LIMIT_DEFAULT, PageCursor, PageLimit
from api.problems import Problem
from api.services import ApiServices
from api.setup_views import campaign_view, publisher_view, target_view
from domain.api_key import OWNED_ROLES, Role
from domain.campaign import Campaign
from domain.clock import format_rfc3339
from domain.errors import NotFound
from domain.limits import ID_LENGTH_MAX
from domain.publisher import Publisher
from domain.redaction import INTERNAL_ROLES
from domain.target import Target
from projections.readers import NoProjections

router = APIRouter(tags=["reading the set-up"])
QueryId = Annotated[str | None, Query(max_length=ID_LENGTH_MAX)]
Row = dict[str, Any]


def _owner(who: Principal) -> str | None:
    """The publisher or buyer a key is restricted to (None: it reads every tenant's)."""
    return who.owner_id if who.role in OWNED_ROLES else None


# -- pages of projected rows -----------------------------------------------------------------
def _bad_cursor() -> Problem:
    return Problem(
        422,
        "the cursor is not one this API issued",
        errors=[{"field": "cursor", "message": "invalid cursor"}],
    )


def _decode(cursor: str | None) -> str:
    """The key a cursor carries; only what `_encode` writes is taken (base64 decoding
    alone skips characters outside its alphabet)."""
    if cursor is None:
        return ""
    try:
        key = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:
        raise _bad_cursor() from None
    if not key or _encode(key) != cursor:
        raise _bad_cursor()
    return key


def _encode(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def _rows(s: ApiServices, sql: str, params: dict[str, Any]) -> list[Row]:
    try:
        cursor = s.reports.cursor().execute(sql, params)
    except NoProjections:
        raise Problem(503, "no projections yet: run `ppcx project`") from None
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _page(
    s: ApiServices,
    sql: str,
    params: dict[str, Any],
    *,
    key: str,
    limit: int,
    cursor: str | None,
    item: Callable[[Row], Row],
) -> dict[str, Any]:
    """`sql` selects rows whose `key` column is after `$after`, ordered by it, `$limit` of
    them: one more than the page is asked for, to know whether another page follows."""
    rows = _rows(s, sql, {**params, "after": _decode(cursor), "limit": limit + 1})
    shown = rows[:limit]
    next_cursor = _encode(str(shown[-1][key])) if len(rows) > limit else None
    return {"items": [item(row) for row in shown], "next_cursor": next_cursor}


# -- publishers ------------------------------------------------------------------------------
PUBLISHERS_SQL = """
SELECT * FROM publishers
WHERE ($owner IS NULL OR publisher_id = $owner) AND publisher_id > $after
ORDER BY publisher_id LIMIT $limit
"""


@router.get("/v1/publishers", response_model=PublisherPage)
async def list_publishers(
    limit: PageLimit = PAGE_LIMIT_DEFAULT,
    cursor: PageCursor = None,
    who: Principal = Depends(require(Role.PUBLISHER)),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """Publishers (admin; a publisher key lists itself), from the projections."""
    params = {"owner": _owner(who)}
    return await s.call(
        _page,
        s,
        PUBLISHERS_SQL,
        params,
        key="publisher_id",
        limit=limit,
        cursor=cursor,
        item=setup_rows.publisher_item,
    )


@router.get("/v1/publishers/{publisher_id}", response_model=PublisherOut)
async def get_publisher(
    publisher_id: str,
    who: Principal = Depends(require(Role.PUBLISHER)),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """A publisher's current values (admin; a publisher key itself), from the event store."""
    owned(who, publisher_id, "publisher_id")
    publisher = await s.call(s.app.load, Publisher, publisher_id, "publisher_id")
    return publisher_view(publisher, internal=who.role in INTERNAL_ROLES)


# -- buyers ------------------------------------------------------------------------------------
BUYERS_SQL = """
SELECT * FROM buyers
WHERE ($owner IS NULL OR buyer_id = $owner) AND buyer_id > $after
ORDER BY buyer_id LIMIT $limit
"""


@router.get("/v1/buyers", response_model=BuyerPage)
async def list_buyers(
    limit: PageLimit = PAGE_LIMIT_DEFAULT,
    cursor: PageCursor = None,
    who: Principal = Depends(require(Role.FINANCE, Role.BUYER)),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """Buyers (admin, finance; a buyer key lists itself), from the projections. Balances:
    `GET /v1/buyers/{id}`."""
    return await s.call(
        _page,
        s,
        BUYERS_SQL,
        {"owner": _owner(who)},
        key="buyer_id",
        limit=limit,
        cursor=cursor,
        item=setup_rows.buyer_item,
    )


# -- campaigns ---------------------------------------------------------------------------------
CAMPAIGNS_SQL = """
SELECT c.*,
       CASE WHEN $publisher IS NULL
            THEN (SELECT list(p.publisher_id ORDER BY p.publisher_id) FROM campaign_publishers p
                  WHERE p.campaign_id = c.campaign_id AND p.allowed)
            ELSE [$publisher] END AS allowed_publishers
FROM campaigns c
WHERE ($publisher IS NULL OR EXISTS (
          SELECT 1 FROM campaign_publishers p
          WHERE p.campaign_id = c.campaign_id AND p.publisher_id = $publisher AND p.allowed))
  AND c.campaign_id > $after
ORDER BY c.campaign_id LIMIT $limit
"""


@router.get("/v1/campaigns", response_model=CampaignPage)
async def list_campaigns(
    limit: PageLimit = PAGE_LIMIT_DEFAULT,
    cursor: PageCursor = None,
    who: Principal = Depends(require(Role.PUBLISHER)),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """Campaigns (admin; a publisher key: the campaigns it may send pings for, whose
    `allowed_publishers` shows only itself), from the projections."""
    return await s.call(
        _page,
        s,
        CAMPAIGNS_SQL,
        {"publisher": _owner(who)},
        key="campaign_id",
        limit=limit,
        cursor=cursor,
        item=setup_rows.campaign_item,
    )


def _campaign_for(s: ApiServices, who: Principal, campaign_id: str) -> Campaign:
    campaign = s.app.load(Campaign, campaign_id, "campaign_id")
    publisher = _owner(who)
    if publisher is not None and not campaign.admits(publisher):
        raise NotFound(f"campaign_id {campaign_id!r} does not exist", field="campaign_id")
    return campaign


@router.get("/v1/campaigns/{campaign_id}", response_model=CampaignOut)
async def get_campaign(
    campaign_id: str,
    who: Principal = Depends(require(Role.PUBLISHER)),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """A campaign's current values (admin; a publisher key: a campaign it may send to, its
    allow list showing only itself), from the event store."""
    view = campaign_view(await s.call(_campaign_for, s, who, campaign_id))
    publisher = _owner(who)
    if publisher is not None:
        view["allowed_publishers"] = [publisher]
    return view


HISTORY_SQL = """
SELECT * FROM setup_changes
WHERE aggregate_id = $id AND position > CAST(coalesce(nullif($after, ''), '0') AS BIGINT)
ORDER BY position LIMIT $limit
"""


def _history(s: ApiServices, aggregate_id: str, limit: int, cursor: str | None) -> dict[str, Any]:
    after = _decode(cursor)
    if after and not (after.isascii() and after.isdigit()):
        raise _bad_cursor()
    return _page(
        s,
        HISTORY_SQL,
        {"id": aggregate_id},
        key="position",
        limit=limit,
        cursor=cursor,
        item=setup_rows.history_item,
    )


@router.get("/v1/campaigns/{campaign_id}/history", response_model=HistoryPage)
async def campaign_history(
    campaign_id: str,
    limit: PageLimit = PAGE_LIMIT_DEFAULT,
    cursor: PageCursor = None,
    who: Principal = Depends(require()),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """Every set-up event of a campaign (admin), oldest first: what it set, when, by whom.
    From the projections (a few seconds behind)."""
    await s.call(s.app.load, Campaign, campaign_id, "campaign_id")
    return await s.call(_history, s, campaign_id, limit, cursor)


# -- targets -----------------------------------------------------------------------------------
TARGETS_SQL = """
SELECT * FROM targets
WHERE ($owner IS NULL OR buyer_id = $owner)
  AND ($campaign_id IS NULL OR campaign_id = $campaign_id)
  AND ($buyer_id IS NULL OR buyer_id = $buyer_id)
  AND ($status IS NULL OR status = $status)
  AND target_id > $after
ORDER BY target_id LIMIT $limit
"""


@router.get("/v1/targets", response_model=TargetPage)
async def list_targets(
    campaign_id: QueryId = None,
    buyer_id: QueryId = None,
    status: Literal["active", "paused", "archived"] | None = None,
    limit: PageLimit = PAGE_LIMIT_DEFAULT,
    cursor: PageCursor = None,
    who: Principal = Depends(require(Role.BUYER)),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """Targets with their current rules (admin; a buyer key: its own), filtered by campaign,
    buyer and status, from the projections."""
    params = {
        "owner": _owner(who),
        "campaign_id": campaign_id,
        "buyer_id": buyer_id,
        "status": status,
    }
    return await s.call(
        _page,
        s,
        TARGETS_SQL,
        params,
        key="target_id",
        limit=limit,
        cursor=cursor,
        item=setup_rows.target_item,
    )


def _target_for(s: ApiServices, who: Principal, target_id: str) -> Target:
    target = s.app.load(Target, target_id, "target_id")
    if who.role == Role.BUYER and target.buyer_id != who.owner_id:
        raise NotFound(f"target_id {target_id!r} does not exist", field="target_id")
    return target


@router.get("/v1/targets/{target_id}", response_model=TargetOut)
async def get_target(
    target_id: str,
    who: Principal = Depends(require(Role.BUYER)),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """A target's current rules (admin; a buyer key: its own), from the event store."""
    return target_view(await s.call(_target_for, s, who, target_id))


@router.get("/v1/targets/{target_id}/history", response_model=HistoryPage)
async def target_history(
    target_id: str,
    limit: PageLimit = PAGE_LIMIT_DEFAULT,
    cursor: PageCursor = None,
    who: Principal = Depends(require(Role.BUYER)),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """Every set-up event of a target (admin; a buyer key: its own), oldest first: what it
    set, when, by whom. From the projections (a few seconds behind)."""
    await s.call(_target_for, s, who, target_id)
    return await s.call(_history, s, target_id, limit, cursor)


# -- numbers and pools -------------------------------------------------------------------------
NUMBERS_SQL = """
SELECT * FROM tracking_numbers
WHERE ($owner IS NULL OR publisher_id = $owner)
  AND ($campaign_id IS NULL OR campaign_id = $campaign_id)
  AND ($pool_id IS NULL OR pool_id = $pool_id)
  AND number > $after
ORDER BY number LIMIT $limit
"""
POOLS_SQL = """
SELECT * FROM number_pools
WHERE ($owner IS NULL OR publisher_id = $owner)
  AND ($campaign_id IS NULL OR campaign_id = $campaign_id)
  AND pool_id > $after
ORDER BY pool_id LIMIT $limit
"""


@router.get("/v1/numbers", response_model=NumberPage)
async def list_numbers(
    campaign_id: QueryId = None,
    pool_id: QueryId = None,
    limit: PageLimit = PAGE_LIMIT_DEFAULT,
    cursor: PageCursor = None,
    who: Principal = Depends(require(Role.PUBLISHER)),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """Tracking numbers, static and in DNI pools (admin; a publisher key: its own), from the
    projections."""
    params = {"owner": _owner(who), "campaign_id": campaign_id, "pool_id": pool_id}
    return await s.call(
        _page,
        s,
        NUMBERS_SQL,
        params,
        key="number",
        limit=limit,
        cursor=cursor,
        item=setup_rows.number_item,
    )


@router.get("/v1/number-pools", response_model=NumberPoolPage)
async def list_number_pools(
    campaign_id: QueryId = None,
    limit: PageLimit = PAGE_LIMIT_DEFAULT,
    cursor: PageCursor = None,
    who: Principal = Depends(require(Role.PUBLISHER)),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """DNI pools (admin; a publisher key: its own), from the projections."""
    params = {"owner": _owner(who), "campaign_id": campaign_id}
    return await s.call(
        _page,
        s,
        POOLS_SQL,
        params,
        key="pool_id",
        limit=limit,
        cursor=cursor,
        item=setup_rows.number_pool_item,
    )


# -- API keys ----------------------------------------------------------------------------------
KEYS_SQL = "SELECT * FROM api_keys WHERE key_id > $after ORDER BY key_id LIMIT $limit"


@router.get("/v1/api-keys", response_model=ApiKeyPage)
async def list_api_keys(
    limit: PageLimit = PAGE_LIMIT_DEFAULT,
    cursor: PageCursor = None,
    who: Principal = Depends(require()),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """API keys (admin), never their secret or hash: role, owner, label, who issued them
    when, `expires_at`, revocation, `status` and `last_used_at` (kept to about a minute).
    From the projections."""
    page = await s.call(_page, s, KEYS_SQL, {}, key="key_id", limit=limit, cursor=cursor, item=dict)
    used = await s.key_usage.last_used([row["key_id"] for row in page["items"]])
    now = s.clock.now()
    page["items"] = [
        setup_rows.api_key_item(row, used.get(row["key_id"]), now) for row in page["items"]
    ]
    return page


EXPIRING_KEYS_SQL = """
SELECT key_id, role, owner_id, label, expires_at FROM api_keys
WHERE revoked_at IS NULL AND expires_at > $now AND expires_at <= $until
  AND ($owner IS NULL OR (owner_id = $owner AND role = $role))
ORDER BY expires_at, key_id LIMIT $limit
"""
EXPIRING_KEYS_SHOWN_MAX = 20


async def expiring_api_keys(who: Principal, s: ApiServices) -> list[dict[str, Any]]:
    """The usable keys expiring within the warning days (`PPCX_KEY_EXPIRY_WARNING_DAYS`),
    soonest first, at most `EXPIRING_KEYS_SHOWN_MAX`: every key for an admin, its own for a
    publisher or a buyer, none for anyone else (or with no projections yet). The portal's
    banner; from the projections."""
    days = s.config.key_expiry_warning_days
    if days <= 0 or (who.role != Role.ADMIN and who.role not in OWNED_ROLES):
        return []
    now = s.clock.now()
    params = {
        "now": now,
        "until": now + timedelta(days=days),
        "owner": _owner(who),
        "role": who.role.value,
        "limit": EXPIRING_KEYS_SHOWN_MAX,
    }
    try:
        rows = await s.call(_rows, s, EXPIRING_KEYS_SQL, params)
    except Problem:  # no projections yet
        return []
    return [{**row, "expires_at": format_rfc3339(row["expires_at"])} for row in rows]


# -- disputes ----------------------------------------------------------------------------------
DISPUTES_SQL = """
SELECT d.*, c.buyer_id FROM disputes d LEFT JOIN calls c USING (call_id)
WHERE ($owner IS NULL OR c.buyer_id = $owner)
  AND ($status IS NULL OR d.status = $status)
  AND d.dispute_id > $after
ORDER BY d.dispute_id LIMIT $limit
"""


@router.get("/v1/disputes", response_model=DisputePage)
async def list_disputes(
    status: Literal["open", "accepted", "rejected"] | None = None,
    limit: PageLimit = PAGE_LIMIT_DEFAULT,
    cursor: PageCursor = None,
    who: Principal = Depends(require(Role.FINANCE, Role.BUYER)),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """The dispute queue (finance, admin; a buyer key: disputes of calls billed to it),
    filtered by status, from the projections."""
    params = {"owner": _owner(who), "status": status}
    return await s.call(
        _page,
        s,
        DISPUTES_SQL,
        params,
        key="dispute_id",
        limit=limit,
        cursor=cursor,
        item=setup_rows.dispute_item,
    )
