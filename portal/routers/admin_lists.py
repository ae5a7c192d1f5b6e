"""Admins' lists of the set-up: publishers, buyers, campaigns, targets, tracking numbers and DNI
pools, a page at a time from the API's own list routes (the projections, a few seconds behind),
with links between them (a campaign's targets and numbers, a buyer's targets, a pool's
numbers); and the block list: its entries, blocking a number and taking one off."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel
from pydantic import ValidationError as ShapeError

from api.auth import Principal, services_of
from api.models import BlockIn, BuyerIn, Created, CreatedWithKey, NumberIn, PublisherIn
from api.problems import Problem
from api.routers import admin as api
from api.routers import setup_reads as reads
from api.services import ApiServices
from domain.api_key import Role
from domain.errors import DomainError
from domain.limits import ID_LENGTH_MAX
from portal.forms import blank_is_unset, field_errors
from portal.pages import Visitor, posted, redirect, render, signed_in

router = APIRouter(include_in_schema=False)
admin = signed_in(Role.ADMIN)
PAGE_SIZE = 50  # rows a page
Fetch = Callable[[dict[str, str | None], str | None, Principal, ApiServices], Awaitable[Any]]


@dataclass(frozen=True)
class Creation:
    """A form on the list that creates one through the API's own route function."""

    title: str
    fields: tuple[tuple[str, str, str], ...]  # (name, label, hint)
    model: type[BaseModel]
    create: Callable[..., Awaitable[Created | CreatedWithKey]]


@dataclass(frozen=True)
class Listing:
    title: str
    path: str
    columns: tuple[tuple[str, str], ...]  # (heading, item key)
    filters: tuple[str, ...]  # query parameters passed on to the API
    fetch: Fetch
    links: tuple[tuple[str, str, str], ...] = ()  # (heading, path, query name) → ?name=<id>
    creation: Creation | None = None


async def _publishers(f: dict[str, str | None], c: str | None, w: Principal, s: Any) -> Any:
    return await reads.list_publishers(limit=PAGE_SIZE, cursor=c, who=w, s=s)


async def _buyers(f: dict[str, str | None], c: str | None, w: Principal, s: Any) -> Any:
    return await reads.list_buyers(limit=PAGE_SIZE, cursor=c, who=w, s=s)


async def _campaigns(f: dict[str, str | None], c: str | None, w: Principal, s: Any) -> Any:
    return await reads.list_campaigns(limit=PAGE_SIZE, cursor=c, who=w, s=s)


async def _targets(f: dict[str, str | None], c: str | None, w: Principal, s: Any) -> Any:
    return await reads.list_targets(
        campaign_id=f["campaign_id"],
        buyer_id=f["buyer_id"],
        status=None,
        limit=PAGE_SIZE,
        cursor=c,
        who=w,
        s=s,
    )


async def _numbers(f: dict[str, str | None], c: str | None, w: Principal, s: Any) -> Any:
    return await reads.list_numbers(
        campaign_id=f["campaign_id"], pool_id=f["pool_id"], limit=PAGE_SIZE, cursor=c, who=w, s=s
    )


async def _pools(f: dict[str, str | None], c: str | None, w: Principal, s: Any) -> Any:
    return await reads.list_number_pools(
        campaign_id=f["campaign_id"], limit=PAGE_SIZE, cursor=c, who=w, s=s
    )


LISTINGS = (
    Listing(
        "Publishers",
        "/admin/publishers",
        (("Id", "id"), ("Name", "name"), ("Status", "status")),
        (),
        _publishers,
        creation=Creation(
            "Register a publisher (its first API key is shown once)",
            (("name", "Name", ""),),
            PublisherIn,
            api.register_publisher,
        ),
    ),
    Listing(
        "Buyers",
        "/admin/buyers",
        (
            ("Id", "id"),
            ("Name", "name"),
            ("Time zone", "time_zone"),
            ("Credit limit", "credit_limit"),
        ),
        (),
        _buyers,
        (("Targets", "/admin/targets", "buyer_id"),),
        Creation(
            "Register a buyer (its first API key is shown once)",
            (
                ("name", "Name", ""),
                ("time_zone", "Time zone", "e.g. America/New_York"),
                ("credit_limit", "Credit limit", "e.g. 0.00"),
            ),
            BuyerIn,
            api.register_buyer,
        ),
    ),
    Listing(
        "Campaigns",
        "/admin/campaigns",
        (
            ("Id", "id"),
            ("Name", "name"),
            ("Vertical", "vertical"),
            ("Payout", "publisher_payout"),
            ("Floor", "floor"),
            ("Publishers", "allowed_publishers"),
        ),
        (),
        _campaigns,
        (
            ("Targets", "/admin/targets", "campaign_id"),
            ("Numbers", "/admin/numbers", "campaign_id"),
            ("Pools", "/admin/pools", "campaign_id"),
        ),
    ),
    Listing(
        "Targets",
        "/admin/targets",
        (
            ("Id", "id"),
            ("Name", "name"),
            ("Buyer", "buyer_id"),
            ("Campaign", "campaign_id"),
            ("Bid", "bid"),
            ("RTB endpoint", "rtb_url"),
            ("Status", "status"),
        ),
        ("campaign_id", "buyer_id"),
        _targets,
    ),
    Listing(
        "Tracking numbers",
        "/admin/numbers",
        (
            ("Number", "number"),
            ("Campaign", "campaign_id"),
            ("Publisher", "publisher_id"),
            ("Source", "source"),
            ("Pool", "pool_id"),
        ),
        ("campaign_id", "pool_id"),
        _numbers,
        creation=Creation(
            "Provision a static tracking number",
            (
                ("number", "Number", "E.164, e.g. +18005550100"),
                ("campaign_id", "Campaign id", "cmp_…"),
                ("publisher_id", "Publisher id", "pub_…"),
                ("source", "Source", "e.g. google"),
                ("medium", "Medium (optional)", ""),
                ("keyword", "Keyword (optional)", ""),
            ),
            NumberIn,
            api.provision_number,
        ),
    ),
    Listing(
        "Number pools",
        "/admin/pools",
        (
            ("Id", "id"),
            ("Name", "name"),
            ("Campaign", "campaign_id"),
            ("Publisher", "publisher_id"),
            ("Numbers", "numbers"),
        ),
        ("campaign_id",),
        _pools,
        (("Numbers", "/admin/numbers", "pool_id"),),
    ),
)


