"""`replay verify` over a log whose campaign and targets change rules mid-day: the auctions
re-run against the rules of the campaign version each one names (and each standing bid
against its target version), and a forged version is caught."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest
import redis
from typer.testing import CliRunner

from domain.clock import ManualClock
from domain.target import Target
from eventstore.chain import chain_key
from handlers import parse_changes
from ppcx.bootstrap import Domain, ExchangeRuntime
from ppcx.cli import app as cli
from ppcx.settings import Settings
from replay.log import event_name
from replay.rehydrate import rehydrate
from replay.verify import Report, verify
from tests.replay.conftest import drive, market
from tests.support.exchange import caller, ping, sync

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def _verify(settings: Settings, domain: Domain) -> Report:
    assert settings.audit_key is not None
    return verify(domain.app.store.read_chained, chain_key(settings.audit_key))


def _decided(db: Path) -> list[tuple[int, dict[str, object]]]:
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT rowid, topic, state FROM stored_events ORDER BY rowid")
        return [
            (rowid, orjson.loads(state))
            for rowid, topic, state in rows
            if event_name(topic) == "Call.AuctionDecided"
        ]


@pytest.fixture
async def changed(domain: Domain, runtime: ExchangeRuntime, clock: ManualClock) -> Domain:
    m = market(domain, runtime)
    assert await drive(domain, runtime, clock, m, 20) > 3
    domain.setup.change_campaign(
        parse_changes.change_campaign(
            campaign_id=m.campaign,
            publisher_payout={"fixed": "32.00"},
            min_bid="40.00",
            by="key_admin",
        )
    )
    domain.setup.change_target(
        parse_changes.change_target(target_id=m.targets[0], bid="47.00", by="key_admin")
    )
    domain.setup.archive_target(
        parse_changes.archive_target(target_id=m.targets[3], by="key_admin")
    )
    sync(runtime)
    assert await drive(domain, runtime, clock, m, 20, seed=2, first_caller=100) > 3
    return domain


async def test_a_log_with_rule_changes_mid_day_verifies(
    changed: Domain, settings: Settings
) -> None:
    report = _verify(settings, changed)
    assert report.ok, report.failures[:5]
    decided = [d for _, d in _decided(Path(str(settings.sqlite_dbname)))]
    versions = {d["campaign_version"] for d in decided}
    assert len(versions) == 2, versions  # auctions before and after the change
    after = [d for d in decided if d["campaign_version"] == max(versions)]  # type: ignore[type-var]
    assert all(d["payout_cents"] == 3200 for d in after)
    assert all(c["target_id"] != "" for d in after for c in d["ranking"])  # type: ignore[attr-defined]


async def test_an_auction_naming_another_campaign_version_fails_verification(
    changed: Domain, settings: Settings
) -> None:
    db = Path(str(settings.sqlite_dbname))
    decided = _decided(db)
    first_version = min(d["campaign_version"] for _, d in decided)  # type: ignore[type-var]
    rowid, data = next((r, d) for r, d in decided if d["campaign_version"] != first_version)
    data["campaign_version"] = first_version  # its payouts (32.00) contradict version 1 (30.00)
    with sqlite3.connect(db) as con:
        con.execute(
            "UPDATE stored_events SET state = ? WHERE rowid = ?", (orjson.dumps(data), rowid)
        )
    report = _verify(settings, changed)
    assert not report.ok
    assert (rowid, "auctions") in {(f.position, f.check) for f in report.failures}
    assert any("campaign version" in f.message or "payout" in f.message for f in report.failures)


async def test_rehydration_after_a_flush_restores_the_changed_rules(
    domain: Domain, runtime: ExchangeRuntime, clock: ManualClock, redis_client: redis.Redis
) -> None:
    m = market(domain, runtime, caps=({},) * 4)
    domain.setup.change_campaign(
        parse_changes.change_campaign(
            campaign_id=m.campaign,
            publisher_payout={"fixed": "33.00"},
            min_bid="40.00",
            by="key_admin",
        )
    )
    for target_id in m.targets[1:]:  # only the first target may bid on a CA caller
        domain.setup.change_target(
            parse_changes.change_target(
                target_id=target_id, geo={"mode": "deny", "states": ["CA"]}, by="key_admin"
            )
        )
    domain.setup.change_target(
        parse_changes.change_target(target_id=m.targets[0], bid="44.00", by="key_admin")
    )
    prefix = runtime.hot.keys.prefix
    for key in redis_client.scan_iter(match=f"{prefix}:*"):  # this test's namespace, lost
        redis_client.delete(key)
    rehydrate(domain.app, redis_client, prefix, clock.now())
    runtime.hot.forget_snapshots()
    result = await runtime.auctions.ping(ping(m.publisher, m.campaign, caller=caller(7)))
    assert result.accepted
    assert result.payout_cents == 3300
    assert result.price_cents == 4400
    assert result.winner is not None
    assert result.winner.target_id == m.targets[0]


async def test_cli_targets_set_changes_rules_through_the_same_parsing(
    domain: Domain, runtime: ExchangeRuntime, settings: Settings
) -> None:
    m = market(domain, runtime)
    env = {
        "PPCX_DATA_DIR": str(settings.data_dir),
        "SQLITE_DBNAME": str(settings.sqlite_dbname),
        "PPCX_AUDIT_KEY": str(settings.audit_key),
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
    }
    runner = CliRunner()
    target = m.targets[0]
    changed = runner.invoke(
        cli, ["targets", "set", target, "--bid", "48.00", "--buffer-s", "120", "--paused"], env=env
    )
    assert changed.exit_code == 0, changed.output
    shown = orjson.loads(changed.stdout)
    assert (shown["bid"], shown["buffer_s"], shown["status"]) == ("48.00", 120, "paused")
    bad = runner.invoke(
        cli, ["targets", "set", target, "--bid", "4.999", "--buffer-s", "99999"], env=env
    )
    assert bad.exit_code == 2
    assert "--bid" in bad.output
    assert "--buffer_s" in bad.output
    loaded = domain.app.load(Target, target, "target_id")
    assert (loaded.bid_cents, loaded.buffer_s, loaded.paused) == (4800, 120, True)
