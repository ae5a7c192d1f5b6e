"""Changing the set-up: PATCH a target (its buyer, or an admin), a campaign, a buyer or a
publisher; archive a target (DELETE); stop a publisher sending to a campaign. Each answers the
object's current values (the same model as its GET) after the change is recorded and this
process's exchange state is brought up to it — the next ping, on any worker, obeys it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response

from api.auth import Principal, require, services
from api.models_changes import (
    ArchiveIn,
    BuyerOut,
    BuyerPatch,
    CampaignOut,
    CampaignPatch,
    PublisherOut,
    PublisherPatch,
    TargetOut,
    TargetPatch,
)
from api.services import ApiServices
from api.setup_views import buyer_view, campaign_view, publisher_view, target_view
from domain.api_key import Role
from handlers import parse, parse_changes

router = APIRouter(tags=["changing the set-up"])
admin = require()
buyer_or_admin = require(Role.BUYER)


def _own(who: Principal) -> str | None:
    """The buyer a command is restricted to (None: an admin acts for any buyer)."""
    return who.owner_id if who.role == Role.BUYER else None


@router.patch("/v1/targets/{target_id}", response_model=TargetOut)
async def change_target(
    target_id: str,
    body: TargetPatch,
    who: Principal = Depends(buyer_or_admin),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """Change a target's rules (its buyer, or an admin): the fields given, checked as the
    whole target they leave; 422 names every bad field and changes nothing. `status`
    pauses or resumes. An archived target answers 409 `archived`."""
    command = parse_changes.change_target(
        target_id=target_id, **body.given(), by=who.by, buyer_id=_own(who)
    )
    return target_view(await s.configured(s.setup.change_target, command))


@router.delete("/v1/targets/{target_id}", response_model=TargetOut)
async def archive_target(
    target_id: str,
    body: ArchiveIn | None = None,
    who: Principal = Depends(buyer_or_admin),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """Archive a target: no new calls (not even a failover); calls in flight finish under
    the rules they started with; its history stays readable. Again: 200, unchanged."""
    command = parse_changes.archive_target(
        target_id=target_id,
        **(body.model_dump() if body else {}),
        by=who.by,
        buyer_id=_own(who),
    )
    return target_view(await s.configured(s.setup.archive_target, command))


@router.patch("/v1/campaigns/{campaign_id}", response_model=CampaignOut)
async def change_campaign(
    campaign_id: str,
    body: CampaignPatch,
    who: Principal = Depends(admin),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """Change a campaign's payout rule, distribution, floor, duplicate window, deadlines;
    auctions decided before keep the rules they used (replay checks them per version)."""
    command = parse_changes.change_campaign(
        campaign_id=campaign_id, **body.model_dump(exclude_none=True), by=who.by
    )
    return campaign_view(await s.configured(s.setup.change_campaign, command))


@router.delete("/v1/campaigns/{campaign_id}/publishers/{publisher_id}", status_code=204)
async def disallow_publisher(
    campaign_id: str,
    publisher_id: str,
    who: Principal = Depends(admin),
    s: ApiServices = Depends(services),
) -> Response:
    """Stop a publisher sending pings for a campaign (its next ping is 404)."""
    command = parse.disallow_publisher(
        campaign_id=campaign_id, publisher_id=publisher_id, by=who.by
    )
    await s.configured(s.setup.disallow_publisher, command)
    return Response(status_code=204)


@router.patch("/v1/buyers/{buyer_id}", response_model=BuyerOut)
async def change_buyer(
    buyer_id: str,
    body: BuyerPatch,
    who: Principal = Depends(require(Role.FINANCE)),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """Change a buyer's name, time zone (its caps count in its local hours, days and
    months) and credit limit (admin, finance)."""
    profile, limit = parse_changes.change_buyer(
        buyer_id=buyer_id, **body.model_dump(exclude_none=True), by=who.by
    )
    return buyer_view(await s.configured(s.setup.change_buyer, profile, limit))


@router.patch("/v1/publishers/{publisher_id}", response_model=PublisherOut)
async def change_publisher(
    publisher_id: str,
    body: PublisherPatch,
    who: Principal = Depends(admin),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """Rename a publisher, suspend it (`suspended: true`, a `reason`: its pings, RTB pings
    and posts are refused, 403 `suspended`) or reinstate it; set its ping limit
    (`ping_rate_per_s`, `ping_burst`: over it, 429 `rate-limited`), obeyed by its next ping."""
    given = body.model_dump(exclude_none=True)
    rename, status = parse_changes.change_publisher(publisher_id=publisher_id, **given, by=who.by)
    ping_limit = parse_changes.change_ping_limit(publisher_id=publisher_id, **given, by=who.by)
    return publisher_view(
        await s.configured(s.setup.change_publisher, publisher_id, rename, status, ping_limit),
        internal=True,
    )


@router.post("/v1/publishers/{publisher_id}/review/clear", response_model=PublisherOut)
async def clear_review(
    publisher_id: str, who: Principal = Depends(admin), s: ApiServices = Depends(services)
) -> dict[str, Any]:
    """Clear the anomaly watch's review flags of a publisher (admin): it was reviewed; the
    watch may flag it again on a campaign whose rates stay far above the campaign's."""
    return publisher_view(
        await s.configured(s.setup.clear_review, publisher_id, who.by), internal=True
    )
