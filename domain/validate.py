"""Small validators shared by the handlers; each raises ValidationError naming the field."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from domain.errors import ValidationError
from domain.limits import NAME_LENGTH, ORIGIN_LENGTH_MAX, TEXT_LENGTH_MAX, URL_LENGTH_MAX, Range

# matched against the whole string, ASCII only
SLUG_PATTERN = "[a-z][a-z0-9_]{0,39}"
_SLUG_RE = re.compile(SLUG_PATTERN)
_SIP_RE = re.compile(r"sips?:[^@\s]+@[A-Za-z0-9.\-]+(:[0-9]{1,5})?(;[^\s]*)?", re.ASCII)
_ORIGIN_RE = re.compile(
    r"(https?)://([a-z0-9](?:[a-z0-9\-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?)*"
    r"|\[[0-9a-f:.]+\])(?::(\d{1,5}))?"
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def name(value: object, field: str = "name") -> str:
    """A name as written: not empty, printable, no blanks around it (refused, not stripped)."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field} must not be empty", field=field)
    if len(value) > NAME_LENGTH.maximum or not value.isprintable():
        raise ValidationError(
            f"{field} must be at most {NAME_LENGTH.maximum} printable characters", field=field
        )
    if value != value.strip():
        raise ValidationError(f"{field} must not begin or end with blanks", field=field)
    return value


def text(value: object, field: str, length_max: int = TEXT_LENGTH_MAX) -> str:
    """Free text, kept as written."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be text", field=field)
    if len(value) > length_max:
        raise ValidationError(f"{field} must be at most {length_max} characters", field=field)
    return value


def slug(value: object, field: str) -> str:
    if not isinstance(value, str) or not _SLUG_RE.fullmatch(value):
        raise ValidationError(
            f"{field} must be lower-case letters, digits and _ (e.g. home_services)", field=field
        )
    return value


def integer(value: object, field: str, bounds: Range) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{field} must be a whole number", field=field)
    if value not in bounds:
        raise ValidationError(
            f"{field} must be between {bounds.minimum} and {bounds.maximum}", field=field
        )
    return value


def boolean(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"{field} must be true or false", field=field)
    return value


def http_url(value: object, field: str) -> str:
    if not isinstance(value, str) or len(value) > URL_LENGTH_MAX:
        raise ValidationError(f"{field} must be an http(s) URL", field=field)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(f"{field} must be an http(s) URL", field=field)
    return value


def origin(value: object, field: str) -> str:
    """A web origin as browsers send it in `Origin`: `http(s)://host[:port]`, no path, query
    or user. Scheme and host are lower-cased and a default port dropped, so the result
    compares equal to the header."""
    text = value.lower() if isinstance(value, str) and len(value) <= ORIGIN_LENGTH_MAX else ""
    match = _ORIGIN_RE.fullmatch(text)
    port = int(match.group(3)) if match and match.group(3) else None
    if match is None or (port is not None and not 1 <= port <= 65535):
        raise ValidationError(
            f"{field} lists origins as scheme://host[:port] (http or https, no path), "
            f"e.g. https://landing.example.com; got {value!r:.100}",
            field=field,
        )
    scheme, host = match.group(1), match.group(2)
    return (
        f"{scheme}://{host}"
        if port in (None, _DEFAULT_PORTS[scheme])
        else f"{scheme}://{host}:{port}"
    )


def sip_uri(value: str) -> bool:
    return bool(_SIP_RE.fullmatch(value))
