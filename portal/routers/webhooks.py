"""Webhook pages (publishers, buyers, admins): the list and a registration form, and each
webhook's settings, pause and resume, secret rotation, removal, a test event, and its deliveries
with every attempt and a "send again" button. Every action calls the API's own route function:
the same checks, the same messages, the same tenancy (another's webhook is not found). The
signing secret is shown once, on the page answering registration or rotation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError as ShapeError
from starlette.datastructures import FormData

from api.auth import services_of
from api.models_webhooks import WebhookIn, WebhookPatch
from api.problems import Problem
from api.routers import webhooks as api
from domain.api_key import Role
from domain.errors import DomainError, NotFound
from domain.webhook import WebhookMethod
from domain.webhook_events import WebhookEvent
from portal.forms import field_errors
from portal.pages import PageNotFound, Visitor, posted, redirect, render, signed_in
from webhooks.pixels import BUYER_TOKENS, TOKENS

router = APIRouter(include_in_schema=False)
subscriber = signed_in(Role.PUBLISHER, Role.BUYER, Role.ADMIN)
FORM_FIELDS = ("url", "method", "events", "description")
LIST_MAX = 200  # webhooks shown on the list page
NOTICES = {
    "saved": "Saved.",
    "paused": "Paused: nothing is sent until you resume it.",
    "resumed": "Resumed: events are sent again.",
    "tested": "A test event was sent; its attempt is listed under Deliveries.",
    "again": "The delivery is due again: the delivery worker sends it shortly.",
}


def _tokens(role: Role | None) -> list[str]:
    """The pixel tokens this role's pixels are filled with (revenue: buyers and admins)."""
    return [t for t in TOKENS if role != Role.PUBLISHER or t not in BUYER_TOKENS]


def _body(form: FormData) -> dict[str, Any]:
    """The API body the registration or edit form means."""
    return {
        "url": str(form.get("url", "")).strip(),
        "method": str(form.get("method", WebhookMethod.POST.value)),
        "events": [str(e) for e in form.getlist("events")],
        "description": str(form.get("description", "")),
    }


async def _webhook(request: Request, v: Visitor, webhook_id: str) -> dict[str, Any]:
    try:
        return await api.get_webhook(webhook_id, who=v.principal, s=services_of(request))
    except NotFound:
        raise PageNotFound() from None


async def _list(request: Request, v: Visitor) -> list[dict[str, Any]] | None:
    """The visitor's webhooks (None: no projections yet)."""
    try:
        page = await api.list_webhooks(
            limit=LIST_MAX, cursor=None, who=v.principal, s=services_of(request)
        )
    except Problem as problem:
        if problem.status == 503:
            return None
        raise
    items: list[dict[str, Any]] = page["items"]
    return items


