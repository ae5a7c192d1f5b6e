"""Input bounds are defined once (`domain/limits.py`): the API's fields and query parameters
name them instead of writing numbers, and where the API and the handlers used to disagree
the stricter bound is the one both use."""

from __future__ import annotations

import ast
from pathlib import Path

import pydantic
import pytest

from api.models import ApiKeyIn, CapsIn, DisputeIn
from domain import limits, validate
from domain.caps import Caps
from domain.errors import ValidationError

pytestmark = pytest.mark.unit
API = Path(__file__).resolve().parents[3] / "api"
# pydantic's and FastAPI's keywords that bound a value or a length
BOUND_KEYWORDS = frozenset(
    {"ge", "gt", "le", "lt", "min_length", "max_length", "multiple_of", "max_digits"}
)
BOUNDED_CALLS = frozenset({"Field", "Query", "Path", "Header", "Body", "StringConstraints"})


def literal_bounds(source: str, filename: str = "<source>") -> list[str]:
    """`file:line keyword=…` for each bound of a Field/Query/… call written with a number."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name not in BOUNDED_CALLS:
            continue
        for keyword in node.keywords:
            if keyword.arg in BOUND_KEYWORDS and any(
                isinstance(n, ast.Constant) and isinstance(n.value, int | float)
                for n in ast.walk(keyword.value)
            ):
                found.append(f"{filename}:{node.lineno} {keyword.arg}={ast.unparse(keyword.value)}")
    return found


def test_the_check_finds_a_number_written_in_a_bound() -> None:
    source = (
        "a = Field(default=3, max_length=200)\n"
        "b = Query(ge=LIMIT.minimum, le=7 * 86400)\n"
        "c = fastapi.Query(min_length=1)\n"
        "d = Field(default=30, ge=DAYS.minimum, le=DAYS.maximum)\n"
    )
    assert literal_bounds(source) == [
        "<source>:1 max_length=200",
        "<source>:2 le=7 * 86400",
        "<source>:3 min_length=1",
    ]


@pytest.mark.parametrize("path", sorted(API.rglob("*.py")), ids=lambda p: p.name)
def test_no_bound_of_the_api_is_a_literal_number(path: Path) -> None:
    assert literal_bounds(path.read_text(), str(path.relative_to(API.parent))) == []


def test_a_dispute_reason_is_bounded_as_the_handlers_bound_it() -> None:
    longest = "x" * limits.DISPUTE_REASON_LENGTH.maximum
    assert DisputeIn(reason=longest).reason == validate.name(longest, "reason")
    with pytest.raises(pydantic.ValidationError):
        DisputeIn(reason=longest + "x")
    with pytest.raises(ValidationError):
        validate.name(longest + "x", "reason")


def test_a_key_label_is_bounded_as_the_api_bounds_it() -> None:
    longest = "x" * limits.KEY_LABEL_LENGTH_MAX
    assert ApiKeyIn(role="admin", label=longest).label == longest
    with pytest.raises(pydantic.ValidationError):
        ApiKeyIn(role="admin", label=longest + "x")
    with pytest.raises(ValidationError):
        validate.text(longest + "x", "label", limits.KEY_LABEL_LENGTH_MAX)


def test_caps_are_bounded_by_the_api_as_by_the_domain() -> None:
    top = limits.CAP.maximum
    assert CapsIn(daily=top).daily == Caps.parse({"daily": top}).daily == top
    with pytest.raises(pydantic.ValidationError):
        CapsIn(daily=top + 1)
    with pytest.raises(ValidationError):
        Caps.parse({"daily": top + 1})
