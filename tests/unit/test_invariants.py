"""Production invariants survive `python -O` (a bare assert would not: ruff's S101 refuses
one outside the tests), and the helpers narrow what they check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from domain.invariant import InvariantViolation, invariant, present, unreachable

ROOT = Path(__file__).resolve().parents[2]
# the caller's number must never reach a real-time bidder, even in an optimised interpreter
NUMBER_TO_A_BIDDER = """
import asyncio
from domain.caps import Caps
from domain.geo import GeoRule
from domain.invariant import InvariantViolation
from domain.schedule import WeeklySchedule
from exchange.bidders import collect_rtb_bids
from exchange.market import TargetRule

assert False, "asserts are stripped under -O"
target = TargetRule(
    "tgt_1", "buy_1", "cmp_1", "T", "+13105550100", None, "http://127.0.0.1:9/", 150, 60,
    GeoRule(), WeeklySchedule(), Caps(), 0, 1, False,
)
for request in ({"caller_number": "+13105550123"}, {"caller": {"number": "+13105550123"}}):
    try:
        asyncio.run(collect_rtb_bids(None, [target], request, deadline_ms=50, floor_cents=0))
    except InvariantViolation as error:
        print("refused:", error)
"""


def test_present_returns_the_value_and_refuses_none() -> None:
    assert present(0, "zero is a value") == 0
    with pytest.raises(InvariantViolation, match="needed"):
        present(None, "needed")


def test_unreachable_and_invariant_raise_an_assertion_error() -> None:
    with pytest.raises(AssertionError, match="cannot run"):
        unreachable("cannot run")
    with pytest.raises(InvariantViolation, match="broken"):
        invariant(False, "broken")
    invariant(True, "holds")


def test_the_callers_number_is_refused_to_a_bidder_under_python_o() -> None:
    done = subprocess.run(
        [sys.executable, "-O", "-c", NUMBER_TO_A_BIDDER],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["refused: never send the caller's number"] * 2
