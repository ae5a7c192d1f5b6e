"""The OpenAPI document, made to tell the truth about what the API answers.

FastAPI writes the success responses from the routes' models. This module adds what it does
not know, derived from each route rather than written per route:

- every problem status the route can answer, as `application/problem+json` with the real
  problem schema (`Problem`, the shape `api.problems.problem_response` writes): 401/403 from
  its authentication, 404 from a path id or a referenced `*_id`, 422 from any parameter or
  body, 400/413/415 from a body, 409 from `Idempotency-Key` on a POST, 503 from the services
  (Redis, the projections);
- the `Idempotency-Key` header on every POST;
- the OpenAPI links of `LINKS` (create → read → change → archive) whose both ends exist;
- operation ids from the route functions' names (what generated clients call them).

A route declares the statuses its logic adds with one line: `responses=problems(409, 410)`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from api.auth import services
from api.problems import DEFAULT_KINDS, PROBLEM, PROBLEM_TYPES, TITLES, TYPE_BASE
from domain.limits import COMMAND_ID_LENGTH

PROBLEM_SCHEMA = "Problem"
PROBLEM_REF = {"$ref": f"#/components/schemas/{PROBLEM_SCHEMA}"}
# An Idempotency-Key: printable ASCII without surrounding spaces (HTTP strips them).
# The Ringba-style RTB routes take the key as a Bearer header or `?api_key=`.
API_KEY_SCHEME = "api_key"
RTB_SECURITY: dict[str, Any] = {"security": [{"bearer": []}, {API_KEY_SCHEME: []}]}
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]([ -~]*[!-~])?$"
WHAT = {
    400: "The body is not JSON, or a command was refused as malformed.",
    401: "No API key, or an unknown, expired or revoked one (`WWW-Authenticate: Bearer`).",
    403: "The key's role may not do this.",
    404: "The object does not exist, or belongs to another tenant (the same answer).",
    409: "The object's state does not allow this, or the `Idempotency-Key` was used with "
    "another request or is still in progress.",
    410: "The bid or hold expired.",
    413: "The body is too large.",
    415: "The body is not `application/json`.",
    416: "The range asked for lies outside the content (`Content-Range: bytes */<size>`).",
    422: "The request is invalid: `errors[]` names each field (dotted path) and why.",
    429: "Over a rate limit: retry after `Retry-After` seconds (`RateLimit-Policy` and "
    "`RateLimit` give the quota and what is left).",
    503: "A dependency is unavailable (Redis, the projections, telephony): retry "
    "(`Retry-After` when known).",
}


PROBLEM_TYPE_URIS = tuple(sorted({TYPE_BASE + kind for kind in PROBLEM_TYPES}))


class ProblemError(BaseModel):
    field: str = Field(description="the dotted path of the field", examples=["caller.number"])
    message: str = Field(examples=["must be an E.164 phone number such as +13105550123"])


class ProblemDocument(BaseModel):
    """An RFC 9457 problem document: every error the API answers."""

    model_config = ConfigDict(title=PROBLEM_SCHEMA, extra="allow")
    type: str = Field(
        json_schema_extra={"enum": list(PROBLEM_TYPE_URIS)},
        description="what kind of problem; the last part is listed in docs/API.md",
    )
    title: str = Field(examples=["Invalid input"])
    status: int = Field(description="the HTTP status", examples=[422])
    detail: str = Field(examples=["the request is not valid"])
    instance: str | None = Field(default=None, description="the request's path")
    errors: list[ProblemError] | None = Field(default=None, description="one entry per field")
    request_id: str | None = Field(
        default=None, description="the X-Request-ID of the request, as in the logs"
    )
    reason: str | None = Field(
        default=None, description="why the exchange refused (a `refused` problem)"
    )


def problem_example(status: int) -> dict[str, Any]:
    example: dict[str, Any] = {
        "type": TYPE_BASE + DEFAULT_KINDS[status],
        "title": TITLES[status],
        "status": status,
        "detail": WHAT[status],
        "instance": "/v1/…",
    }
    if status == 422:
        example["detail"] = "the request is not valid"
        example["errors"] = [{"field": "caller.number", "message": "must be an E.164 phone number"}]
    return example


def problem_response(status: int) -> dict[str, Any]:
    return {
        "description": WHAT[status],
        "content": {PROBLEM: {"schema": PROBLEM_REF, "example": problem_example(status)}},
    }


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for the statuses a route's own logic adds to the derived ones."""
    return {status: problem_response(status) for status in statuses}


