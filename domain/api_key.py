"""An API key: a role, an owner, and only a keyed hash of the secret."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from eventsourcing.domain import event

from domain.base import PPCXAggregate
from domain.clock import require_utc
from domain.errors import ValidationError
from domain.limits import KEY_EXPIRY_DAYS_MAX


class Role(StrEnum):
    """What an API key (or a person) may do; publishers and buyers own their data."""

    ADMIN = "admin"
    PUBLISHER = "publisher"
    BUYER = "buyer"
    FINANCE = "finance"
    ANALYST = "analyst"


ROLES: tuple[Role, ...] = tuple(Role)
OWNED_ROLES = frozenset({Role.PUBLISHER, Role.BUYER})


class ApiKey(PPCXAggregate):
    if TYPE_CHECKING:  # the event classes `@event` makes, for type checkers
        Issued: type[PPCXAggregate.Created]
        Revoked: type[PPCXAggregate.Event]
        ExpirySet: type[PPCXAggregate.Event]
        ExpiryWarned: type[PPCXAggregate.Event]
        ExpiredUnused: type[PPCXAggregate.Event]

    # newer than the first stored logs: a class-level default, so a key loaded from an older
    # snapshot has it too (and its state equals its events' fold); None: it never expires
    expires_at: datetime | None = None
    # the expiry its owner was last warned of (`ExpiryWarned`): warned once per expiry
    warned_expires_at: datetime | None = None

    @event("Issued")
    def __init__(
        self,
        id: str,
        role: str,
        owner_id: str | None,
        key_hash: str,
        label: str,
        by: str,
        timestamp: datetime,
    ) -> None:
        self.role = role
        self.owner_id = owner_id
        self.key_hash = key_hash
        self.label = label
        self.revoked = False

    @event("Revoked")
    def revoke(self, by: str, timestamp: datetime) -> None:
        self.revoked = True

    @event("ExpirySet")
    def set_expiry(self, expires_at: datetime, by: str, timestamp: datetime) -> None:
        """From `expires_at` on, the key is refused exactly as a revoked one."""
        self.expires_at = expires_at

    @event("ExpiredUnused")
    def expire_unused(
        self,
        expires_at: datetime,
        last_used_at: datetime,
        reason: str,
        by: str,
        timestamp: datetime,
    ) -> None:
        """Expired by the exchange (`by` "system") at `expires_at`: unused since
        `last_used_at` (its last use, or its issue); as `ExpirySet` with its reason (a new
        event: `ExpirySet`'s fields are a stored format)."""
        self.expires_at = expires_at

    @event("ExpiryWarned")
    def warn_expiry(
        self, expires_at: datetime, warning_days: int, by: str, timestamp: datetime
    ) -> None:
        """Its owner is told the key expires at `expires_at` (within `warning_days`)."""
        self.warned_expires_at = expires_at

    def needs_warning(self, now: datetime, warning_days: int) -> bool:
        """Usable, expiring within `warning_days` of `now`, and not warned of this expiry."""
        return (
            warning_days > 0
            and self.usable_at(now)
            and self.expires_at is not None
            and self.expires_at - now <= timedelta(days=warning_days)
            and self.warned_expires_at != self.expires_at
        )

    def usable_at(self, now: datetime) -> bool:
        """Neither revoked nor expired at `now`."""
        return not self.revoked and not is_expired(self.expires_at, now)


def is_expired(expires_at: datetime | None, now: datetime) -> bool:
    """A key whose expiry is `expires_at` is refused at `now` (None: it never expires)."""
    return expires_at is not None and now >= expires_at


def check_expiry(expires_at: datetime, now: datetime) -> datetime:
    """A new key's `expires_at` (UTC): after `now` and at most `KEY_EXPIRY_DAYS_MAX` days
    ahead; ValidationError naming `expires_at` otherwise."""
    expires_at = require_utc(expires_at, "expires_at")
    if expires_at <= now:
        raise ValidationError(
            f"expires_at must be after the server's time ({now.isoformat()})", field="expires_at"
        )
    if expires_at > now + timedelta(days=KEY_EXPIRY_DAYS_MAX):
        raise ValidationError(
            f"expires_at must be at most {KEY_EXPIRY_DAYS_MAX} days ahead", field="expires_at"
        )
    return expires_at
