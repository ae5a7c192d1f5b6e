"""Publishers: ping before transferring a caller, then post the call; and the Ringba-style RTB
ping, so a publisher integrated with Ringba's RTB switches by changing one URL."""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from api.attribution import for_ping
from api.auth import Principal, authenticate, require, services
from api.models import PingIn, PingOut, PostOut, RtbAnswer
from api.openapi import RTB_SECURITY, problems
from api.problems import Problem
from api.rtb_params import parse_rtb_ping
from api.services import ApiServices
from domain.api_key import Role
from domain.consent import Consent
from domain.errors import Suspended, ValidationError
from domain.geo import Geo, parse_caller
from domain.ids import derived_id
from domain.invariant import present
from domain.money import format_cents
from exchange.ping import PingRequest

router = APIRouter(tags=["exchange (publishers)"])
RTB_ANSWER: dict[int | str, dict[str, Any]] = {200: {"model": RtbAnswer}, **problems(429)}


@router.post(
    "/v1/pings",
    response_model=PingOut,
    response_model_exclude_none=True,
    responses=problems(429),
)
async def ping(
    body: PingIn,
    request: Request,
    who: Principal = Depends(require(Role.PUBLISHER)),
    s: ApiServices = Depends(services),
) -> PingOut:
    """Ask for a bid before transferring a caller. The caller's number is used for duplicate
    and block checks and stored only as a keyed hash; buyers bidding in real time see its
    hash and geo, never the number."""
    if who.owner_id is None:
        raise Problem(403, "pings are sent with a publisher's key")
    started = time.perf_counter()
    number, line = parse_caller(body.caller.number, "caller.number")
    geo = Geo.of_caller(number, body.caller.state, body.caller.zip, body.caller.area_code)
    idempotency = request.headers.get("idempotency-key")
    given = body.attribution.model_dump(exclude_none=True)
    consent = None if body.consent is None else body.consent.parsed()
    result = await s.auctions.ping(
        PingRequest(
            campaign_id=body.campaign_id,
            publisher_id=who.owner_id,
            caller_number=number,
            geo=geo,
            attribution=await for_ping(s, given, body.campaign_id, who.owner_id),
            tags=body.tags,
            consent=consent,
            call_id=derived_id("call", who.owner_id, idempotency) if idempotency else None,
            caller_line=line,
        )
    )
    s.metrics.record_ping("api", result, started)
    if result.accepted:
        payout_cents = present(result.payout_cents, "an accepted ping has a payout")
        expires_at = present(result.expires_at, "an accepted ping's bid has an expiry")
        return PingOut(
            ping_id=result.call_id,
            accepted=True,
            payout=format_cents(payout_cents),
            expires_at=expires_at.isoformat(),
            bid_count=result.bid_count,
        )
    return PingOut(
        ping_id=result.call_id, accepted=False, reason=result.reason, screen=result.screen
    )


@router.post("/v1/pings/{ping_id}/post", response_model=PostOut, responses=problems(409, 410))
async def post(
    ping_id: str,
    who: Principal = Depends(require(Role.PUBLISHER)),
    s: ApiServices = Depends(services),
) -> PostOut:
    """Transfer the call now: the destination to send it to. 410 once the bid has expired,
    409 when already posted."""
    route = await s.call_life.post(ping_id, who.owner_id if who.role != Role.ADMIN else None)
    return PostOut(call_id=route.call_id, destination=route.destination)


# -- Ringba-compatible RTB ping ------------------------------------------------------------------


def _number_literal(cents: int) -> orjson.Fragment:
    """A JSON number with two decimals, written from integer cents (no float anywhere)."""
    return orjson.Fragment(format_cents(cents).encode())


async def _rtb(
    campaign_id: str, params: dict[str, Any], token: str | None, s: ApiServices
) -> Response:
    who = await authenticate(token, s)
    if who.role != Role.PUBLISHER or who.owner_id is None:
        raise Problem(403, "RTB pings are sent with a publisher's key")
    started = time.perf_counter()
    rtb = parse_rtb_ping(params)
    consent = Consent.from_parameters(params)  # checked before anything is recorded
    # The answer's phoneNumber is a static tracking number of the campaign and publisher,
    # so the transferred call comes back through PPCX's telephony and finds its bid;
    # without one there is nothing to answer with, and no auction is run.
    try:
        phone = await s.auctions.static_number(campaign_id, who.owner_id)
    except Suspended:  # Ringba's bidders read a reason, not a status
        return _rtb_answer(
            {"bidId": None, "bidAmount": _number_literal(0), "rejectReason": "suspended"}
        )
    if phone is None:
        return _rtb_answer(
            {"bidId": None, "bidAmount": _number_literal(0), "rejectReason": "no_tracking_number"}
        )
    attribution = {"source": "rtb"}
    if rtb.sub_id is not None:
        attribution["sub_id"] = rtb.sub_id
    result = await s.auctions.ping(
        PingRequest(
            campaign_id=campaign_id,
            publisher_id=who.owner_id,
            caller_number=rtb.number,
            geo=rtb.geo,
            attribution=attribution,
            consent=consent,
            limit_taken=True,  # by `static_number`
            caller_line=rtb.caller_line,
        )
    )
    s.metrics.record_ping("rtb", result, started)
    answer: dict[str, Any] = {"bidId": result.call_id}
    if result.accepted and result.winner is not None and result.expires_at is not None:
        answer |= {
            "bidAmount": _number_literal(result.payout_cents or 0),
            "phoneNumber": phone,
            "phoneNumberNoPlus": phone.lstrip("+"),
            "expireInSeconds": max(0, int((result.expires_at - s.clock.now()).total_seconds())),
        }
    else:
        answer |= {"bidAmount": _number_literal(0), "rejectReason": result.reason}
        if result.screen is not None:
            answer["screen"] = result.screen
    return _rtb_answer(answer)


def _rtb_answer(answer: dict[str, Any]) -> Response:
    return Response(orjson.dumps(answer), media_type="application/json")


def _token(request: Request, api_key: str | None) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return api_key


@router.post("/v1/rtb/{campaign_id}.json", openapi_extra=RTB_SECURITY, responses=RTB_ANSWER)
async def rtb_post(
    campaign_id: str,
    request: Request,
    api_key: str | None = Query(default=None, include_in_schema=False),  # RTB_SECURITY
    s: ApiServices = Depends(services),
) -> Response:
    """Ringba-style RTB ping: `CID`, `zipcode`, `State`, `SubID`, `exposeCallerId` (and the
    caller's consent: `trustedform_cert_url`, `jornaya_leadid`, `consent_text_version`,
    `consented_at`) in a JSON body → `bidId`, `bidAmount`, `phoneNumber`, `phoneNumberNoPlus`,
    `expireInSeconds`, `rejectReason`. The key may come as a Bearer header or `?api_key=`
    (never logged)."""
    raw = await request.body()
    try:
        params = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        raise ValidationError("the body is not JSON", field="body") from None
    if not isinstance(params, dict):
        raise ValidationError("the body is a JSON object", field="body")
    return await _rtb(campaign_id, params, _token(request, api_key), s)


@router.get("/v1/rtb/{campaign_id}.json", openapi_extra=RTB_SECURITY, responses=RTB_ANSWER)
async def rtb_get(
    campaign_id: str,
    request: Request,
    api_key: str | None = Query(default=None, include_in_schema=False),  # RTB_SECURITY
    s: ApiServices = Depends(services),
) -> Response:
    """The same RTB ping with query parameters."""
    params = {k: v for k, v in request.query_params.items() if k != "api_key"}
    return await _rtb(campaign_id, params, _token(request, api_key), s)