def _filters(request: Request, listing: Listing) -> dict[str, str | None]:
    """The listing's filters from the query (too long an id: none; the API checks the rest)."""
    found: dict[str, str | None] = {}
    for name in listing.filters:
        value = request.query_params.get(name) or None
        found[name] = value if value is not None and len(value) <= ID_LENGTH_MAX else None
    return found


async def _listing_page(
    request: Request,
    v: Visitor,
    listing: Listing,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    created: Created | CreatedWithKey | None = None,
    status_code: int = 200,
) -> Response:
    filters = _filters(request, listing)
    cursor = request.query_params.get("cursor") or None
    try:
        found = await listing.fetch(filters, cursor, v.principal, services_of(request))
    except Problem as problem:
        if problem.status != 503:
            raise
        found = None
    context = {
        "listing": listing,
        "page": found,
        "filters": {k: f for k, f in filters.items() if f is not None},
        "form": form or {},
        "errors": errors or {},
        "created": created,
    }
    return render(request, v, "admin/list.html", context, status_code=status_code)


def _page_for(listing: Listing) -> Callable[..., Awaitable[Response]]:
    async def page(request: Request, v: Visitor = Depends(admin)) -> Response:
        return await _listing_page(request, v, listing)

    page.__name__ = f"admin_{listing.path.rsplit('/', 1)[-1]}"
    return page


def _create_for(listing: Listing, creation: Creation) -> Callable[..., Awaitable[Response]]:
    async def create(request: Request, v: Visitor = Depends(admin)) -> Response:
        form = await posted(request, v)
        names = tuple(name for name, _, _ in creation.fields)
        given = {name: str(form.get(name) or "").strip() for name in names}
        try:
            body = creation.model.model_validate(blank_is_unset(given, names))
            created = await creation.create(body, who=v.principal, s=services_of(request))
        except (DomainError, ShapeError) as error:
            errors = field_errors(error)
            return await _listing_page(
                request, v, listing, form=given, errors=errors, status_code=422
            )
        return await _listing_page(request, v, listing, created=created, status_code=201)

    create.__name__ = f"admin_create_{listing.path.rsplit('/', 1)[-1]}"
    return create


for _listing in LISTINGS:
    router.add_api_route(_listing.path, _page_for(_listing), methods=["GET"])
    if _listing.creation is not None:
        router.add_api_route(
            _listing.path, _create_for(_listing, _listing.creation), methods=["POST"]
        )


# -- the block list ------------------------------------------------------------------------------
BLOCK_STATUSES = ("blocked", "unblocked", "all")
NOTICES = {
    "blocked": "The number is blocked: its calls get no auction and are never billed.",
    "unblocked": "The number is off the block list.",
}


async def _blocklist_page(
    request: Request,
    v: Visitor,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    status = request.query_params.get("status", "blocked")
    status = status if status in BLOCK_STATUSES else "blocked"
    cursor = request.query_params.get("cursor") or None
    try:
        found = await api.blocklist(
            status=status,  # type: ignore[arg-type]
            limit=PAGE_SIZE,
            cursor=cursor,
            who=v.principal,
            s=services_of(request),
        )
    except Problem as problem:
        if problem.status != 503:
            raise
        found = None
    context = {
        "entries": found,
        "status": status,
        "statuses": BLOCK_STATUSES,
        "form": form or {},
        "errors": errors or {},
        "notice": NOTICES.get(request.query_params.get("done", "")),
    }
    return render(request, v, "admin/blocklist.html", context, status_code=status_code)


@router.get("/admin/blocklist")
async def blocklist_page(request: Request, v: Visitor = Depends(admin)) -> Response:
    return await _blocklist_page(request, v)


@router.post("/admin/blocklist")
async def block(request: Request, v: Visitor = Depends(admin)) -> Response:
    form = await posted(request, v)
    given = {k: str(form.get(k) or "").strip() for k in ("number", "reason")}
    try:
        body = BlockIn.model_validate(given)
        await api.block(body, who=v.principal, s=services_of(request))
    except (DomainError, ShapeError) as error:
        errors = field_errors(error)
        return await _blocklist_page(request, v, form=given, errors=errors, status_code=422)
    return redirect("/admin/blocklist?done=blocked")


@router.post("/admin/blocklist/remove")
async def unblock(request: Request, v: Visitor = Depends(admin)) -> Response:
    form = await posted(request, v)
    number = str(form.get("unblock_number") or "").strip()
    try:
        await api.unblock(number, who=v.principal, s=services_of(request))
    except DomainError as error:
        errors = {"unblock_number": "; ".join(field_errors(error).values())}
        form_back = {"unblock_number": number}
        return await _blocklist_page(request, v, form=form_back, errors=errors, status_code=422)
    return redirect("/admin/blocklist?done=unblocked")
