"""A path id that names nothing the key may see is 404 — malformed, unknown or another
tenant's alike: same status, same problem type, the same words (the id aside), nothing
recorded. And every problem type the API can answer is listed in docs/API.md."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

import domain.errors
from api.problems import DEFAULT_KINDS, PROBLEM_TYPES, TYPE_BASE, domain_status
from domain.errors import DomainError, InvalidFields, RateLimited, Refused, ValidationError
from ppcx.settings import Settings
from tests.api.conftest import ADMIN_KEY, Market, auth, build_market, event_count

pytestmark = pytest.mark.e2e
ZEROS = "0" * 32


class World:
    """Two of everything, so that each route has another tenant's object to try."""

    def __init__(self, client: TestClient) -> None:
        self.market: Market = build_market(client)
        (self.pub_a, self.key_a), (self.pub_b, self.key_b) = list(self.market.publishers.items())
        (self.buy_a, self.bkey_a), (self.buy_b, self.bkey_b) = list(self.market.buyers.items())
        targets = {buyer: target for target, buyer in self.market.targets.items()}
        self.tgt_a, self.tgt_b = targets[self.buy_a], targets[self.buy_b]
        # publisher B's call, won by buyer A (the higher bid), billed and disputed
        offer = self.market.ping(self.key_b).json()
        self.call_b = client.post(
            f"/v1/pings/{offer['ping_id']}/post", headers=auth(self.key_b)
        ).json()["call_id"]
        for body in ({"type": "answered"}, {"type": "completed", "duration_s": 120}):
            done = client.post(
                f"/v1/calls/{self.call_b}/events", json=body, headers=auth(self.key_b)
            )
            assert done.status_code == 200, done.text
        self.dispute_b = client.post(
            f"/v1/calls/{self.call_b}/dispute", json={"reason": "wrong"}, headers=auth(self.bkey_a)
        ).json()["dispute_id"]
        # an unposted ping of publisher B
        self.ping_b = self.market.ping(self.key_b, number="+13105550124").json()["ping_id"]
        self.finance = self.market.finance_key


# (name, method, path with {id}, body, key of the caller, [malformed], unknown, other's)
Row = tuple[str, str, str, Any, str, list[str], str, str | None]


