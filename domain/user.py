"""A person who signs in to the portal: the same roles and owners as API keys.

An admin invites a user; the invite holds only a keyed hash of its one-time token. The user
sets a password (the event holds only its argon2 hash, made at the edge), which uses up the
invite. Sessions are cookies that name the user's session epoch: signing out everywhere moves
the epoch on, so every cookie issued before stops working."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from eventsourcing.domain import event

from domain.base import PPCXAggregate
from domain.errors import ValidationError
from domain.ids import derived_id
from domain.limits import EMAIL_LENGTH, PASSWORD_LENGTH


class User(PPCXAggregate):
    if TYPE_CHECKING:  # the event classes `@event` makes, for type checkers
        Invited: type[PPCXAggregate.Created]
        PasswordSet: type[PPCXAggregate.Event]
        SignedOutEverywhere: type[PPCXAggregate.Event]
        Disabled: type[PPCXAggregate.Event]

    @event("Invited")
    def __init__(
        self,
        id: str,
        email: str,
        role: str,
        owner_id: str | None,
        invite_hash: str,
        invite_expires_at: datetime,
        by: str,
        timestamp: datetime,
    ) -> None:
        self.email = email
        self.role = role
        self.owner_id = owner_id
        self.invite_hash: str | None = invite_hash
        self.invite_expires_at = invite_expires_at
        self.password_hash: str | None = None
        self.session_epoch = 0
        self.disabled = False

    @event("PasswordSet")
    def set_password(self, password_hash: str, by: str, timestamp: datetime) -> None:
        """The invite is used up; sessions opened before (none, for a new user) end."""
        self.password_hash = password_hash
        self.invite_hash = None
        self.session_epoch += 1

    @event("SignedOutEverywhere")
    def sign_out_everywhere(self, by: str, timestamp: datetime) -> None:
        self.session_epoch += 1

    @event("Disabled")
    def disable(self, by: str, timestamp: datetime) -> None:
        self.disabled = True
        self.session_epoch += 1

    def invite_open_at(self, now: datetime) -> bool:
        """The invite can still be used: not used, not expired, the user not disabled."""
        return self.invite_hash is not None and now < self.invite_expires_at and not self.disabled

    def can_sign_in(self) -> bool:
        return self.password_hash is not None and not self.disabled


def normal_email(value: object, field: str = "email") -> str:
    """An address as users are found by: trimmed, lower-case, one `@` with text either side
    (the mail system is the real check: the invite goes to it)."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be an e-mail address", field=field)
    email = value.strip().lower()
    local, at, domain = email.partition("@")
    if (
        not at
        or not local
        or "." not in domain
        or "@" in domain
        or len(email) not in EMAIL_LENGTH
        or not email.isprintable()
        or any(c.isspace() for c in email)
    ):
        raise ValidationError(
            f"{field} must be an e-mail address such as ana@example.com", field=field
        )
    return email


def user_id_for(email: str) -> str:
    """A user's id follows from the address: one account per address, found without an index."""
    return derived_id("usr", email)


def check_password(value: object, field: str = "password") -> str:
    if not isinstance(value, str) or len(value) not in PASSWORD_LENGTH:
        raise ValidationError(
            f"{field} must be {PASSWORD_LENGTH.minimum}-{PASSWORD_LENGTH.maximum} characters",
            field=field,
        )
    if value.strip() != value or not value.isprintable():
        raise ValidationError(
            f"{field} must be printable and must not start or end with a blank", field=field
        )
    return value
