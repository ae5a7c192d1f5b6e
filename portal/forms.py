"""Form errors in the API's words: a domain error, every field of an InvalidFields, or
pydantic's validation errors become `{field: message}` for the form that was posted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from pydantic import ValidationError as ShapeError

from domain.errors import DomainError, InvalidFields


def field_errors(error: Exception) -> dict[str, str]:
    """Each bad field's message, keyed by the API's dotted field path ("" for the form)."""
    if isinstance(error, InvalidFields):
        return {e.field or "": e.message for e in error.errors}
    if isinstance(error, DomainError):
        return {error.field or "": error.message}
    if isinstance(error, ShapeError):
        found: dict[str, str] = {}
        for e in error.errors():
            path = ".".join(str(part) for part in e.get("loc", ()))
            found.setdefault(path, str(e.get("msg", "")))
        return found
    raise error


def blank_is_unset(form: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The named fields the form filled in (an empty input means "not given")."""
    return {n: form[n] for n in names if isinstance(form.get(n), str) and form[n].strip() != ""}


def parsed(model: type[BaseModel], data: Mapping[str, Any]) -> BaseModel:
    return model.model_validate(data)
