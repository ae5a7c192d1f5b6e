"""`ppcx export conversions`: a billed call that came from an ad click, end to end (ping with
a click id through the API, billed, projected, exported from the shell)."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from domain.clock import ManualClock
from ppcx.cli import app
from ppcx.settings import Settings
from projections.conversions import GOOGLE_ADS_COLUMNS, QUALIFIED_CALL
from tests.api.conftest import ADMIN_KEY, api_settings, auth, build_market, client, project
from tests.support.environment import ppcx_env

__all__ = ["api_settings", "client"]
pytestmark = pytest.mark.integration


def _env_of(settings: Settings) -> dict[str, str]:
    return {**ppcx_env(settings), "PPCX_DUCKDB_PATH": str(settings.resolved_duckdb_path)}


def test_a_billed_call_from_a_click_is_exported_for_google_ads_and_ga4(
    client: TestClient, api_settings: Settings, clock: ManualClock
) -> None:
    market = build_market(client, bids=("50.00",))
    publisher_id, key = market.publisher
    offer = market.ping(
        key, attribution={"source": "google", "keyword": "lawyer", "click_id": "Cj0KCQ-test"}
    ).json()
    assert offer["accepted"] is True
    call_id = client.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(key)).json()["call_id"]
    events = f"/v1/calls/{call_id}/events"
    assert client.post(events, json={"type": "answered"}, headers=auth(key)).is_success
    clock.advance(timedelta(seconds=75))
    done = client.post(events, json={"type": "completed", "duration_s": 75}, headers=auth(key))
    assert done.is_success
    project(api_settings)
    start = (clock.now() - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    end = (clock.now() + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    env = _env_of(api_settings)
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(app, ["export", "conversions", *args], env=env)

    mine = run("--from", start, "--until", end, "--publisher", publisher_id)
    assert mine.exit_code == 0, mine.output
    rows = list(csv.reader(io.StringIO(mine.stdout)))
    assert tuple(rows[0]) == GOOGLE_ADS_COLUMNS
    assert rows[1][:2] == ["Cj0KCQ-test", QUALIFIED_CALL]
    assert rows[1][3:] == ["30.00", "USD"]  # the publisher's payout
    assert rows[1][2].endswith("+0000")
    ga4 = run("--format", "ga4", "--from", start, "--until", end)
    assert ga4.exit_code == 0, ga4.output
    body = json.loads(ga4.stdout.splitlines()[0])
    assert body["events"][0]["params"]["click_id"] == "Cj0KCQ-test"
    assert '"value":50.00' in ga4.stdout  # the exchange's revenue
    backwards = run("--from", end, "--until", start)
    assert backwards.exit_code == 2
    other = run("--from", start, "--until", end, "--publisher", "pub_" + "0" * 32)
    assert other.stdout.splitlines() == [",".join(GOOGLE_ADS_COLUMNS)]
    # the same file over HTTP, for the owning publisher (an admin: every call, at revenue)
    params = {"from": start, "until": end}
    answer = client.get("/v1/conversions", params=params, headers=auth(key))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.text == mine.stdout
    other_key = next(k for p, k in market.publishers.items() if p != publisher_id)
    theirs = client.get("/v1/conversions", params=params, headers=auth(other_key))
    assert theirs.text.splitlines() == [",".join(GOOGLE_ADS_COLUMNS)]
    buyer_key = next(iter(market.buyers.values()))
    assert client.get("/v1/conversions", params=params, headers=auth(buyer_key)).status_code == 403
    ga4_http = client.get(
        "/v1/conversions", params={**params, "format": "ga4"}, headers=auth(ADMIN_KEY)
    )
    assert ga4_http.text == ga4.stdout
    wrong = client.get("/v1/conversions", params={"from": end, "until": start}, headers=auth(key))
    assert wrong.status_code == 422
