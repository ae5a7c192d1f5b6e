"""The anomaly watch through HTTP (real Redis, NATS, SQLite): a publisher whose short-call
rate on a campaign is far above the campaign's is flagged for review once (admins see it on
the publisher, the publisher does not), not again until an admin clears it, and `replay
verify` derives every flag again from the calls' events — and catches an edited one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from ppcx.settings import Settings
from projections.store import ProjectionStore
from replay.log import event_name
from tests.api.conftest import ADMIN_KEY, Market, auth, build_market, project
from tests.api.test_call_flags import answered_call, audit, event, rewrite, routed_call

pytestmark = pytest.mark.e2e


def publisher(market: Market, publisher_id: str, key: str = ADMIN_KEY) -> dict[str, object]:
    found = market.client.get(f"/v1/publishers/{publisher_id}", headers=auth(key))
    assert found.status_code == 200, found.text
    body: dict[str, object] = found.json()
    return body


def flags_of(settings: Settings) -> list[tuple[int, dict[str, object]]]:
    with sqlite3.connect(Path(str(settings.sqlite_dbname))) as con:
        rows = con.execute(
            "SELECT rowid, topic, state FROM stored_events ORDER BY rowid"
        ).fetchall()
    return [
        (rowid, orjson.loads(state))
        for rowid, topic, state in rows
        if event_name(topic) == "Publisher.FlaggedForReview"
    ]


def test_a_publisher_of_short_calls_is_flagged_for_review_once_until_cleared(
    client: TestClient, api_settings: Settings
) -> None:
    market = build_market(client)
    for target_id in market.targets:  # unanswered calls below must not pause the targets
        market.admin("PATCH", f"/v1/targets/{target_id}", json={"auto_pause": []})
    (clean_id, clean_key), (noisy_id, noisy_key) = list(market.publishers.items())

    def clean_calls(first: int, count: int) -> None:
        """The clean publisher's calls end unanswered (neither short nor duplicate)."""
        for n in range(first, first + count):
            call_id = routed_call(market, f"+1310556{n:04d}", key=clean_key)
            event(market, call_id, {"type": "completed", "duration_s": 0}, clean_key)

    clean_calls(0, 40)
    # the noisy one's answered calls all last 3 s: 19 are not enough calls to judge
    for n in range(19):
        answered_call(market, f"+1310557{n:04d}", 3, "caller", key=noisy_key)
    assert publisher(market, noisy_id)["flagged_for_review"] == []
    answered_call(market, "+13105579019", 3, "caller", key=noisy_key)  # the 20th
    assert publisher(market, noisy_id)["flagged_for_review"] == [market.campaign_id]
    assert publisher(market, clean_id)["flagged_for_review"] == []
    assert publisher(market, noisy_id, noisy_key)["flagged_for_review"] is None  # admins' only

    [(_, flag)] = flags_of(api_settings)
    assert flag["campaign_id"] == market.campaign_id
    assert flag["rate"] == "short_call_rate"
    assert flag["publisher_counts"] == {"completed": 20, "short_calls": 20, "duplicates": 0}
    assert flag["campaign_counts"] == {"completed": 60, "short_calls": 20, "duplicates": 0}
    assert flag["publisher_rates"] == {"short_call_rate": "1.0000", "duplicate_rate": "0.0000"}
    assert flag["campaign_rates"]["short_call_rate"] == "0.3333"
    assert flag["thresholds"] == {"calls_min": 20, "factor": 3, "gap_percent": 20}
    assert flag["rule_version"] == 1

    answered_call(market, "+13105579020", 3, "caller", key=noisy_key)
    assert len(flags_of(api_settings)) == 1  # flagged already: not again

    refused = client.post(f"/v1/publishers/{noisy_id}/review/clear", headers=auth(noisy_key))
    assert refused.status_code == 403, refused.text
    cleared = client.post(f"/v1/publishers/{noisy_id}/review/clear", headers=auth(ADMIN_KEY))
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["flagged_for_review"] == []
    clean_calls(40, 10)  # 22 of 72 calls short: the noisy one's rate is still 3 × theirs
    answered_call(market, "+13105579021", 3, "caller", key=noisy_key)
    assert len(flags_of(api_settings)) == 2
    assert publisher(market, noisy_id)["flagged_for_review"] == [market.campaign_id]

    report = audit(api_settings)
    assert report.ok, report.failures[:5]
    assert report.checked["reviews"] == 2
    assert audit(api_settings, parallel=True).to_json() == report.to_json()

    project(api_settings)  # the projection's table of flags, the first one cleared
    store = ProjectionStore(api_settings.resolved_duckdb_path)
    try:
        rows = store.con.execute(
            "SELECT publisher_id, campaign_id, rate, publisher_rate, campaign_rate, "
            "cleared_at IS NOT NULL FROM review_flags ORDER BY notification_id"
        ).fetchall()
    finally:
        store.close()
    assert rows == [
        (noisy_id, market.campaign_id, "short_call_rate", "1.0000", "0.3333", True),
        (noisy_id, market.campaign_id, "short_call_rate", "1.0000", "0.3056", False),
    ]

    rowid, data = flags_of(api_settings)[0]
    data["publisher_counts"] = {"completed": 20, "short_calls": 19, "duplicates": 0}
    rewrite(api_settings, rowid, data)
    tampered = audit(api_settings)
    assert not tampered.ok
    assert {f.check for f in tampered.failures} == {"reviews"}, tampered.failures


def test_a_publisher_of_repeat_callers_is_flagged_on_its_duplicate_rate(
    client: TestClient, api_settings: Settings
) -> None:
    market = build_market(client)
    for target_id in market.targets:
        market.admin("PATCH", f"/v1/targets/{target_id}", json={"auto_pause": []})
    (clean_id, clean_key), (noisy_id, noisy_key) = list(market.publishers.items())
    for n in range(40):
        call_id = routed_call(market, f"+1310556{n:04d}", key=clean_key)
        event(market, call_id, {"type": "completed", "duration_s": 0}, clean_key)
    # 10 callers call twice at once (both calls routed to the same buyer before either
    # ends: the auction's duplicate check cannot see the first): the second is a duplicate
    for n in range(10):
        number = f"+1310558{n:04d}"
        calls = [routed_call(market, number, key=noisy_key) for _ in range(2)]
        outcomes = []
        for call_id in calls:
            event(market, call_id, {"type": "answered"}, noisy_key)
            done = {"type": "completed", "duration_s": 90, "ended_by": "caller"}
            outcomes.append(event(market, call_id, done, noisy_key)["reason"])
        assert outcomes == ["billable", "duplicate"], outcomes
    [(_, flag)] = flags_of(api_settings)
    assert flag["rate"] == "duplicate_rate"
    assert flag["publisher_counts"] == {"completed": 20, "short_calls": 0, "duplicates": 10}
    assert flag["campaign_counts"] == {"completed": 60, "short_calls": 0, "duplicates": 10}
    assert publisher(market, noisy_id)["flagged_for_review"] == [market.campaign_id]
    assert publisher(market, clean_id)["flagged_for_review"] == []
    report = audit(api_settings)
    assert report.ok, report.failures[:5]
