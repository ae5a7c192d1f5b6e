"""The OpenAPI document tells the truth about what the API answers (api/openapi.py): every
error as the problem document `api.problems` writes, the bearer scheme, the
Idempotency-Key, links, examples; and the docs pages need no internet."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import openapi
from api.app import build_app
from api.problems import PROBLEM, PROBLEM_TYPES, TYPE_BASE, problem_response

pytestmark = pytest.mark.unit


@asynccontextmanager
async def no_services(app: FastAPI) -> AsyncIterator[Any]:
    yield None  # the document and the docs pages need none


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return build_app(no_services)


@pytest.fixture(scope="module")
def document(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def test_the_problem_schema_is_the_shape_the_api_writes(document: dict[str, Any]) -> None:
    schema = document["components"]["schemas"]["Problem"]
    written = orjson.loads(
        problem_response(
            409,
            "refused",
            kind="refused",
            errors=[{"field": "caller.number", "message": "blocked"}],
            instance="/v1/pings",
            extensions={"reason": "blocked"},
        ).body
    )
    assert set(written) <= set(schema["properties"])
    assert set(schema["required"]) == {"type", "title", "status", "detail"}
    assert set(schema["properties"]["type"]["enum"]) == {TYPE_BASE + k for k in PROBLEM_TYPES}
    error = document["components"]["schemas"]["ProblemError"]
    assert set(error["required"]) == {"field", "message"}
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_every_error_is_a_problem_document(document: dict[str, Any]) -> None:
    for name, operation in operations(document):
        if name == "GET /readyz":  # its 503 is the readiness report, not an error
            continue
        errors = {s: r for s, r in operation["responses"].items() if s[0] in "45"}
        for status, response in errors.items():
            assert set(response["content"]) == {PROBLEM}, (name, status)
            assert response["content"][PROBLEM]["schema"] == openapi.PROBLEM_REF, (name, status)
        if operation.get("parameters") or operation.get("requestBody"):
            assert "422" in errors, name


def test_auth_idempotency_and_services_statuses_are_derived(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <api key>`",
    }
    public = {"GET /healthz", "GET /readyz", "GET /v1/dni/number"}
    for name, operation in operations(document):
        if name in public or name.startswith("POST /v1/voice/"):
            assert "security" not in operation, name
            continue
        assert {"bearer": []} in operation["security"], name
        assert {"401", "403", "503"} <= set(operation["responses"]), name
        if name.startswith("POST "):
            headers = [p for p in operation["parameters"] if p["in"] == "header"]
            assert [h["name"] for h in headers] == ["Idempotency-Key"], name
            assert "409" in operation["responses"], name
        if "{" in name:
            assert "404" in operation["responses"], name
    assert {"bearer": []} in document["paths"]["/v1/rtb/{campaign_id}.json"]["get"]["security"]


def test_patterns_and_enums_in_the_schemas(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["TargetIn"]["properties"]["buyer_id"]["pattern"] == "^buy_[0-9a-f]{32}$"
    path_id = document["paths"]["/v1/targets/{target_id}/bid"]["put"]["parameters"][0]
    assert path_id["schema"]["pattern"] == "^tgt_[0-9a-f]{32}$"
    e164 = schemas["BlockIn"]["properties"]["number"]["pattern"]
    assert re.fullmatch(e164, "+13105550123")
    assert not re.fullmatch(e164, "3105550123")
    money = schemas["BidIn"]["properties"]["amount"]["pattern"]
    assert re.fullmatch(money, "45.50")
    assert not re.fullmatch(money, "45.505")
    positive = schemas["DepositIn"]["properties"]["amount"]["pattern"]
    assert re.fullmatch(positive, "0.01")
    assert not re.fullmatch(positive, "0.00")
    limit = next(
        p for p in document["paths"]["/v1/calls"]["get"]["parameters"] if p["name"] == "limit"
    )
    assert {"minimum", "maximum"} <= set(limit["schema"])  # not pydantic's ge/le
    report = document["paths"]["/v1/reports/{name}"]["get"]["parameters"][0]
    assert report["schema"]["enum"]


def test_every_operation_has_a_request_and_a_response_example(document: dict[str, Any]) -> None:
    for name, operation in operations(document):
        for content in operation.get("requestBody", {}).get("content", {}).values():
            assert "example" in content or "examples" in content, name
        for status, response in operation["responses"].items():
            for content in response.get("content", {}).values():
                assert "example" in content or "examples" in content, (name, status)


def test_links_are_declared_from_the_table_where_both_ends_exist(
    document: dict[str, Any],
) -> None:
    added = openapi.add_links(orjson.loads(orjson.dumps(document)))
    assert added  # the table is not stale: today's routes are linked
    created = document["paths"]["/v1/targets"]["post"]["responses"]["201"]["links"]
    assert created["set_bid"] == {
        "operationId": "set_bid",
        "parameters": {"target_id": "$response.body#/id"},
    }
    pinged = document["paths"]["/v1/pings"]["post"]["responses"]["200"]["links"]
    assert pinged["post"]["parameters"] == {"ping_id": "$response.body#/ping_id"}
    # a route that arrives later plugs in by existing, whatever its parameter is called
    later = orjson.loads(orjson.dumps(document))
    later["paths"]["/v1/targets/{id}"] = {"patch": {"operationId": "change_target"}}
    openapi.add_links(later)
    links = later["paths"]["/v1/targets"]["post"]["responses"]["201"]["links"]
    assert links["change_target"]["parameters"] == {"id": "$response.body#/id"}


def test_operation_ids_are_the_route_names(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, operation in operations(document)]
    assert len(ids) == len(set(ids))
    assert "create_target" in ids
    assert "ping" in ids


def test_docs_pages_use_only_local_assets_and_they_load(app: FastAPI) -> None:
    with TestClient(app) as client:
        for page in ("/docs", "/redoc"):
            html = client.get(page)
            assert html.status_code == 200
            urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html.text)
            urls += re.findall(r"""url: ?["']([^"']+)["']""", html.text)
            assert urls, page
            for url in urls:
                assert url.startswith("/"), (page, url)  # no CDN, no web fonts
                assert client.get(url).status_code == 200, url
            assert "https://" not in html.text.replace("https://ppcx.dev", ""), page
