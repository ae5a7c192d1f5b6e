"""Changes to the set-up after it is made: a publisher renamed (the projections show the new
name), a publisher no longer allowed on a campaign (the exchange's side is in
tests/exchange). Each is a typed command from `handlers.parse`; a repeat records nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.campaign import Campaign
from domain.errors import NotFound, ValidationError
from domain.publisher import Publisher
from handlers import parse
from ppcx.bootstrap import Domain
from projections.projector import Projector
from projections.store import ProjectionStore
from tests.support.market import build_market

pytestmark = pytest.mark.integration


def test_a_renamed_publisher_is_projected_under_its_new_name(
    domain: Domain, tmp_path: Path
) -> None:
    market = build_market(domain)
    rename = parse.rename_publisher(publisher_id=market.publisher_id, name="Acme Media", by="t")
    domain.setup.rename_publisher(rename)
    head = domain.app.store.head()
    domain.setup.rename_publisher(rename)  # the same name again: nothing new
    assert domain.app.store.head() == head
    assert domain.app.load(Publisher, market.publisher_id, "publisher_id").name == "Acme Media"
    store = ProjectionStore(tmp_path / "p.duckdb")
    try:
        Projector(store).run_from_log(domain.app.store.read_chained)
        rows = store.con.execute("SELECT publisher_id, name FROM publishers").fetchall()
    finally:
        store.close()
    assert rows == [(market.publisher_id, "Acme Media")]


def test_a_rename_is_checked_like_a_registration(domain: Domain) -> None:
    market = build_market(domain)
    with pytest.raises(ValidationError) as bad:
        parse.rename_publisher(publisher_id="nope", name=" Acme", by="t")
    assert bad.value.field == "name"  # the body's field before the path's id
    with pytest.raises(NotFound):
        parse.rename_publisher(publisher_id="nope", name="Acme", by="t")
    before = domain.app.store.head()
    unknown = parse.rename_publisher(publisher_id="pub_" + "0" * 32, name="A", by="t")
    with pytest.raises(NotFound):
        domain.setup.rename_publisher(unknown)
    assert domain.app.store.head() == before
    assert domain.app.load(Publisher, market.publisher_id, "publisher_id").name == "Pub"


def test_a_disallowed_publisher_leaves_the_campaign_once(domain: Domain) -> None:
    market = build_market(domain)
    disallow = parse.disallow_publisher(
        campaign_id=market.campaign_id, publisher_id=market.publisher_id, by="t"
    )
    domain.setup.disallow_publisher(disallow)
    campaign = domain.app.load(Campaign, market.campaign_id, "campaign_id")
    assert not campaign.admits(market.publisher_id)
    head = domain.app.store.head()
    domain.setup.disallow_publisher(disallow)  # not allowed any more: nothing new
    assert domain.app.store.head() == head
    with pytest.raises(NotFound):
        domain.setup.disallow_publisher(
            parse.disallow_publisher(
                campaign_id=market.campaign_id, publisher_id="pub_" + "0" * 32, by="t"
            )
        )
    allow = parse.allow_publisher(
        campaign_id=market.campaign_id, publisher_id=market.publisher_id, by="t"
    )
    domain.setup.allow_publisher(allow)
    assert domain.app.load(Campaign, market.campaign_id, "campaign_id").admits(market.publisher_id)
