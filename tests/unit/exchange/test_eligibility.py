"""Eligibility filters, one reason per excluded target (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.caps import Caps, CapUsage
from domain.geo import Geo, GeoRule
from domain.schedule import WeeklySchedule
from exchange.eligibility import eligible_targets, no_buyer_reason
from exchange.market import TargetRule, parse_target

pytestmark = pytest.mark.unit
AT = datetime(2026, 3, 4, 18, 0, tzinfo=UTC)  # Wednesday 13:00 in New York


def _t(name: str, **kw: object) -> TargetRule:
    args: dict[str, object] = {
        "target_id": name,
        "buyer_id": "buy_" + name,
        "campaign_id": "cmp",
        "name": name,
        "destination": "+13105550100",
        "bid_cents": 5000,
        "rtb_url": None,
        "rtb_timeout_ms": 150,
        "buffer_s": 90,
        "geo": GeoRule(),
        "schedule": WeeklySchedule(),
        "caps": Caps(),
        "priority": 0,
        "weight": 1,
        "paused": False,
    }
    args.update(kw)
    return TargetRule(**args)  # type: ignore[arg-type]


def test_each_excluded_target_has_its_reason() -> None:
    targets = [
        _t("ok"),
        _t("paused", paused=True),
        _t("geo", geo=GeoRule.parse("allow", states=["NY"])),
        _t(
            "closed",
            schedule=WeeklySchedule.parse("America/New_York", {"wed": [["14:00", "17:00"]]}),
        ),
        _t("capped", caps=Caps(concurrency=1)),
        _t("budget", caps=Caps(daily_budget_cents=9000)),
        _t("broke"),
        _t("dup"),
        _t("rtb", bid_cents=None, rtb_url="http://127.0.0.1:9/"),
    ]
    headroom = {t.buyer_id: 10_000 for t in targets} | {"buy_broke": 4999}
    result = eligible_targets(
        targets,
        geo=Geo("CA", "90210", "310"),
        at=AT,
        floor_cents=3500,
        usage={"capped": CapUsage(concurrency=1), "budget": CapUsage(day_spend_cents=5000)},
        headroom_cents=headroom,
        duplicate_buyers=frozenset({"buy_dup"}),
    )
    assert [t.target_id for t in result.eligible] == ["ok", "rtb"]
    assert result.excluded == {
        "paused": "paused",
        "geo": "geo",
        "closed": "schedule",
        "capped": "cap_concurrency",
        "budget": "cap_budget",
        "broke": "insufficient_funds",
        "dup": "duplicate",
    }


def test_no_buyer_reasons() -> None:
    assert no_buyer_reason({"a": "duplicate", "b": "duplicate"}, 0, 0) == "duplicate"
    assert no_buyer_reason({"a": "duplicate", "b": "geo"}, 0, 0) == "no_eligible_buyer"
    assert no_buyer_reason({}, 2, 0) == "below_floor"
    assert no_buyer_reason({}, 0, 0) == "no_eligible_buyer"


def test_a_target_requiring_consent_is_excluded_from_a_ping_without_it() -> None:
    stored = {
        "version": 3,
        "id": "strict",
        "buyer_id": "buy_strict",
        "campaign_id": "cmp",
        "name": "strict",
        "destination": "+13105550100",
        "bid_cents": 5000,
        "rtb_url": None,
        "rtb_timeout_ms": 150,
        "buffer_s": 90,
        "geo": {},
        "schedule": {},
        "caps": {},
        "priority": 0,
        "weight": 1,
        "paused": False,
        "archived": False,
    }
    old = parse_target(stored)  # JSON written before the rule: no consent required
    strict = parse_target({**stored, "requires_consent": True})
    assert (old.requires_consent, old.plain) == (False, True)
    assert (strict.requires_consent, strict.plain) == (True, False)  # no fast path for it

    def excluded(consented: bool) -> dict[str, str]:
        return dict(
            eligible_targets(
                [strict, _t("lax")],
                geo=Geo("CA", "90210", "310"),
                at=AT,
                floor_cents=3500,
                usage={},
                headroom_cents={"buy_strict": 10_000, "buy_lax": 10_000},
                duplicate_buyers=frozenset(),
                consented=consented,
            ).excluded
        )

    assert excluded(False) == {"strict": "consent_missing"}
    assert excluded(True) == {}
    paused = eligible_targets(
        [_t("p", paused=True, requires_consent=True)],
        geo=Geo("CA", "90210", "310"),
        at=AT,
        floor_cents=3500,
        usage={},
        headroom_cents={"buy_p": 10_000},
        duplicate_buyers=frozenset(),
    )
    assert paused.excluded == {"p": "paused"}  # the first rule that fails is the reason


def test_a_target_requiring_tags_is_excluded_from_a_ping_lacking_one() -> None:
    stored = {
        "version": 3,
        "id": "tagged",
        "buyer_id": "buy_tagged",
        "campaign_id": "cmp",
        "name": "tagged",
        "destination": "+13105550100",
        "bid_cents": 5000,
        "rtb_url": None,
        "rtb_timeout_ms": 150,
        "buffer_s": 90,
        "geo": {},
        "schedule": {},
        "caps": {},
        "priority": 0,
        "weight": 1,
        "paused": False,
        "archived": False,
    }
    old = parse_target(stored)  # JSON written before the rule: no tags required
    tagged = parse_target({**stored, "requires_tags": {"injured": "yes", "state": None}})
    assert (old.requires_tags, old.plain) == (None, True)
    assert parse_target({**stored, "requires_tags": {}}).plain  # empty: none required
    assert (tagged.requires_tags, tagged.plain) == ({"injured": "yes", "state": None}, False)

    def excluded(tags: dict[str, str]) -> dict[str, str]:
        return dict(
            eligible_targets(
                [tagged, _t("lax")],
                geo=Geo("CA", "90210", "310"),
                at=AT,
                floor_cents=3500,
                usage={},
                headroom_cents={"buy_tagged": 10_000, "buy_lax": 10_000},
                duplicate_buyers=frozenset(),
                tags=tags,
            ).excluded
        )

    assert excluded({}) == {"tagged": "tags_missing"}
    assert excluded({"injured": "no", "state": "CA"}) == {"tagged": "tags_missing"}
    assert excluded({"injured": "yes"}) == {"tagged": "tags_missing"}
    assert excluded({"injured": "yes", "state": "CA", "other": "x"}) == {}
