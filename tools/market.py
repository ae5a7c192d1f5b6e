"""One way to build a market — publishers, a campaign, funded buyers and their targets — for
the tests, the benchmarks and the tools. The market is described by the API's own request
bodies (`MarketSpec`) and built either through the command handlers in this process
(`InProcess`, each body parsed by `handlers.parse` as the API parses it) or through the HTTP
API (`OverHttp`), so one description serves both.

The demo (`tools/sim/demo.py`) builds its own, larger market: verticals, schedules, DNI
pools and real-time bidders are the demo's business."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from handlers import parse
from ppcx.bootstrap import Domain

Body = Mapping[str, Any]


@dataclass(frozen=True)
class Party:
    """A publisher or a buyer: its id, and its API key when it was registered over HTTP."""

    id: str
    api_key: str | None = None


class Setup(Protocol):
    """Where a market is built: each method takes the body of the API route it stands for."""

    def publisher(self, body: Body) -> Party: ...  # POST /v1/publishers

    def campaign(self, body: Body) -> str: ...  # POST /v1/campaigns

    def allow(self, campaign_id: str, publisher_id: str) -> None: ...

    def buyer(self, body: Body) -> Party: ...  # POST /v1/buyers

    def deposit(self, buyer_id: str, body: Body) -> None: ...  # POST /v1/buyers/{id}/deposits

    def target(self, body: Body) -> str: ...  # POST /v1/targets


@dataclass(frozen=True)
class BuyerSpec:
    """A buyer (`POST /v1/buyers` body), its deposit (`…/deposits` body, or none) and its
    targets (`POST /v1/targets` bodies without `buyer_id` and `campaign_id`)."""

    buyer: Body
    deposit: Body | None = None
    targets: Sequence[Body] = ()


@dataclass(frozen=True)
class MarketSpec:
    """Publishers allowed on one campaign, and the buyers bidding on it."""

    campaign: Body
    publishers: Sequence[Body] = ({"name": "Pub"},)
    buyers: Sequence[BuyerSpec] = ()


@dataclass
class Market:
    campaign_id: str
    publishers: list[Party] = field(default_factory=list)
    buyers: list[Party] = field(default_factory=list)
    targets: list[tuple[str, str]] = field(default_factory=list)  # (target id, buyer id)


def add_buyer(setup: Setup, campaign_id: str, spec: BuyerSpec) -> tuple[Party, list[str]]:
    """Register a buyer, fund it and create its targets on the campaign."""
    buyer = setup.buyer(spec.buyer)
    if spec.deposit is not None:
        setup.deposit(buyer.id, spec.deposit)
    targets = [
        setup.target({"buyer_id": buyer.id, "campaign_id": campaign_id, **target})
        for target in spec.targets
    ]
    return buyer, targets


def build_market(setup: Setup, spec: MarketSpec) -> Market:
    publishers = [setup.publisher(body) for body in spec.publishers]
    market = Market(setup.campaign(spec.campaign), publishers)
    for publisher in publishers:
        setup.allow(market.campaign_id, publisher.id)
    for buyer_spec in spec.buyers:
        buyer, targets = add_buyer(setup, market.campaign_id, buyer_spec)
        market.buyers.append(buyer)
        market.targets.extend((target, buyer.id) for target in targets)
    return market


class InProcess:
    """Through the command handlers of `domain`; a body may carry a `command_id`."""

    def __init__(self, domain: Domain, by: str = "test") -> None:
        self.setup = domain.setup
        self.by = by

    def publisher(self, body: Body) -> Party:
        return Party(self.setup.register_publisher(parse.register_publisher(**body, by=self.by)))

    def campaign(self, body: Body) -> str:
        return self.setup.create_campaign(parse.create_campaign(**body, by=self.by))

    def allow(self, campaign_id: str, publisher_id: str) -> None:
        command = parse.allow_publisher(
            campaign_id=campaign_id, publisher_id=publisher_id, by=self.by
        )
        self.setup.allow_publisher(command)

    def buyer(self, body: Body) -> Party:
        return Party(self.setup.register_buyer(parse.register_buyer(**body, by=self.by)))

    def deposit(self, buyer_id: str, body: Body) -> None:
        self.setup.deposit(parse.deposit_funds(buyer_id=buyer_id, **body, by=self.by))

    def target(self, body: Body) -> str:
        return self.setup.create_target(parse.create_target(**body, by=self.by))


class OverHttp:
    """Through the HTTP API with an admin key (`httpx.Client`, or Starlette's TestClient,
    which is one)."""

    def __init__(self, client: httpx.Client, admin_key: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {admin_key}"}

    def _post(self, path: str, body: Body) -> dict[str, Any]:
        response = self.client.post(path, json=dict(body), headers=self.headers)
        if response.status_code >= 300:
            raise RuntimeError(f"POST {path}: {response.status_code} {response.text}")
        found: dict[str, Any] = response.json() if response.content else {}
        return found

    def publisher(self, body: Body) -> Party:
        created = self._post("/v1/publishers", body)
        return Party(created["id"], created["api_key"])

    def campaign(self, body: Body) -> str:
        return str(self._post("/v1/campaigns", body)["id"])

    def allow(self, campaign_id: str, publisher_id: str) -> None:
        self._post(f"/v1/campaigns/{campaign_id}/publishers", {"publisher_id": publisher_id})

    def buyer(self, body: Body) -> Party:
        created = self._post("/v1/buyers", body)
        return Party(created["id"], created["api_key"])

    def deposit(self, buyer_id: str, body: Body) -> None:
        self._post(f"/v1/buyers/{buyer_id}/deposits", body)

    def target(self, body: Body) -> str:
        return str(self._post("/v1/targets", body)["id"])
