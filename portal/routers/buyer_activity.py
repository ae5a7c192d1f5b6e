"""Buyer pages (portal part 1): calls and their timelines, conversions, disputes, billing and
performance."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
