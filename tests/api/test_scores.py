"""Lead scores where people see them (issue 24, item 5): a scored call's timeline shows its
score and model to its parties (its features only inside), the calls list has the score, the
`scores` report sets scores against conversions by source (publishers) or alone (buyers), and
a `call.scored` webhook body carries what the timeline shows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from domain.api_key import Role
from domain.call import Call
from domain.catalog import topic_of
from domain.clock import ManualClock
from domain.scoring import CallFeatures, LinearModel
from evidence.models import ModelStore
from evidence.scorer import Scorer
from ppcx.bootstrap import Domain, build_domain
from ppcx.settings import Settings
from tests.api.conftest import Market, auth, build_market, project
from tests.portal.conftest import completed_call
from webhooks.deliveries import stored_events
from webhooks.payloads import Recipient, payload

pytestmark = pytest.mark.integration
# long calls and 'appointment' score high
MODEL = LinearModel(-2_000_000, {"duration_s>=120": 2_500_000, "phrase=appointment": 1_000_000})


@pytest.fixture
def scoring(api_settings: Settings, clock: ManualClock) -> Iterator[Domain]:
    domain = build_domain(api_settings, clock=clock)
    try:
        yield domain
    finally:
        domain.close()


def scored_calls(
    client: TestClient, clock: ManualClock, scoring: Domain, settings: Settings
) -> tuple[Market, list[str]]:
    market = build_market(client)
    scoring.scoring.record_training(
        MODEL, auc_bp=8_100, calls_trained=100, calls_held_out=25, since_at=None, by="test"
    )
    clock.advance(timedelta(seconds=1))
    _, key = market.publisher
    long_call = completed_call(client, clock, key, market.ping(key, "+13105550101"), 300)
    short_call = completed_call(client, clock, key, market.ping(key, "+13105550102"), 30)
    buyer_key = market.buyers[buyer_of(client, market, long_call)]
    converted = client.post(
        f"/v1/calls/{long_call}/conversion", json={"value": "100.00"}, headers=auth(buyer_key)
    )
    assert converted.status_code < 300, converted.text
    messages = [
        orjson.dumps({"topic": topic_of(Call.CallBilled), "originator_id": c})
        for c in (long_call, short_call)
    ]
    scorer = Scorer(scoring.scoring, ModelStore(settings.resolved_models_dir))
    assert scorer.score_all(messages) == 2
    return market, [long_call, short_call]


def buyer_of(client: TestClient, market: Market, call_id: str) -> str:
    events = client.get(f"/v1/calls/{call_id}", headers=auth(market.finance_key)).json()
    return next(e["buyer_id"] for e in events["events"] if e["type"] == "CallBilled")


def _scored_event(client: TestClient, key: str, call_id: str) -> dict[str, Any]:
    timeline = client.get(f"/v1/calls/{call_id}", headers=auth(key))
    assert timeline.status_code == 200, timeline.text
    return next(e for e in timeline.json()["events"] if e["type"] == "CallScored")


def test_the_timeline_list_report_and_webhook_show_the_score(
    client: TestClient, clock: ManualClock, scoring: Domain, api_settings: Settings
) -> None:
    market, (long_call, short_call) = scored_calls(client, clock, scoring, api_settings)
    _, publisher_key = market.publisher
    buyer_id = buyer_of(client, market, long_call)
    buyer_key = market.buyers[buyer_id]
    expected = MODEL.score_bp(_features(scoring, long_call))

    # the timeline: the parties see the score and the model, only internal keys the features
    for key in (publisher_key, buyer_key):
        seen = _scored_event(client, key, long_call)
        assert seen["score_bp"] == expected == 6_225  # 1 / (1 + e^-0.5): long, no phrase
        assert seen["model_version"] == MODEL.version
        assert "features" not in seen
    inside = _scored_event(client, market.finance_key, long_call)
    assert inside["features"]["duration_s"] == 300
    assert inside["features"]["source"] == "google"

    # the calls list and the scores report (from the projections)
    project(api_settings)
    listed = client.get("/v1/calls", headers=auth(publisher_key)).json()["items"]
    scores = {r["call_id"]: r["score_bp"] for r in listed}
    assert scores[long_call] == expected
    assert scores[short_call] == MODEL.score_bp(_features(scoring, short_call)) == 1_192
    by_source = client.get(
        "/v1/reports/scores", params={"group_by": "source"}, headers=auth(publisher_key)
    )
    assert by_source.status_code == 200, by_source.text
    assert by_source.json()["rows"] == [
        {
            "source": "google",
            "score_decile": 1,
            "calls": 1,
            "conversions": 0,
            "conversion_rate": 0.0,
            "mean_score_bp": 1_192,
        },
        {
            "source": "google",
            "score_decile": 6,
            "calls": 1,
            "conversions": 1,
            "conversion_rate": 1.0,
            "mean_score_bp": 6_225,
        },
    ]
    # a buyer never groups by the publisher's attribution, but sees its own calls' deciles
    refused = client.get(
        "/v1/reports/scores", params={"group_by": "source"}, headers=auth(buyer_key)
    )
    assert refused.status_code == 403
    own = client.get("/v1/reports/scores", headers=auth(buyer_key)).json()["rows"]
    assert sum(r["calls"] for r in own) >= 1
    assert all("source" not in r for r in own)
    models = client.get(
        "/v1/reports/scores", params={"group_by": "model"}, headers=auth(market.finance_key)
    ).json()["rows"]
    assert {r["model_version"] for r in models} == {MODEL.version}

    # the webhook body: what the timeline shows
    events = stored_events(scoring.app.store.read_aggregate(long_call))
    index = next(i for i, (t, _) in enumerate(events) if t == topic_of(Call.CallScored))
    body = payload("wh_1", long_call, Recipient(Role.BUYER, buyer_id), events, index)
    assert body is not None
    assert body["type"] == "call.scored"
    assert body["data"]["score_bp"] == expected
    assert "features" not in body["data"]


def _features(domain: Domain, call_id: str) -> CallFeatures:
    found = domain.app.load(Call, call_id, "call_id").score_features
    assert found is not None
    return CallFeatures.from_json(found)
