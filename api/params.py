"""Query parameters, as strict as bodies: pydantic's own parsing of a query string reads
"1_0", "+10", " 10" and "10.0" as 10, and a date alone, epoch seconds or a time without an
offset as a datetime. These types take ASCII digits and RFC 3339 date-times with an offset
only (the errors name the parameter)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import Query
from pydantic import BeforeValidator

from domain.clock import parse_rfc3339
from domain.invariant import present
from domain.limits import CURSOR_LENGTH_MAX, PAGE_LIMIT

_WHOLE_NUMBER_RE = re.compile(r"[0-9]{1,19}")


def _whole_number(value: object) -> object:
    if isinstance(value, str) and _WHOLE_NUMBER_RE.fullmatch(value) is None:
        raise ValueError("must be a whole number in ASCII digits")
    return value


def _time(value: object) -> datetime:
    return parse_rfc3339(value, "the time")


QueryInt = Annotated[int, BeforeValidator(_whole_number)]
QueryTime = Annotated[datetime, BeforeValidator(_time)]
# a list's page: `limit: PageLimit = PAGE_LIMIT_DEFAULT`, `cursor: PageCursor = None`
# (the bounds beside the validator, not around QueryInt: nested, they reach the OpenAPI
# document as `ge`/`le`, which no JSON Schema tool reads, instead of minimum/maximum)
PageLimit = Annotated[
    int,
    Query(ge=PAGE_LIMIT.minimum, le=PAGE_LIMIT.maximum),
    BeforeValidator(_whole_number),
]
PAGE_LIMIT_DEFAULT = present(PAGE_LIMIT.default, "a page has a default size")
PageCursor = Annotated[str | None, Query(max_length=CURSOR_LENGTH_MAX)]
# a journal cursor: the position of the last line seen
JOURNAL_CURSOR = r"^[0-9]{1,19}$"
