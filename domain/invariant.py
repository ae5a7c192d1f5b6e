"""`invariant(cond, msg)`: a check that survives `python -O` and stops the operation loudly."""

from __future__ import annotations


class InvariantViolation(AssertionError):
    """A broken invariant: a bug or corrupted data, never a user error."""


def invariant(condition: bool, message: str) -> None:
    if not condition:
        raise InvariantViolation(message)
