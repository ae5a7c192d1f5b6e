"""Domain errors: what a caller did wrong, with the field it concerns. Nothing is recorded.

Each class's `code` is the last part of the API's problem `type` (hyphenated, one spelling;
the API lists them all in docs/API.md)."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a command can raise for bad input or a refused action."""

    code = "bad-request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationError(DomainError, ValueError):
    """A value is malformed or out of range."""

    code = "validation"


class InvalidFields(ValidationError):
    """Several fields are malformed or out of range: each error, reported together (a change
    of several fields names every bad one)."""

    def __init__(self, errors: list[ValidationError]) -> None:
        super().__init__(
            "; ".join(e.message for e in errors) or "the request is not valid",
            field=errors[0].field if errors else None,
        )
        self.errors = errors


class NotFound(DomainError, LookupError):
    """The referenced object does not exist."""

    code = "not-found"


class Conflict(DomainError):
    """The object's state does not allow the command (already posted, paused, ...)."""

    code = "conflict"


class Refused(Conflict):
    """The exchange refuses the action for a business reason it names (`reason`): a blocked
    caller's call is not routed."""

    code = "refused"

    def __init__(self, message: str, *, reason: str, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.reason = reason


class ArchivedError(Conflict):
    """The object is archived: it keeps its history and can be read, never changed."""

    code = "archived"


class Suspended(DomainError):
    """The acting publisher is suspended: its pings and posts are refused (403, with the
    `reason` the body names)."""

    code = "forbidden"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.reason = "suspended"


class InsufficientFunds(Conflict):
    """The buyer's available balance would drop below minus its credit limit."""

    code = "insufficient-funds"


class Expired(Conflict):
    """The bid or hold expired before the command arrived."""

    code = "expired"


class ConcurrencyConflict(Conflict):
    """Optimistic-concurrency retries were exhausted on a hot aggregate."""

    code = "concurrency-conflict"


class RateLimited(DomainError):
    """Too many requests of one owner (a publisher's pings, a client's DNI requests): refused
    until its token bucket refills (429, with `Retry-After` and the RateLimit headers)."""

    code = "rate-limited"

    def __init__(self, message: str, *, policy: str, state: str, retry_after_ms: int) -> None:
        super().__init__(message)
        self.reason = "rate_limited"
        self.policy = policy  # the `RateLimit-Policy` header's value
        self.state = state  # the `RateLimit` header's value
        self.retry_after_ms = retry_after_ms
