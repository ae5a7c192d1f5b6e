"""Lists of the set-up (from the projections: a few seconds behind the log) and their pages.
A list item carries the fields of the object's single GET (`api/models_changes.py`) where the
projections hold them, plus when and by whom it was created and last changed."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from api.models_changes import CampaignOut, TargetOut

NEXT_CURSOR = Field(default=None, description="pass as `cursor` for the next page")


class Stamped(BaseModel):
    created_at: str | None = Field(description="RFC 3339")
    changed_at: str | None = Field(description="RFC 3339: the last set-up change")
    changed_by: str | None = Field(description="the key id that made the last change")


class TargetItem(TargetOut, Stamped):
    pass


class CampaignItem(CampaignOut, Stamped):
    pass


class PublisherItem(Stamped):
    id: str
    name: str
    status: Literal["active", "suspended"]
    suspended: bool
    version: int


class BuyerItem(Stamped):
    id: str
    name: str
    time_zone: str
    market: str
    credit_limit: str = Field(examples=["500.00"])


class NumberItem(BaseModel):
    id: str
    number: str = Field(examples=["+18005550100"])
    campaign_id: str
    publisher_id: str
    source: str
    medium: str | None
    keyword: str | None
    pool_id: str | None = Field(description="the DNI pool it belongs to; null: static")
    created_at: str | None


class NumberPoolItem(BaseModel):
    id: str
    name: str
    campaign_id: str
    publisher_id: str
    numbers: list[str]
    lease_ttl_s: int
    allowed_origins: list[str]
    created_at: str | None
    changed_at: str | None


class ApiKeyItem(BaseModel):
    id: str
    role: str
    owner_id: str | None
    label: str
    created_at: str | None
    created_by: str | None
    expires_at: str | None = Field(description="null: never expires")
    revoked_at: str | None
    last_used_at: str | None = Field(
        description="the last authenticated request (to about a minute); null: none recorded"
    )
    status: Literal["active", "expired", "revoked"]


class DisputeItem(BaseModel):
    id: str
    call_id: str
    buyer_id: str | None
    reason: str
    status: Literal["open", "accepted", "rejected"]
    opened_at: str | None
    opened_by: str | None
    resolved_at: str | None
    resolved_by: str | None
    note: str | None


class HistoryItem(BaseModel):
    position: int = Field(description="the event's position in the log")
    at: str = Field(description="RFC 3339")
    event: str = Field(examples=["RulesChanged"])
    version: int = Field(description="the object's version after this event")
    changes: dict[str, Any] = Field(
        description="what the event set: a change's new values, a creation's values"
    )
    by: str | None = Field(description="the key id that made the change")


class TargetPage(BaseModel):
    items: list[TargetItem]
    next_cursor: str | None = NEXT_CURSOR


class CampaignPage(BaseModel):
    items: list[CampaignItem]
    next_cursor: str | None = NEXT_CURSOR


class PublisherPage(BaseModel):
    items: list[PublisherItem]
    next_cursor: str | None = NEXT_CURSOR


class BuyerPage(BaseModel):
    items: list[BuyerItem]
    next_cursor: str | None = NEXT_CURSOR


class NumberPage(BaseModel):
    items: list[NumberItem]
    next_cursor: str | None = NEXT_CURSOR


class NumberPoolPage(BaseModel):
    items: list[NumberPoolItem]
    next_cursor: str | None = NEXT_CURSOR


class ApiKeyPage(BaseModel):
    items: list[ApiKeyItem]
    next_cursor: str | None = NEXT_CURSOR


class DisputePage(BaseModel):
    items: list[DisputeItem]
    next_cursor: str | None = NEXT_CURSOR


class HistoryPage(BaseModel):
    items: list[HistoryItem]
    next_cursor: str | None = NEXT_CURSOR
