"""Changes of the set-up, pure: the new values a change records (only those that differ),
every bad field named at once, the whole object checked."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.campaign import Campaign
from domain.errors import InvalidFields, ValidationError
from domain.ids import new_id
from domain.setup_changes import campaign_rule_changes, target_rule_changes
from domain.target import Target
from handlers import parse_changes

pytestmark = pytest.mark.unit
AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
TARGET, CAMPAIGN = new_id("tgt"), new_id("cmp")


def _target() -> Target:
    return Target(
        id="tgt_1",
        buyer_id="buy_1",
        campaign_id="cmp_1",
        name="t",
        destination="+13105550100",
        bid_cents=4500,
        rtb_url=None,
        rtb_timeout_ms=150,
        buffer_s=90,
        geo={"mode": "allow", "states": [], "zips": [], "area_codes": []},
        schedule={"time_zone": "UTC", "hours": {}},
        caps={
            "concurrency": None,
            "hourly": 5,
            "daily": None,
            "monthly": None,
            "daily_budget_cents": None,
        },
        priority=0,
        weight=1,
        by="key_a",
        timestamp=AT,
    )


def _campaign() -> Campaign:
    return Campaign(
        id="cmp_1",
        name="c",
        vertical="legal",
        payout={"fixed_cents": 3000},
        duplicate_window_days=30,
        distribution="auction",
        min_bid_cents=3500,
        min_margin_cents=500,
        allow_negative_margin=False,
        max_attempts=3,
        bid_ttl_s=60,
        rtb_deadline_ms=250,
        market="main",
        by="key_a",
        timestamp=AT,
    )


def _changes(**fields: object) -> dict[str, object]:
    target = _target()
    command = parse_changes.change_target(target_id=TARGET, by="key_b", **fields)  # type: ignore[arg-type]
    return target_rule_changes(target, command.changes)


def test_only_values_that_differ_are_recorded() -> None:
    assert _changes(buffer_s=90, bid="45.00", caps={"hourly": 5}) == {}
    assert _changes(buffer_s=120) == {"buffer_s": 120}


def test_switching_to_rtb_clears_the_bid_and_back() -> None:
    assert _changes(rtb_url="https://bids.example.com/x") == {
        "rtb_url": "https://bids.example.com/x",
        "bid_cents": None,
    }


def test_caps_are_merged_and_a_null_cap_removed() -> None:
    changed = _changes(caps={"daily": 40, "hourly": None, "daily_budget": "100.00"})
    assert changed["caps"] == {
        "concurrency": None,
        "hourly": None,
        "daily": 40,
        "monthly": None,
        "daily_budget_cents": 10000,
    }


def test_every_bad_field_is_named_and_the_id_is_checked_last() -> None:
    with pytest.raises(InvalidFields) as raised:
        parse_changes.change_target(
            target_id="not-an-id",
            by="key_b",
            bid="1.234",
            destination="nowhere",
            buffer_s=-1,
            caps={"daily": 0, "weekly": 3},
            schedule={"time_zone": "Mars/Base"},
            status="gone",
        )
    fields = {e.field for e in raised.value.errors}
    assert fields == {
        "bid",
        "destination",
        "buffer_s",
        "caps.daily",
        "caps.weekly",
        "schedule.time_zone",
        "status",
    }


def test_a_target_archived_and_its_rules_changed_by_events() -> None:
    target = _target()
    target.change_rules(changes={"bid_cents": 5000, "buffer_s": 30}, by="key_b", timestamp=AT)
    target.archive(reason="closed", by="key_b", timestamp=AT)
    assert (target.bid_cents, target.buffer_s, target.archived, target.version) == (
        5000,
        30,
        True,
        3,
    )
    assert [type(e).__qualname__ for e in target.collect_events()][1:] == [
        "Target.RulesChanged",
        "Target.Archived",
    ]


def test_a_campaign_change_is_checked_as_the_whole_campaign() -> None:
    campaign = _campaign()
    higher = parse_changes.change_campaign(
        campaign_id=CAMPAIGN, by="key_a", publisher_payout={"fixed": "40.00"}
    )
    with pytest.raises(ValidationError) as raised:
        campaign_rule_changes(campaign, higher.changes)
    assert raised.value.field == "min_bid"
    both = parse_changes.change_campaign(
        campaign_id=CAMPAIGN, by="key_a", publisher_payout={"fixed": "40.00"}, min_bid="45.00"
    )
    assert campaign_rule_changes(campaign, both.changes) == {
        "payout": {"fixed_cents": 4000},
        "min_bid_cents": 4500,
    }
