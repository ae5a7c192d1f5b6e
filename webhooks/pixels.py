"""GET webhooks ("pixels"): a URL template whose tokens are filled, URL-encoded, from the body a
POST webhook would carry for the same event and recipient (`webhooks.payloads`), so a pixel
never tells more than that body: a publisher's has no revenue, a buyer's no publisher or
attribution. A token the body has no value for is filled with nothing.

Tokens sit in the path, query or fragment only: a template whose scheme or host had one would
send the call's data to a host no one checked."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from domain.api_key import Role
from domain.errors import ValidationError
from domain.redaction import INTERNAL_ROLES
from webhooks.payloads import Payload


def _call(name: str) -> Callable[[Payload], Any]:
    return lambda body: _get(body["data"].get("call"), name)


def _attribution(name: str) -> Callable[[Payload], Any]:
    return lambda body: _get(_get(body["data"].get("call"), "attribution"), name)


def _geo(name: str) -> Callable[[Payload], Any]:
    return lambda body: _get(_get(body["data"].get("call"), "geo"), name)


def _data(name: str) -> Callable[[Payload], Any]:
    return lambda body: body["data"].get(name)


# each token and where in the body its value is
TOKENS: Mapping[str, Callable[[Payload], Any]] = {
    "call_id": _data("call_id"),
    "event": lambda body: body["type"],
    "campaign_id": _call("campaign_id"),
    "publisher_id": _call("publisher_id"),
    "source": _attribution("source"),
    "keyword": _attribution("keyword"),
    "click_id": _attribution("click_id"),
    "payout": _data("payout"),
    "revenue": _data("revenue"),
    "duration_s": _data("duration_s"),
    "state": _geo("state"),
    "zip": _geo("zip"),
}
# tokens only buyers and internal keys are given (the body already lacks them for the others;
# this says so twice)
BUYER_TOKENS = frozenset({"revenue"})
_TOKEN = re.compile(r"\{([^{}]*)\}")
_FIELD = "url"


def check_template(url: str) -> str:
    """The template, when every `{token}` is known and none is in the scheme or host; else a
    ValidationError naming the first fault."""
    for match in _TOKEN.finditer(url):
        if match.group(1) not in TOKENS:
            known = ", ".join("{" + t + "}" for t in TOKENS)
            raise ValidationError(
                f"unknown token {match.group(0)} in the URL (known: {known})", field=_FIELD
            )
    rest_of_url = _TOKEN.sub("", url)
    if "{" in rest_of_url or "}" in rest_of_url:
        raise ValidationError("a brace in the URL that opens or closes no token", field=_FIELD)
    scheme, _, rest = url.partition("://")
    if "{" in scheme or "{" in re.split(r"[/?#]", rest, maxsplit=1)[0]:
        raise ValidationError("tokens go in the path or query, not the host", field=_FIELD)
    return url


def fill(url: str, body: Payload, role: str) -> str:
    """The pixel's URL for one event: the template checked, each token replaced by its value
    in the recipient's body (`role` is the recipient's), URL-encoded."""
    check_template(url)

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in BUYER_TOKENS and role not in INTERNAL_ROLES and role != Role.BUYER:
            return ""
        return quote(_text(TOKENS[name](body)), safe="")

    return _TOKEN.sub(value, url)


def _get(parent: Any, name: str) -> Any:
    return parent.get(name) if isinstance(parent, Mapping) else None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
