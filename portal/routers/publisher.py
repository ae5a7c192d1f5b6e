"""Publisher pages (portal part 1): campaigns it may send to, its pings and calls, statements,
tracking numbers and DNI pools."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