def _context(v: Visitor, form: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    return {
        "form": form,
        "errors": errors,
        "shown": FORM_FIELDS,
        "event_types": [e.value for e in WebhookEvent],
        "methods": [m.value for m in WebhookMethod],
        "tokens": _tokens(v.role),
    }


@router.get("/webhooks")
async def webhooks(request: Request, v: Visitor = Depends(subscriber)) -> Response:
    context = {
        "webhooks": await _list(request, v),
        "removed": request.query_params.get("removed") == "1",
        **_context(v, {"method": "POST"}, {}),
    }
    return render(request, v, "webhooks/list.html", context)


@router.post("/webhooks")
async def register(request: Request, v: Visitor = Depends(subscriber)) -> Response:
    body = _body(await posted(request, v))
    try:
        created = await api.create_webhook(
            WebhookIn.model_validate(body), who=v.principal, s=services_of(request)
        )
    except (DomainError, ShapeError) as error:
        context = {"webhooks": await _list(request, v), **_context(v, body, field_errors(error))}
        return render(request, v, "webhooks/list.html", context, status_code=422)
    return await _detail(request, v, created, secret=created["secret"], status_code=201)


async def _detail(
    request: Request,
    v: Visitor,
    webhook: dict[str, Any],
    *,
    secret: str | None = None,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    deliveries = await api.list_webhook_deliveries(
        webhook["id"], who=v.principal, s=services_of(request)
    )
    context = {
        "webhook": webhook,
        "secret": secret,
        "deliveries": deliveries["items"],
        "notice": NOTICES.get(request.query_params.get("done", "")),
        **_context(v, form if form is not None else webhook, errors or {}),
    }
    return render(request, v, "webhooks/webhook.html", context, status_code=status_code)


@router.get("/webhooks/{webhook_id}")
async def webhook_page(
    request: Request, webhook_id: str, v: Visitor = Depends(subscriber)
) -> Response:
    return await _detail(request, v, await _webhook(request, v, webhook_id))


async def _change(request: Request, v: Visitor, webhook_id: str, body: dict[str, Any]) -> None:
    try:
        await api.change_webhook(
            webhook_id, WebhookPatch.model_validate(body), who=v.principal, s=services_of(request)
        )
    except NotFound:
        raise PageNotFound() from None


@router.post("/webhooks/{webhook_id}")
async def save(request: Request, webhook_id: str, v: Visitor = Depends(subscriber)) -> Response:
    form = _body(await posted(request, v))
    webhook = await _webhook(request, v, webhook_id)
    body = {k: form[k] for k in ("url", "events", "description")}
    try:
        await _change(request, v, webhook_id, body)
    except (DomainError, ShapeError) as error:
        edited = {**webhook, **body}
        return await _detail(
            request, v, webhook, form=edited, errors=field_errors(error), status_code=422
        )
    return redirect(f"/webhooks/{webhook_id}?done=saved")


@router.post("/webhooks/{webhook_id}/pause")
async def pause(request: Request, webhook_id: str, v: Visitor = Depends(subscriber)) -> Response:
    await posted(request, v)
    await _change(request, v, webhook_id, {"status": "paused"})
    return redirect(f"/webhooks/{webhook_id}?done=paused")


@router.post("/webhooks/{webhook_id}/resume")
async def resume(request: Request, webhook_id: str, v: Visitor = Depends(subscriber)) -> Response:
    await posted(request, v)
    await _change(request, v, webhook_id, {"status": "active"})
    return redirect(f"/webhooks/{webhook_id}?done=resumed")


@router.post("/webhooks/{webhook_id}/secret")
async def rotate(request: Request, webhook_id: str, v: Visitor = Depends(subscriber)) -> Response:
    await posted(request, v)
    try:
        rotated = await api.rotate_webhook_secret(
            webhook_id, who=v.principal, s=services_of(request)
        )
    except NotFound:
        raise PageNotFound() from None
    return await _detail(request, v, rotated, secret=rotated["secret"])


@router.get("/webhooks/{webhook_id}/remove")
async def confirm_removal(
    request: Request, webhook_id: str, v: Visitor = Depends(subscriber)
) -> Response:
    webhook = await _webhook(request, v, webhook_id)
    return render(request, v, "webhooks/remove.html", {"webhook": webhook})


@router.post("/webhooks/{webhook_id}/remove")
async def remove(request: Request, webhook_id: str, v: Visitor = Depends(subscriber)) -> Response:
    await posted(request, v)
    try:
        await api.remove_webhook(webhook_id, who=v.principal, s=services_of(request))
    except NotFound:
        raise PageNotFound() from None
    return redirect("/webhooks?removed=1")


@router.post("/webhooks/{webhook_id}/test")
async def send_test(
    request: Request, webhook_id: str, v: Visitor = Depends(subscriber)
) -> Response:
    await posted(request, v)
    try:
        await api.send_webhook_test(webhook_id, who=v.principal, s=services_of(request))
    except NotFound:
        raise PageNotFound() from None
    return redirect(f"/webhooks/{webhook_id}?done=tested")


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/retry")
async def send_again(
    request: Request, webhook_id: str, delivery_id: str, v: Visitor = Depends(subscriber)
) -> Response:
    await posted(request, v)
    try:
        await api.retry_webhook_delivery(
            webhook_id, delivery_id, who=v.principal, s=services_of(request)
        )
    except NotFound:
        raise PageNotFound() from None
    return redirect(f"/webhooks/{webhook_id}?done=again")
