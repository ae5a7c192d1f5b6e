"""The Ringba-style RTB ping's parameters (`POST`/`GET /v1/rtb/{campaign_id}.json`), parsed
strictly: each is a string in the documented form or the ping is refused with 422 naming it —
nothing is trimmed, cut or guessed. An empty value means "not known" (Ringba fills an unknown
tag with ""); parameters PPCX does not use are ignored, as Ringba sends many."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain.errors import ValidationError
from domain.geo import Geo, parse_caller, parse_state, parse_zip
from domain.limits import ATTRIBUTION_TEXT_LENGTH_MAX
from domain.screening import CallerLine

EXPOSE = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}
# A caller id: E.164 with its "+", or a North American number as 11 digits (1 and the ten)
# or as its ten national digits. ASCII digits only, nothing around them.
_NANP_NATIONAL_RE = re.compile(r"[2-9][0-9]{9}")
_NANP_FULL_RE = re.compile(r"1[2-9][0-9]{9}")


@dataclass(frozen=True)
class RtbPing:
    number: str | None  # None: anonymous, or the publisher chose not to expose it
    geo: Geo
    sub_id: str | None
    caller_line: CallerLine | None = None  # the number classified (screened before the auction)


def _text(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string", field=name)
    return value


def caller_id(cid: str) -> tuple[str, CallerLine]:
    """The E.164 number of an RTB caller id (`+13105550123`, `13105550123`, `3105550123`),
    with its classification (a number that is not valid is screened, not refused)."""
    if cid.startswith("+"):
        return parse_caller(cid, "CID")
    if _NANP_FULL_RE.fullmatch(cid):
        return parse_caller("+" + cid, "CID")
    if _NANP_NATIONAL_RE.fullmatch(cid):
        return parse_caller("+1" + cid, "CID")
    raise ValidationError(
        "CID must be an E.164 number (+13105550123) or a North American one of 10 or 11 "
        "digits (3105550123, 13105550123)",
        field="CID",
    )


def parse_rtb_ping(params: Mapping[str, Any]) -> RtbPing:
    expose_text = params.get("exposeCallerId", "yes")
    expose = (
        expose_text
        if isinstance(expose_text, bool)
        else EXPOSE.get(expose_text)
        if isinstance(expose_text, str)
        else None
    )
    if expose is None:
        raise ValidationError(
            f"exposeCallerId must be one of {', '.join(EXPOSE)}", field="exposeCallerId"
        )
    cid = _text(params, "CID")
    number, line = caller_id(cid) if cid is not None and expose else (None, None)
    state_field = "State" if "State" in params else "state"
    state = _text(params, state_field)
    if state is not None:
        parse_state(state, state_field)
    zip_code = _text(params, "zipcode")
    if zip_code is not None:
        parse_zip(zip_code, "zipcode")
    geo = Geo.of_caller(number, state, zip_code, None)
    sub_id = _text(params, "SubID")
    if sub_id is not None and (
        len(sub_id) > ATTRIBUTION_TEXT_LENGTH_MAX or not sub_id.isprintable()
    ):
        raise ValidationError(
            f"SubID must be at most {ATTRIBUTION_TEXT_LENGTH_MAX} printable characters",
            field="SubID",
        )
    return RtbPing(number=number, geo=geo, sub_id=sub_id, caller_line=line)
