"""The set-up's projections: `targets`, `campaigns`, `publishers`, `buyers` show current
values after changes; `api_keys` keys (never the hash) with expiry and revocation;
`setup_changes` one row per set-up event with its time and author."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from domain.clock import ManualClock
from domain.target import Target
from handlers import parse, parse_changes
from ppcx.bootstrap import Domain
from projections.projector import Projector
from projections.store import ProjectionStore
from tests.support.market import build_market

pytestmark = pytest.mark.integration


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ProjectionStore]:
    found = ProjectionStore(tmp_path / "p.duckdb")
    try:
        yield found
    finally:
        found.close()


def _project(domain: Domain, store: ProjectionStore) -> None:
    Projector(store).run_from_log(domain.app.store.read_chained)


def _row(store: ProjectionStore, sql: str, *params: Any) -> dict[str, Any]:
    cursor = store.con.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    row = cursor.fetchone()
    assert row is not None, sql
    return dict(zip(names, row, strict=True))


@pytest.mark.parametrize("batches", ["one", "each"])
def test_targets_and_campaigns_show_current_values(
    domain: Domain, store: ProjectionStore, clock: ManualClock, batches: str
) -> None:
    market = build_market(domain)
    target_id = market.targets[0]
    if batches == "each":
        _project(domain, store)
    clock.advance(timedelta(minutes=1))
    domain.setup.change_target(
        parse_changes.change_target(
            target_id=target_id,
            by="key_buyer",
            buffer_s=120,
            caps={"daily": 40},
            geo={"mode": "allow", "states": ["CA"]},
            priority=5,
        )
    )
    if batches == "each":
        _project(domain, store)
    clock.advance(timedelta(minutes=1))
    domain.setup.change_target(
        parse_changes.change_target(
            target_id=target_id, by="key_admin", rtb_url="https://bidder.example/rtb"
        )
    )
    domain.setup.pause_target(parse.pause_target(target_id=target_id, by="key_admin"))
    domain.setup.change_campaign(
        parse_changes.change_campaign(
            campaign_id=market.campaign_id,
            by="key_admin",
            publisher_payout={"fixed": "25.00"},
            duplicate_window_days=7,
        )
    )
    _project(domain, store)
    row = _row(store, "SELECT * FROM targets WHERE target_id = ?", target_id)
    assert row["buffer_s"] == 120
    assert json.loads(row["caps"])["daily"] == 40
    assert json.loads(row["geo"])["states"] == ["CA"]
    assert row["priority"] == 5
    assert row["bid_cents"] is None  # switched to real-time bidding
    assert row["rtb_url"] == "https://bidder.example/rtb"
    assert row["status"] == "paused"
    assert row["changed_by"] == "key_admin"
    assert row["version"] == domain.app.load(Target, target_id, "target_id").version
    campaign = _row(store, "SELECT * FROM campaigns WHERE campaign_id = ?", market.campaign_id)
    assert campaign["payout"] == "fixed 2500"
    assert json.loads(campaign["payout_rule"]) == {"fixed_cents": 2500}
    assert campaign["duplicate_window_days"] == 7
    other = _row(store, "SELECT * FROM targets WHERE target_id = ?", market.targets[1])
    assert other["status"] == "active"
    assert other["bid_cents"] == 4000


def test_archive_suspend_profile_and_history(
    domain: Domain, store: ProjectionStore, clock: ManualClock
) -> None:
    market = build_market(domain)
    target_id = market.targets[0]
    clock.advance(timedelta(minutes=3))
    archived_at = clock.now()
    domain.setup.archive_target(
        parse_changes.archive_target(target_id=target_id, by="key_admin", reason="done")
    )
    rename, status = parse_changes.change_publisher(
        publisher_id=market.publisher_id, by="key_admin", name="Acme", suspended=True
    )
    domain.setup.change_publisher(market.publisher_id, rename, status)
    profile, limit = parse_changes.change_buyer(
        buyer_id=market.buyers[0], by="key_fin", time_zone="Europe/Paris", credit_limit="50.00"
    )
    domain.setup.change_buyer(profile, limit)
    _project(domain, store)
    assert _row(store, "SELECT status FROM targets WHERE target_id = ?", target_id) == {
        "status": "archived"
    }
    publisher = _row(store, "SELECT * FROM publishers WHERE publisher_id = ?", market.publisher_id)
    assert (publisher["name"], publisher["status"]) == ("Acme", "suspended")
    buyer = _row(store, "SELECT * FROM buyers WHERE buyer_id = ?", market.buyers[0])
    assert (buyer["time_zone"], buyer["credit_limit_cents"]) == ("Europe/Paris", 5000)
    history = store.con.execute(
        "SELECT event, changes, changed_at, changed_by FROM setup_changes "
        "WHERE aggregate_id = ? ORDER BY position",
        [target_id],
    ).fetchall()
    assert [h[0] for h in history] == ["Created", "Archived"]
    assert json.loads(history[1][1]) == {"reason": "done"}
    assert history[1][2] == archived_at
    assert history[1][3] == "key_admin"
    assert json.loads(history[0][1])["buyer_id"] == market.buyers[0]


def test_api_keys_are_projected_without_their_hash(
    domain: Domain, store: ProjectionStore, clock: ManualClock
) -> None:
    expires_at = clock.now() + timedelta(days=30)
    command = parse.issue_api_key(
        role="analyst",
        owner_id=None,
        label="reports",
        key_hash="secret-hash-value",
        key_id="key_" + "b" * 32,
        by="key_admin",
        expires_at=expires_at,
    )
    key_id = domain.setup.issue_api_key(command)
    domain.setup.revoke_api_key(parse.revoke_api_key(key_id=key_id, by="key_other"))
    _project(domain, store)
    row = _row(store, "SELECT * FROM api_keys WHERE key_id = ?", key_id)
    assert row["expires_at"] == expires_at
    assert row["revoked_by"] == "key_other"
    assert (row["role"], row["label"], row["created_by"]) == ("analyst", "reports", "key_admin")
    dumped = str(store.con.execute("SELECT * FROM setup_changes").fetchall())
    assert "secret-hash-value" not in dumped
    assert "secret-hash-value" not in str(row)
    events = store.con.execute(
        "SELECT event FROM setup_changes WHERE aggregate_id = ? ORDER BY position", [key_id]
    ).fetchall()
    assert events == [("Issued",), ("ExpirySet",), ("Revoked",)]
