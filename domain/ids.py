"""Opaque string ids with a prefix that says what they name."""

from __future__ import annotations

import re
import uuid

from domain.errors import NotFound, ValidationError
from domain.invariant import invariant
from domain.limits import COMMAND_ID_LENGTH

_NAMESPACE = uuid.UUID("6f1c3f8e-6d2a-4b8e-9a51-2f1e8c0d7b44")
PREFIXES = frozenset(
    {
        "pub",
        "buy",
        "cmp",
        "tgt",
        "num",
        "pool",
        "key",
        "call",
        "cmd",
        "dsp",
        "tx",
        "hold",
        "usr",
        "whk",
        "sqr",
        "rlr",
        "trf",
        "rec",  # a call recording (`domain/recording.py`)
        "scm",
    }
)
# matched against the whole string (`re.match` with `$` would let a trailing newline through)
_ID_RE = re.compile(r"([a-z]+)_[0-9a-f]{32}")
_DISPUTE_RE = re.compile(r"dsp_([0-9a-f]{32})[0-9a-f]{8}")


def new_id(prefix: str) -> str:
    invariant(prefix in PREFIXES, f"unknown id prefix {prefix!r}")
    return f"{prefix}_{uuid.uuid4().hex}"


def derived_id(prefix: str, *parts: str) -> str:
    """A deterministic id: the same command id (or parts) always names the same object."""
    invariant(prefix in PREFIXES, f"unknown id prefix {prefix!r}")
    return f"{prefix}_{uuid.uuid5(_NAMESPACE, '|'.join(parts)).hex}"


def dispute_id(call_id: str, token: str | None) -> str:
    """A dispute's id names its call (so `POST /v1/disputes/{id}/resolve` finds it without an
    index): `dsp_<call hex><8 hex>`; `token` (a command id) makes it deterministic."""
    call_hex = call_id.split("_", 1)[1]
    suffix = uuid.uuid5(_NAMESPACE, f"{call_id}|{token}").hex if token else uuid.uuid4().hex
    return f"dsp_{call_hex}{suffix[:8]}"


def call_of_dispute(value: str) -> str | None:
    """The call a dispute id names, or None when it is not a dispute id."""
    match = _DISPUTE_RE.fullmatch(value)
    return f"call_{match.group(1)}" if match else None


def require_id(value: object, prefix: str, field: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be an id such as {prefix}_…", field=field)
    match = _ID_RE.fullmatch(value)
    if match is None or match.group(1) != prefix:
        raise ValidationError(f"{field} is not a valid {prefix}_… id", field=field)
    return value


def require_subject_id(value: object, prefix: str, field: str) -> str:
    """The id of the object a command acts on (the id in an API path): a malformed one names
    nothing, so it is NotFound exactly as an unknown or another tenant's is — same message,
    no hint which. Ids that refer to other objects (in a request body) use `require_id`."""
    if not isinstance(value, str) or not _is_id(value, prefix):
        raise NotFound(f"{field} {value!r} does not exist", field=field)
    return value


def _is_id(value: str, prefix: str) -> bool:
    match = _ID_RE.fullmatch(value)
    return match is not None and match.group(1) == prefix


def require_command_id(value: object, field: str = "command_id") -> str:
    if not isinstance(value, str) or len(value) not in COMMAND_ID_LENGTH or not value.isprintable():
        raise ValidationError(
            f"{field} must be {COMMAND_ID_LENGTH.minimum}-{COMMAND_ID_LENGTH.maximum} "
            "printable characters",
            field=field,
        )
    return value
