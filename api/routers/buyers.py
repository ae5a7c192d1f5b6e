"""Buyers: standing bids, pause and resume, conversions and disputes, and their own account."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from api.auth import Principal, owned, require, services
from api.models import BidIn, ConversionIn, DisputeIn, DisputeOut, PauseIn
from api.models_changes import BuyerOut
from api.openapi import problems
from api.services import ApiServices
from api.setup_views import buyer_view
from domain.api_key import Role
from domain.buyer import Buyer
from handlers import parse

router = APIRouter(tags=["buyers"])
buyer_or_admin = require(Role.BUYER)


def _own(who: Principal) -> str | None:
    """The buyer a command is restricted to (None: an admin acts for any buyer)."""
    return who.owner_id if who.role == Role.BUYER else None


@router.get("/v1/buyers/{buyer_id}", response_model=BuyerOut)
async def get_buyer(
    buyer_id: str,
    who: Principal = Depends(require(Role.BUYER, Role.FINANCE)),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """A buyer's profile (name, time zone, market) and account: balances (posted, pending,
    available) and credit limit, from the event store."""
    owned(who, buyer_id, "buyer_id")
    return buyer_view(await s.call(s.app.load, Buyer, buyer_id, "buyer_id"))


@router.put("/v1/targets/{target_id}/bid", status_code=204, responses=problems(409))
async def set_bid(
    target_id: str,
    body: BidIn,
    who: Principal = Depends(buyer_or_admin),
    s: ApiServices = Depends(services),
) -> Response:
    """Set a target's standing bid ("buyers posting bids via API"); effective for the next
    auction of this process and within a sync tick everywhere."""
    command = parse.set_standing_bid(
        target_id=target_id, **body.model_dump(), by=who.by, buyer_id=_own(who)
    )
    await s.configured(s.setup.set_standing_bid, command)
    return Response(status_code=204)


@router.post("/v1/targets/{target_id}/pause", status_code=204)
async def pause(
    target_id: str,
    body: PauseIn | None = None,
    who: Principal = Depends(buyer_or_admin),
    s: ApiServices = Depends(services),
) -> Response:
    """Stop receiving calls on this target (a body `{"reason": …}` is optional)."""
    command = parse.pause_target(
        target_id=target_id, **(body.model_dump() if body else {}), by=who.by, buyer_id=_own(who)
    )
    await s.configured(s.setup.pause_target, command)
    return Response(status_code=204)


@router.post("/v1/targets/{target_id}/resume", status_code=204)
async def resume(
    target_id: str, who: Principal = Depends(buyer_or_admin), s: ApiServices = Depends(services)
) -> Response:
    """Start receiving calls on this target again."""
    command = parse.resume_target(target_id=target_id, by=who.by, buyer_id=_own(who))
    await s.configured(s.setup.resume_target, command)
    return Response(status_code=204)


@router.post("/v1/calls/{call_id}/conversion", status_code=204)
async def conversion(
    call_id: str,
    body: ConversionIn | None = None,
    who: Principal = Depends(buyer_or_admin),
    s: ApiServices = Depends(services),
) -> Response:
    """Report that a call routed to you converted (`value` optional)."""
    command = parse.convert_call(
        call_id=call_id, **(body.model_dump() if body else {}), by=who.by, buyer_id=_own(who)
    )
    await s.call(s.calls.convert_call, command)
    return Response(status_code=204)


@router.post("/v1/calls/{call_id}/dispute", status_code=201, response_model=DisputeOut)
async def dispute(
    call_id: str,
    body: DisputeIn,
    request: Request,
    who: Principal = Depends(buyer_or_admin),
    s: ApiServices = Depends(services),
) -> DisputeOut:
    """Dispute a call billed to you; finance accepts (the billing is reversed) or rejects it."""
    command_id = request.headers.get("idempotency-key")
    command = parse.dispute_call(
        call_id=call_id,
        **body.model_dump(),
        by=who.by,
        buyer_id=_own(who),
        command_id=command_id,
    )
    found: Any = await s.call(s.calls.dispute_call, command)
    return DisputeOut(dispute_id=str(found))