# -- links ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """An OpenAPI link: what a `source` operation answers feeds the path of `target`.

    Operations are named "METHOD /path"; the path's parameter names do not matter for
    matching. Every path parameter of the target takes `source_id` (a runtime expression)
    unless `parameters` names another for it. A link whose ends are not both in the document
    is left out, so a route that arrives later plugs in by existing."""

    source: str
    target: str
    status: int = 201
    source_id: str = "$response.body#/id"
    parameters: Mapping[str, str] = field(default_factory=dict)


PING_ID = "$response.body#/ping_id"
CALL_ID = "$response.body#/call_id"
LINKS: tuple[Link, ...] = (
    Link("POST /v1/publishers", "GET /v1/publishers/{publisher_id}"),
    Link("POST /v1/publishers", "PATCH /v1/publishers/{publisher_id}"),
    Link("POST /v1/publishers", "GET /v1/statements/{publisher_id}"),
    Link("POST /v1/buyers", "GET /v1/buyers/{buyer_id}"),
    Link("POST /v1/buyers", "PATCH /v1/buyers/{buyer_id}"),
    Link("POST /v1/buyers", "POST /v1/buyers/{buyer_id}/deposits"),
    Link("POST /v1/buyers", "PUT /v1/buyers/{buyer_id}/credit-limit"),
    Link("POST /v1/buyers", "GET /v1/invoices/{buyer_id}"),
    Link("POST /v1/campaigns", "GET /v1/campaigns/{campaign_id}"),
    Link("POST /v1/campaigns", "PATCH /v1/campaigns/{campaign_id}"),
    Link("POST /v1/campaigns", "GET /v1/campaigns/{campaign_id}/history"),
    Link("POST /v1/campaigns", "POST /v1/campaigns/{campaign_id}/publishers"),
    Link(
        "POST /v1/campaigns/{campaign_id}/publishers",
        "DELETE /v1/campaigns/{campaign_id}/publishers/{publisher_id}",
        status=204,
        parameters={
            "campaign_id": "$request.path.campaign_id",
            "publisher_id": "$request.body#/publisher_id",
        },
    ),
    Link("POST /v1/targets", "GET /v1/targets/{target_id}"),
    Link("POST /v1/targets", "PATCH /v1/targets/{target_id}"),
    Link("POST /v1/targets", "DELETE /v1/targets/{target_id}"),
    Link("POST /v1/targets", "GET /v1/targets/{target_id}/history"),
    Link("POST /v1/targets", "PUT /v1/targets/{target_id}/bid"),
    Link("POST /v1/targets", "POST /v1/targets/{target_id}/pause"),
    Link("POST /v1/targets", "POST /v1/targets/{target_id}/resume"),
    Link("POST /v1/api-keys", "DELETE /v1/api-keys/{key_id}"),
    Link("POST /v1/webhooks", "GET /v1/webhooks/{webhook_id}"),
    Link("POST /v1/webhooks", "PATCH /v1/webhooks/{webhook_id}"),
    Link("POST /v1/webhooks", "POST /v1/webhooks/{webhook_id}/secret"),
    Link("POST /v1/webhooks", "DELETE /v1/webhooks/{webhook_id}"),
    Link("POST /v1/webhooks", "GET /v1/webhooks/{webhook_id}/deliveries"),
    Link("POST /v1/webhooks", "POST /v1/webhooks/{webhook_id}/test"),
    Link(
        "POST /v1/webhooks/{webhook_id}/test",
        "POST /v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
        200,
        parameters={
            "webhook_id": "$request.path.webhook_id",
            "delivery_id": "$response.body#/id",
        },
    ),
    Link("POST /v1/pings", "POST /v1/pings/{ping_id}/post", 200, PING_ID),
    Link("POST /v1/pings/{ping_id}/post", "GET /v1/calls/{call_id}", 200, CALL_ID),
    Link("POST /v1/pings/{ping_id}/post", "POST /v1/calls/{call_id}/events", 200, CALL_ID),
    Link("POST /v1/pings/{ping_id}/post", "POST /v1/calls/{call_id}/dispute", 200, CALL_ID),
    Link(
        "POST /v1/calls/{call_id}/dispute",
        "POST /v1/disputes/{dispute_id}/resolve",
        source_id="$response.body#/dispute_id",
    ),
)


def _shape(path: str) -> str:
    """The path with its parameter names erased: `/v1/targets/{}`."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def _operations(paths: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """ "METHOD /shape" -> (the document's path, the operation)."""
    return {
        f"{method.upper()} {_shape(path)}": (path, operation)
        for path, item in paths.items()
        for method, operation in item.items()
    }


def add_links(schema: dict[str, Any], links: tuple[Link, ...] = LINKS) -> list[Link]:
    """Put each link whose ends exist into the document; the links added."""
    operations = _operations(schema.get("paths", {}))
    added = []
    for link in links:
        source = operations.get(_shape(link.source))
        target = operations.get(_shape(link.target))
        response = source[1]["responses"].get(str(link.status)) if source else None
        if target is None or response is None:
            continue
        target_path, target_operation = target
        names = re.findall(r"\{([^}]*)\}", target_path)
        response.setdefault("links", {})[target_operation["operationId"]] = {
            "operationId": target_operation["operationId"],
            "parameters": {name: link.parameters.get(name, link.source_id) for name in names},
        }
        added.append(link)
    return added


# -- statuses derived from a route ------------------------------------------------------------


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def _references(route: Any) -> bool:
    """Whether the body names other objects by id (an unknown one is 404)."""
    body = route.body_field
    model = getattr(getattr(body, "field_info", None), "annotation", None)
    fields = getattr(model, "model_fields", {}) if isinstance(model, type) else {}
    return any(name.endswith("_id") for name in fields)


def derived_statuses(route: Any, operation: dict[str, Any]) -> set[int]:
    parts = list(_dependants(route.dependant))
    statuses: set[int] = set()
    if operation.get("security"):
        statuses |= {401, 403}
    if any(d.path_params for d in parts) or _references(route):
        statuses.add(404)
    if any(d.path_params or d.query_params or d.header_params for d in parts):
        statuses.add(422)
    methods = route.methods or set()
    if methods & {"POST", "PUT", "PATCH"}:
        statuses |= {413, 415}  # api.middleware.RequestGuard
        if route.body_field is not None:
            statuses |= {400, 422}
    if "POST" in methods:
        statuses |= {409, 422}  # Idempotency-Key reused; malformed
    if any(_uses_services(d) for d in parts):
        statuses.add(503)
    return statuses


def _uses_services(dependant: Dependant) -> bool:
    """Redis, the event store or the projections stand behind it (503 when one is down)."""
    return dependant.call is services


# A path's id, by its parameter's name: the shape documented (a malformed one is answered
# 404 like an unknown one, not 422 — docs/API.md "Unknown is 404").
PATH_ID_PATTERNS = {
    "publisher_id": "^pub_[0-9a-f]{32}$",
    "buyer_id": "^buy_[0-9a-f]{32}$",
    "campaign_id": "^cmp_[0-9a-f]{32}$",
    "target_id": "^tgt_[0-9a-f]{32}$",
    "key_id": "^key_[0-9a-f]{32}$",
    "call_id": "^call_[0-9a-f]{32}$",
    "ping_id": "^call_[0-9a-f]{32}$",
    "pool_id": "^pool_[0-9a-f]{32}$",
    "number_id": "^num_[0-9a-f]{32}$",
    "dispute_id": "^dsp_[0-9a-f]{40}$",
    "webhook_id": "^whk_[0-9a-f]{32}$",
    "delivery_id": "^msg_[A-Za-z0-9_-]{24}$",
}


def _path_ids(operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", []):
        pattern = PATH_ID_PATTERNS.get(parameter["name"])
        if parameter["in"] == "path" and pattern is not None:
            parameter["schema"]["pattern"] = pattern
            parameter.setdefault("description", "a malformed id is 404, as an unknown one")


IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "a retry with the same key and body gets the first answer and records "
    "nothing; the same key with another request is 409",
    "schema": {
        "type": "string",
        "minLength": COMMAND_ID_LENGTH.minimum,
        "maxLength": COMMAND_ID_LENGTH.maximum,
        "pattern": IDEMPOTENCY_KEY_PATTERN,
    },
    "example": "2f1c6a9e-order-42",
}


def _complete(route: Any, operation: dict[str, Any]) -> None:
    """Add the derived problem statuses (a route's own declaration of a status wins, except
    FastAPI's default 422, which is not the shape the API answers)."""
    responses = operation.setdefault("responses", {})
    for status in sorted(derived_statuses(route, operation)):
        declared = responses.get(str(status))
        if declared is None or "HTTPValidationError" in str(declared):
            responses[str(status)] = problem_response(status)
    if "POST" in (route.methods or set()):
        parameters = operation.setdefault("parameters", [])
        if not any(p.get("name") == IDEMPOTENCY_HEADER["name"] for p in parameters):
            parameters.append(IDEMPOTENCY_HEADER)


def example_of(  # noqa: PLR0911 - one answer per kind of schema
    schema: dict[str, Any], schemas: dict[str, Any], depth: int = 0
) -> Any:
    """An example value assembled from the schema: its own example, else its properties'
    examples and defaults (a model's fields carry theirs), else a placeholder of its type."""
    if depth > 8:
        return None
    if "$ref" in schema:
        return example_of(schemas[schema["$ref"].rsplit("/", 1)[-1]], schemas, depth + 1)
    if schema.get("examples"):
        return schema["examples"][0]
    for key in ("example", "default", "const"):
        if key in schema and schema[key] is not None:
            return schema[key]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        options = [o for o in schema.get(key, []) if o.get("type") != "null"]
        if options:
            return example_of(options[0], schemas, depth + 1)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {
            name: example_of(value, schemas, depth + 1)
            for name, value in schema.get("properties", {}).items()
        }
    if kind == "array":
        return [example_of(schema.get("items", {}), schemas, depth + 1)]
    return {"integer": 0, "number": 0, "boolean": True}.get(str(kind), "…")


def _examples(operation: dict[str, Any], schemas: dict[str, Any]) -> None:
    """A request and a response example on the operation, where it has none of its own."""
    media = list(operation.get("requestBody", {}).get("content", {}).values())
    media += [
        content
        for response in operation.get("responses", {}).values()
        for content in response.get("content", {}).values()
    ]
    for content in media:
        if "example" not in content and "examples" not in content and "schema" in content:
            content["example"] = example_of(content["schema"], schemas)


def _unused_validation_schemas(schema: dict[str, Any]) -> None:
    text = str(schema.get("paths"))
    for name in ("HTTPValidationError", "ValidationError"):
        if f"/{name}'" not in text:
            schema.get("components", {}).get("schemas", {}).pop(name, None)


def build_document(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        servers=app.servers,
    )
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})[API_KEY_SCHEME] = {
        "type": "apiKey",
        "in": "query",
        "name": "api_key",
        "description": "a publisher's key, for RTB pings only (never logged)",
    }
    components.setdefault("schemas", {})[PROBLEM_SCHEMA] = ProblemDocument.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    definitions = components["schemas"][PROBLEM_SCHEMA].pop("$defs", {})
    components["schemas"].update(definitions)
    for route in api_routes(app):
        if not route.include_in_schema:
            continue
        for method in route.methods or set():
            operation = schema["paths"][route.path_format].get(method.lower())
            if operation is not None:
                _complete(route, operation)
                _path_ids(operation)
                _examples(operation, components["schemas"])
    _unused_validation_schemas(schema)
    add_links(schema)
    return schema


def api_routes(app: FastAPI) -> Iterator[Any]:
    """The app's API routes as the document sees them (an included router's routes are
    contexts that read like an `APIRoute`: path_format, methods, dependant, body_field)."""
    for context in routing.iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context


def operation_id(route: APIRoute) -> str:
    """The route function's name: `create_target` (a generated client's method)."""
    return route.name


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
