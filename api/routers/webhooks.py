"""Webhook subscriptions (publishers, buyers, admins): register, list, read, change, pause,
remove, rotate the secret. A publisher or buyer key acts on its own webhooks only (another's
is 404, as an unknown id); an admin's on every one. The secret is shown on registration and
rotation only: it is derived from the deployment's secret, never stored."""

from __future__ import annotations

import json
from typing import Any

import httpx
from fastapi import APIRouter, Depends, Response

from api.auth import Principal, require, services
from api.models_webhooks import (
    DeliveryOut,
    DeliveryPage,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
    WebhookPage,
    WebhookPatch,
)
from api.params import PAGE_LIMIT_DEFAULT, PageCursor, PageLimit
from api.routers.setup_reads import Row, _page
from api.services import ApiServices
from domain.api_key import OWNED_ROLES, Role
from domain.errors import NotFound
from domain.ids import require_subject_id
from domain.webhook import Webhook
from eventstore.deliveries import DeliveryRow, DeliveryStore
from handlers import parse
from webhooks.deliveries import body_of, from_ms, to_ms
from webhooks.probe import probe_delivery, record_test
from webhooks.sender import Endpoint, send

router = APIRouter(tags=["webhooks"])
subscriber = require(Role.PUBLISHER, Role.BUYER)


def _own(who: Principal) -> str | None:
    """The publisher or buyer a key acts for (None: an admin acts on every webhook)."""
    return who.owner_id if who.role in OWNED_ROLES else None


def webhook_view(webhook: Webhook) -> dict[str, Any]:
    return {
        "id": webhook.id,
        "owner_role": webhook.owner_role,
        "owner_id": webhook.owner_id,
        "url": webhook.url,
        "method": webhook.method,
        "events": list(webhook.events),
        "description": webhook.description,
        "status": webhook.status.value,
        "secret_version": webhook.secret_version,
        "version": webhook.version,
    }


