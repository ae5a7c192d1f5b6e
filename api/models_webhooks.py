"""Webhook subscriptions' bodies and answers. The secret appears only in `WebhookCreated`
(registration, rotation): it is derived, never stored, and no read shows it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.models import Body
from api.models_reads import NEXT_CURSOR, Stamped
from domain import limits
from domain.webhook import WebhookMethod
from domain.webhook_events import WebhookEvent

URL_PATTERN = r"^https?://"  # the rest (host, credentials, addresses) is the server's check
EventType = Annotated[WebhookEvent, Field(strict=False)]  # the enum from its value in JSON
URL_DESCRIPTION = (
    "http or https, no credentials or fragment; a GET (pixel) URL may hold `{call_id}`, "
    "`{event}`, … placeholders in its path and query. An IP-literal host must be public "
    "(or in the deployment's allowed networks)"
)
EVENTS_DESCRIPTION = "the event types to send, each once"
EXAMPLE_ID = "whk_3f2a9c1e5b7d4a6f8e0c2b4d6f8a0c1e"


class WebhookIn(Body):
    url: str = Field(
        min_length=limits.WEBHOOK_URL_LENGTH.minimum,
        max_length=limits.WEBHOOK_URL_LENGTH.maximum,
        pattern=URL_PATTERN,
        description=URL_DESCRIPTION,
    )
    events: list[EventType] = Field(
        min_length=limits.WEBHOOK_EVENTS.minimum,
        max_length=limits.WEBHOOK_EVENTS.maximum,
        description=EVENTS_DESCRIPTION,
        json_schema_extra={"uniqueItems": True},
    )
    method: WebhookMethod = Field(default=WebhookMethod.POST, strict=False)
    description: str = Field(default="", max_length=limits.WEBHOOK_DESCRIPTION_LENGTH_MAX)
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "url": "https://hooks.example.com/ppcx",
                    "events": ["call.completed", "call.billed"],
                    "method": "POST",
                    "description": "CRM",
                }
            ]
        },
    )


class WebhookPatch(Body):
    url: str | None = Field(
        default=None,
        min_length=limits.WEBHOOK_URL_LENGTH.minimum,
        max_length=limits.WEBHOOK_URL_LENGTH.maximum,
        pattern=URL_PATTERN,
        description=URL_DESCRIPTION,
    )
    events: list[EventType] | None = Field(
        default=None,
        min_length=limits.WEBHOOK_EVENTS.minimum,
        max_length=limits.WEBHOOK_EVENTS.maximum,
        description=EVENTS_DESCRIPTION,
        json_schema_extra={"uniqueItems": True},
    )
    method: WebhookMethod | None = Field(default=None, strict=False)
    description: str | None = Field(default=None, max_length=limits.WEBHOOK_DESCRIPTION_LENGTH_MAX)
    status: Literal["active", "paused"] | None = None
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"events": ["call.billed"], "status": "paused"}]},
    )


class WebhookOut(BaseModel):
    id: str = Field(examples=[EXAMPLE_ID])
    owner_role: Literal["admin", "publisher", "buyer"]
    owner_id: str | None = Field(description="the publisher or buyer; null: an admin webhook")
    url: str = Field(examples=["https://hooks.example.com/ppcx"])
    method: WebhookMethod
    events: list[WebhookEvent]
    description: str
    status: Literal["active", "paused"]
    secret_version: int = Field(description="moves on with each rotation of the secret")
    version: int


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="the signing secret (Standard Webhooks, `whsec_…`): shown only now",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )


class WebhookItem(WebhookOut, Stamped):
    pass


class WebhookPage(BaseModel):
    items: list[WebhookItem]
    next_cursor: str | None = NEXT_CURSOR


EXAMPLE_DELIVERY_ID = "msg_q3J0c2lnbmVkLWJvZHktaWQx"
AT_EXAMPLE = "2026-03-08T07:00:05Z"


class AttemptOut(BaseModel):
    at: str = Field(description="when it was sent (RFC 3339)", examples=[AT_EXAMPLE])
    status: int | None = Field(description="the endpoint's HTTP status; null: none (`error`)")
    error: str | None = Field(
        description="why there was no status (timeout, connection) or why nothing was sent "
        "(an address webhooks may not reach)"
    )
    outcome: Literal["delivered", "retry", "failed"]
    latency_ms: int
    response_excerpt: str = Field(description="the answer's first 512 bytes (UTF-8, lossy)")


class DeliveryOut(BaseModel):
    id: str = Field(
        description="the `webhook-id` the endpoint received (the same on every attempt)",
        examples=[EXAMPLE_DELIVERY_ID],
    )
    event: str = Field(description="the event type (`webhook.test` for a test)")
    call_id: str | None
    version: int | None = Field(description="the call's event sent")
    state: Literal["pending", "delivered", "failed"]
    created_at: str = Field(examples=[AT_EXAMPLE])
    attempts: list[AttemptOut]
    last_status: int | None = Field(description="the last attempt's HTTP status")
    next_attempt_at: str | None = Field(description="when it is tried again; null: it is not")
    payload: dict[str, Any] = Field(description="the body sent (a pixel's tokens come from it)")


class DeliveryPage(BaseModel):
    items: list[DeliveryOut] = Field(description="the newest first")
