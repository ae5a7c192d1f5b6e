"""Invariants of production code: checks that survive `python -O` (a bare `assert` does not)
and stop the operation loudly. A broken invariant is a bug or corrupted data, never a user
error.

- `invariant(cond, msg)`: the condition holds;
- `present(value, msg)`: the value is there (not None) — returned, its type narrowed;
- `unreachable(msg)`: a branch that cannot run (the type checker cannot see why).
"""

from __future__ import annotations

from typing import NoReturn, TypeVar

T = TypeVar("T")


class InvariantViolation(AssertionError):
    """A broken invariant: a bug or corrupted data, never a user error."""


def invariant(condition: bool, message: str) -> None:
    if not condition:
        raise InvariantViolation(message)


def present(value: T | None, message: str) -> T:
    """`value`, which must not be None."""
    if value is None:
        raise InvariantViolation(message)
    return value


def unreachable(message: str) -> NoReturn:
    raise InvariantViolation(message)