@router.post("/v1/webhooks", status_code=201, response_model=WebhookCreated)
async def create_webhook(
    body: WebhookIn,
    who: Principal = Depends(subscriber),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """Subscribe an endpoint to events of the key's own calls (an admin's: every call). The
    answer holds the signing secret, shown only here and on rotation."""
    command = parse.register_webhook(
        url=body.url,
        events=[str(e) for e in body.events],
        method=str(body.method),
        description=body.description,
        owner_role=who.role,
        owner_id=_own(who),
        by=who.by,
    )
    webhook = await s.call(s.webhooks.register, command)
    return {**webhook_view(webhook), "secret": s.webhooks.secret(webhook)}


WEBHOOKS_SQL = """
SELECT * FROM webhooks
WHERE status <> 'removed' AND ($owner IS NULL OR owner_id = $owner) AND webhook_id > $after
ORDER BY webhook_id LIMIT $limit
"""


def webhook_item(row: Row) -> Row:
    def stamp(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": row["webhook_id"],
        "owner_role": row["owner_role"],
        "owner_id": row["owner_id"],
        "url": row["url"],
        "method": row["method"],
        "events": json.loads(row["events"]),
        "description": row["description"],
        "status": row["status"],
        "secret_version": row["secret_version"],
        "version": row["version"],
        "created_at": stamp(row["created_at"]),
        "changed_at": stamp(row["changed_at"]),
        "changed_by": row["changed_by"],
    }


@router.get("/v1/webhooks", response_model=WebhookPage)
async def list_webhooks(
    limit: PageLimit = PAGE_LIMIT_DEFAULT,
    cursor: PageCursor = None,
    who: Principal = Depends(subscriber),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """The key's own webhooks (admin: every one), from the projections (a few seconds
    behind the log); never a secret."""
    return await s.call(
        _page,
        s,
        WEBHOOKS_SQL,
        {"owner": _own(who)},
        key="webhook_id",
        limit=limit,
        cursor=cursor,
        item=webhook_item,
    )


@router.get("/v1/webhooks/{webhook_id}", response_model=WebhookOut)
async def get_webhook(
    webhook_id: str,
    who: Principal = Depends(subscriber),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """A webhook's current values, from the event store (never its secret)."""
    checked_id = require_subject_id(webhook_id, "whk", "webhook_id")
    return webhook_view(await s.call(s.webhooks.get, checked_id, _own(who)))


@router.patch("/v1/webhooks/{webhook_id}", response_model=WebhookOut)
async def change_webhook(
    webhook_id: str,
    body: WebhookPatch,
    who: Principal = Depends(subscriber),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """Change the fields given (`url`, `events`, `method`, `description`); `status` pauses
    (nothing is sent) or resumes. A change that changes nothing records nothing."""
    given = body.model_dump(exclude_none=True, mode="json")
    command = parse.change_webhook(webhook_id=webhook_id, by=who.by, owner_id=_own(who), **given)
    return webhook_view(await s.call(s.webhooks.change, command))


@router.delete("/v1/webhooks/{webhook_id}", status_code=204)
async def remove_webhook(
    webhook_id: str,
    who: Principal = Depends(subscriber),
    s: ApiServices = Depends(services),
) -> Response:
    """Remove the webhook: nothing more is sent; it reads as unknown (404) from now on."""
    command = parse.remove_webhook(webhook_id=webhook_id, by=who.by, owner_id=_own(who))
    await s.call(s.webhooks.remove, command)
    return Response(status_code=204)


@router.post("/v1/webhooks/{webhook_id}/secret", response_model=WebhookCreated)
async def rotate_webhook_secret(
    webhook_id: str,
    who: Principal = Depends(subscriber),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """A new signing secret (shown only now); the old one stops signing at once."""
    command = parse.rotate_webhook_secret(webhook_id=webhook_id, by=who.by, owner_id=_own(who))
    webhook = await s.call(s.webhooks.rotate_secret, command)
    return {**webhook_view(webhook), "secret": s.webhooks.secret(webhook)}


DELIVERIES_MAX = 100  # the newest shown


def _rfc3339(ms: int) -> str:
    return from_ms(ms).isoformat().replace("+00:00", "Z")


def delivery_view(store: DeliveryStore, delivery: DeliveryRow) -> dict[str, Any]:
    attempts = store.attempts(delivery.id)
    return {
        "id": delivery.id,
        "event": delivery.type,
        "call_id": delivery.call_id or None,
        "version": delivery.version or None,
        "state": delivery.state,
        "created_at": _rfc3339(delivery.created_ms),
        "attempts": [
            {
                "at": _rfc3339(a.at_ms),
                "status": a.status,
                "error": a.error,
                "outcome": a.outcome,
                "latency_ms": a.latency_ms,
                "response_excerpt": a.excerpt.decode("utf-8", errors="replace"),
            }
            for a in attempts
        ],
        "last_status": attempts[-1].status if attempts else None,
        "next_attempt_at": (
            _rfc3339(delivery.next_attempt_ms) if delivery.next_attempt_ms is not None else None
        ),
        "payload": dict(body_of(delivery)),
    }


def _deliveries(store: DeliveryStore, webhook_id: str) -> dict[str, Any]:
    rows = store.of_webhook(webhook_id, DELIVERIES_MAX)
    return {"items": [delivery_view(store, row) for row in rows]}


def _owned_delivery(store: DeliveryStore, webhook_id: str, delivery_id: str) -> DeliveryRow:
    found = store.get(delivery_id)
    if found is None or found.webhook_id != webhook_id:
        raise NotFound(f"delivery_id {delivery_id!r} does not exist", field="delivery_id")
    return found


@router.get("/v1/webhooks/{webhook_id}/deliveries", response_model=DeliveryPage)
async def list_webhook_deliveries(
    webhook_id: str,
    who: Principal = Depends(subscriber),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """The webhook's newest deliveries (at most 100): each event sent, every attempt (status,
    latency, the answer's first bytes), the last status and the next retry."""
    checked_id = require_subject_id(webhook_id, "whk", "webhook_id")
    await s.call(s.webhooks.get, checked_id, _own(who))
    return await s.call(_deliveries, s.deliveries, checked_id)


@router.post("/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry", response_model=DeliveryOut)
async def retry_webhook_delivery(
    webhook_id: str,
    delivery_id: str,
    who: Principal = Depends(subscriber),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """Send a delivery again: it is due now, with a fresh 24 hours of retries (the delivery
    worker sends it; its earlier attempts are kept)."""
    checked_id = require_subject_id(webhook_id, "whk", "webhook_id")
    await s.call(s.webhooks.get, checked_id, _own(who))

    def again() -> dict[str, Any]:
        _owned_delivery(s.deliveries, checked_id, delivery_id)
        s.deliveries.send_again(delivery_id, to_ms(s.clock.now()))
        return delivery_view(s.deliveries, _owned_delivery(s.deliveries, checked_id, delivery_id))

    return await s.call(again)


@router.post("/v1/webhooks/{webhook_id}/test", response_model=DeliveryOut)
async def send_webhook_test(
    webhook_id: str,
    who: Principal = Depends(subscriber),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """Send a signed `webhook.test` event (a pixel: its URL filled from it) to the endpoint
    now, and answer how it went; recorded among the deliveries, never retried."""
    checked_id = require_subject_id(webhook_id, "whk", "webhook_id")
    webhook = await s.call(s.webhooks.get, checked_id, _own(who))
    endpoint = Endpoint(webhook.method, webhook.url, webhook.owner_role, s.webhooks.secret(webhook))
    delivery = probe_delivery(checked_id, s.clock.now())
    await s.call(s.deliveries.add, [delivery])
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
        result = await send(client, endpoint, delivery, s.clock.now(), s.webhook_networks)
    recorded = await s.call(record_test, s.deliveries, delivery, result)
    return await s.call(delivery_view, s.deliveries, recorded)