def _rows(w: World) -> list[Row]:
    question = {"from": "2026-01-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}
    query = "?from=" + question["from"] + "&to=" + question["to"]
    return [
        (
            "timeline",
            "GET",
            "/v1/calls/{id}",
            None,
            w.key_a,
            ["not-an-id"],
            f"call_{ZEROS}",
            w.call_b,
        ),
        (
            "timeline, buyer",
            "GET",
            "/v1/calls/{id}",
            None,
            w.bkey_b,
            [w.tgt_a],
            f"call_{ZEROS}",
            w.call_b,
        ),
        (
            "call event",
            "POST",
            "/v1/calls/{id}/events",
            {"type": "answered"},
            w.key_a,
            ["not-an-id", w.buy_a],
            f"call_{ZEROS}",
            w.call_b,
        ),
        ("post", "POST", "/v1/pings/{id}/post", None, w.key_a, ["xyz"], f"call_{ZEROS}", w.ping_b),
        (
            "conversion",
            "POST",
            "/v1/calls/{id}/conversion",
            {},
            w.bkey_b,
            ["not-an-id"],
            f"call_{ZEROS}",
            w.call_b,
        ),
        (
            "dispute",
            "POST",
            "/v1/calls/{id}/dispute",
            {"reason": "x"},
            w.bkey_b,
            ["not-an-id"],
            f"call_{ZEROS}",
            w.call_b,
        ),
        ("buyer", "GET", "/v1/buyers/{id}", None, w.bkey_b, ["xyz"], f"buy_{ZEROS}", w.buy_a),
        (
            "buyer, finance",
            "GET",
            "/v1/buyers/{id}",
            None,
            w.finance,
            ["xyz", w.pub_a],
            f"buy_{ZEROS}",
            None,
        ),
        (
            "bid",
            "PUT",
            "/v1/targets/{id}/bid",
            {"amount": "60.00"},
            w.bkey_b,
            ["xyz"],
            f"tgt_{ZEROS}",
            w.tgt_a,
        ),
        ("pause", "POST", "/v1/targets/{id}/pause", {}, w.bkey_b, ["xyz"], f"tgt_{ZEROS}", w.tgt_a),
        (
            "resume",
            "POST",
            "/v1/targets/{id}/resume",
            None,
            w.bkey_b,
            ["xyz"],
            f"tgt_{ZEROS}",
            w.tgt_a,
        ),
        (
            "invoice",
            "GET",
            "/v1/invoices/{id}" + query,
            None,
            w.bkey_b,
            ["xyz"],
            f"buy_{ZEROS}",
            w.buy_a,
        ),
        (
            "invoice, finance",
            "GET",
            "/v1/invoices/{id}" + query,
            None,
            w.finance,
            ["xyz"],
            f"buy_{ZEROS}",
            None,
        ),
        (
            "statement",
            "GET",
            "/v1/statements/{id}" + query,
            None,
            w.key_a,
            ["xyz"],
            f"pub_{ZEROS}",
            w.pub_b,
        ),
        (
            "statement, finance",
            "GET",
            "/v1/statements/{id}" + query,
            None,
            w.finance,
            ["xyz"],
            f"pub_{ZEROS}",
            None,
        ),
        (
            "deposit",
            "POST",
            "/v1/buyers/{id}/deposits",
            {"amount": "1.00"},
            w.finance,
            ["xyz", w.pub_a],
            f"buy_{ZEROS}",
            None,
        ),
        (
            "credit limit",
            "PUT",
            "/v1/buyers/{id}/credit-limit",
            {"credit_limit": "1.00"},
            w.finance,
            ["xyz"],
            f"buy_{ZEROS}",
            None,
        ),
        (
            "allow publisher",
            "POST",
            "/v1/campaigns/{id}/publishers",
            {"publisher_id": w.pub_a},
            ADMIN_KEY,
            ["xyz"],
            f"cmp_{ZEROS}",
            None,
        ),
        (
            "revoke key",
            "DELETE",
            "/v1/api-keys/{id}",
            None,
            ADMIN_KEY,
            ["xyz", w.buy_a],
            f"key_{ZEROS}",
            None,
        ),
        (
            "resolve",
            "POST",
            "/v1/disputes/{id}/resolve",
            {"accept": False},
            w.finance,
            ["xyz", w.call_b, w.dispute_b[:-1]],
            "dsp_" + "0" * 40,
            w.dispute_b[:-8] + "0" * 8,
        ),
        (
            "rtb",
            "POST",
            "/v1/rtb/{id}.json",
            {"CID": "3105550123"},
            w.key_a,
            ["xyz"],
            f"cmp_{ZEROS}",
            None,
        ),
    ]


def _normalised(response: Any, path_id: str) -> dict[str, Any]:
    assert response.status_code == 404, (path_id, response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    body.pop("instance")  # the request's path
    assert body.pop("request_id") == response.headers["x-request-id"]  # each request's own
    # the answer names the id it was given, in the same words whatever the id
    return orjson.loads(orjson.dumps(body).replace(orjson.dumps(path_id)[1:-1], b"<id>"))


def test_a_path_id_that_names_nothing_the_key_may_see_is_the_same_404(
    client: TestClient, api_settings: Settings
) -> None:
    w = World(client)
    # a second campaign publisher A may not send pings for: the RTB row's other tenant's
    other_campaign = w.market.admin(
        "POST",
        "/v1/campaigns",
        json={"name": "other", "vertical": "legal", "publisher_payout": {"fixed": "1.00"}},
    )["id"]
    before = event_count(api_settings)
    checked = 0
    for name, method, template, body, key, malformed, unknown, others in _rows(w):
        other = other_campaign if name == "rtb" else others
        ids = [*malformed, unknown, *([other] if other else [])]
        answers = []
        for path_id in ids:
            kwargs: dict[str, Any] = {"headers": auth(key)}
            if body is not None:
                kwargs["json"] = body
            response = client.request(method, template.replace("{id}", path_id), **kwargs)
            assert response.json()["type"] == TYPE_BASE + "not-found", (name, path_id)
            answers.append(_normalised(response, path_id))
            checked += 1
        assert all(a == answers[0] for a in answers), (name, answers)
    assert event_count(api_settings) == before
    assert checked >= 50


def test_ids_in_a_body_stay_422_when_malformed(client: TestClient) -> None:
    w = World(client)
    response = client.post(
        "/v1/targets",
        json={
            "buyer_id": "xyz",
            "campaign_id": w.market.campaign_id,
            "destination": "+13105550100",
            "bid": "10.00",
        },
        headers=auth(ADMIN_KEY),
    )
    assert response.status_code == 422, response.text
    assert response.json()["type"] == TYPE_BASE + "validation"
    allowed = client.post(
        f"/v1/campaigns/{w.market.campaign_id}/publishers",
        json={"publisher_id": "xyz"},
        headers=auth(ADMIN_KEY),
    )
    assert allowed.status_code == 422, allowed.text


# -- problem types -------------------------------------------------------------------------------


def _documented_types() -> dict[str, int]:
    api_md = (Path(__file__).parents[2] / "docs" / "API.md").read_text()
    section = api_md.split("### Problem types", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| `([a-z-]+)` \| (\d{3}) \|", section, flags=re.MULTILINE)
    return {kind: int(status) for kind, status in rows}


def _domain_errors() -> list[type[DomainError]]:
    return [
        cls
        for cls in vars(domain.errors).values()
        if isinstance(cls, type) and issubclass(cls, DomainError)
    ]


def _example(cls: type[DomainError]) -> DomainError:
    """An instance of the error class (a refusal names its reason, a list of field errors
    holds one)."""
    if issubclass(cls, InvalidFields):
        return cls([ValidationError("x", field="f")])
    if issubclass(cls, RateLimited):
        return cls("x", policy='"p";q=1;w=1', state='"p";r=0;t=1', retry_after_ms=1)
    return cls("x", reason="blocked") if issubclass(cls, Refused) else cls("x")


def test_every_problem_type_is_listed_in_the_api_docs_with_its_status() -> None:
    documented = _documented_types()
    assert documented == dict(PROBLEM_TYPES)
    for kind in DEFAULT_KINDS.values():
        assert kind in PROBLEM_TYPES
    for cls in _domain_errors():
        assert PROBLEM_TYPES[cls.code] == domain_status(_example(cls)), cls
    for kind in PROBLEM_TYPES:
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", kind), kind


def test_the_problem_types_the_code_names_are_all_listed() -> None:
    """Every kind spelled in the code (`kind="…"`, a DomainError's `code = "…"`) is listed:
    a new spelling fails here before it reaches a client."""
    root = Path(__file__).parents[2]
    spelled: set[str] = set()
    for package in ("api", "domain", "exchange", "ppcx"):
        for source in (root / package).rglob("*.py"):
            text = source.read_text()
            spelled |= set(re.findall(r'\bkind="([^"]+)"', text))
            spelled |= set(re.findall(r'^\s+code = "([^"]+)"', text, flags=re.MULTILINE))
    assert spelled
    assert spelled <= set(PROBLEM_TYPES), spelled - set(PROBLEM_TYPES)


def test_a_domain_not_found_and_an_api_not_found_share_one_type(client: TestClient) -> None:
    market = build_market(client)
    _, key = market.publisher
    domain_404 = client.post(f"/v1/pings/call_{ZEROS}/post", headers=auth(key))
    api_404 = client.get("/v1/reports/nothing", headers=auth(key))
    route_404 = client.get("/v1/nothing", headers=auth(key))
    for response in (domain_404, api_404, route_404):
        assert response.status_code == 404
        assert response.json()["type"] == "https://ppcx.dev/problems/not-found"
