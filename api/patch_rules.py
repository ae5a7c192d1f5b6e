"""A PATCH whose body has fields of the wrong shape (pydantic's 422) is also checked by the
parsing rules on the fields whose shape is right, so one 422 names every bad field: shape and
rule errors together. Rules that need the object's current state (a bid below the campaign's
floor, say) run only once the shapes are right, in the handler."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel
from pydantic import ValidationError as ShapeError

from api.models_changes import BuyerPatch, CampaignPatch, PublisherPatch, TargetPatch
from domain.errors import InvalidFields, ValidationError
from handlers import parse_changes

Check = Callable[[str, Any], object]
# route path → (its body model, the parse that checks the rules of the fields it gives)
CHECKS: dict[str, tuple[type[BaseModel], str, Check]] = {
    "/v1/targets/{target_id}": (
        TargetPatch,
        "target_id",
        lambda id_, m: parse_changes.change_target(
            target_id=id_, **m.given(), by="-", buyer_id=None
        ),
    ),
    "/v1/campaigns/{campaign_id}": (
        CampaignPatch,
        "campaign_id",
        lambda id_, m: parse_changes.change_campaign(
            campaign_id=id_, **m.model_dump(exclude_none=True), by="-"
        ),
    ),
    "/v1/buyers/{buyer_id}": (
        BuyerPatch,
        "buyer_id",
        lambda id_, m: parse_changes.change_buyer(
            buyer_id=id_, **m.model_dump(exclude_none=True), by="-"
        ),
    ),
    "/v1/publishers/{publisher_id}": (
        PublisherPatch,
        "publisher_id",
        lambda id_, m: parse_changes.change_publisher(
            publisher_id=id_, **m.model_dump(exclude_none=True), by="-"
        ),
    ),
}


def rule_errors(
    route_path: str, path_params: Mapping[str, Any], body: object, bad_fields: set[str]
) -> list[dict[str, str]]:
    """The rule errors of the body's well-shaped fields (none already named in `bad_fields`,
    the top-level fields whose shape failed)."""
    check = CHECKS.get(route_path)
    if check is None or not isinstance(body, dict):
        return []
    model, id_name, parse = check
    rest = {k: v for k, v in body.items() if k not in bad_fields}
    try:
        given = model.model_validate(rest)
        parse(str(path_params.get(id_name, "")), given)
    except ShapeError:
        return []  # nothing more can be said of these fields until their shapes are right
    except InvalidFields as error:
        return [{"field": e.field or "body", "message": e.message} for e in error.errors]
    except ValidationError as error:
        return [{"field": error.field or "body", "message": error.message}]
    except Exception:
        return []
    return []
