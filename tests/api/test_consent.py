"""Consent evidence (TCPA), through HTTP with real Redis, NATS and SQLite: a ping carries the
caller's consent references, strictly checked; a target may require them and never wins a
ping without them; the winning buyer sees them on the call, another buyer does not; and
`replay verify` agrees with the exclusions, and catches a log edited to hide them."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from eventstore.chain import GENESIS, ChainHasher, chain_key
from ppcx.bootstrap import build_application
from ppcx.settings import Settings
from replay.log import event_name
from replay.verify import Report, verify
from tests.api.conftest import (
    ADMIN_KEY,
    Market,
    auth,
    event_count,
    market_over_http,
    project,
)
from tests.api.test_telephony import _dial_of, _twilio_post
from tools.market import BuyerSpec, MarketSpec

pytestmark = pytest.mark.e2e
CONSENT = {
    "trustedform_cert_url": "https://cert.trustedform.com/" + "0123456789abcdef" * 2 + "01234567",
    "jornaya_leadid": "3F2504E0-4F89-11D3-9A0C-0305E82C3301",
    "text_version": "tcpa-2024-03",
    "consented_at": "2026-12-01T14:30:00Z",
}


def _market(client: TestClient) -> tuple[Market, str, str]:
    """Buyer 0 bids 50.00 and requires consent; buyer 1 bids 45.00 and does not. → the
    market, the consenting buyer's id, the other's."""
    spec = MarketSpec(
        publishers=[{"name": "Acme Leads"}],
        campaign={
            "name": "LA car accidents",
            "vertical": "legal",
            "publisher_payout": {"fixed": "30.00"},
            "duplicate_window_days": 30,
        },
        buyers=[
            BuyerSpec(
                {"name": f"Buyer {n}", "time_zone": "America/Los_Angeles", "credit_limit": "0.00"},
                deposit={"amount": "1000.00", "reference": "wire"},
                targets=[
                    {
                        "destination": f"+1310555020{n}",
                        "bid": bid,
                        "buffer_s": 60,
                        "requires_consent": n == 0,
                    }
                ],
            )
            for n, bid in enumerate(("50.00", "45.00"))
        ],
    )
    market = market_over_http(client, spec)
    by_buyer = {buyer: target for target, buyer in market.targets.items()}
    strict, lax = list(market.buyers)
    assert market.admin("GET", f"/v1/targets/{by_buyer[strict]}")["requires_consent"] is True
    assert market.admin("GET", f"/v1/targets/{by_buyer[lax]}")["requires_consent"] is False
    return market, strict, lax


def _events(client: TestClient, key: str, call_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/calls/{call_id}", headers=auth(key))
    assert response.status_code == 200, response.text
    return list(response.json()["events"])


def _event(events: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(e for e in events if e["type"] == kind)


def _winner(client: TestClient, call_id: str) -> str:
    return str(_event(_events(client, ADMIN_KEY, call_id), "AuctionDecided")["winner_buyer_id"])


def _verify(settings: Settings) -> Report:
    app = build_application(settings)
    try:
        assert settings.audit_key is not None
        return verify(app.store.read_chained, chain_key(settings.audit_key), parallel=False)
    finally:
        app.close()


def _listed(market: Market, settings: Settings) -> dict[str, bool]:
    """`requires_consent` of the campaign's targets in the list (from the projections)."""
    project(settings)
    listed = market.admin("GET", "/v1/targets", params={"campaign_id": market.campaign_id})
    return {t["id"]: t["requires_consent"] for t in listed["items"]}


def test_a_target_requiring_consent_wins_only_pings_with_it(
    client: TestClient, api_settings: Settings
) -> None:
    market, strict, lax = _market(client)
    _, key = market.publisher
    strict_target = next(t for t, b in market.targets.items() if b == strict)
    lax_target = next(t for t, b in market.targets.items() if b == lax)

    without = market.ping(key, "+13105550123").json()
    assert without["accepted"] is True
    assert _winner(client, without["ping_id"]) == lax  # the higher bid needs consent
    decided = _event(_events(client, ADMIN_KEY, without["ping_id"]), "AuctionDecided")
    assert decided["excluded"] == {strict_target: "consent_missing"}

    with_consent = market.ping(key, "+13105550124", consent=CONSENT).json()
    assert with_consent["accepted"] is True
    assert _winner(client, with_consent["ping_id"]) == strict

    assert _listed(market, api_settings) == {strict_target: True, lax_target: False}
    # the rule is the target's, changed like any other: without it, the higher bid wins
    market.admin("PATCH", f"/v1/targets/{strict_target}", json={"requires_consent": False})
    assert market.admin("GET", f"/v1/targets/{strict_target}")["requires_consent"] is False
    again = market.ping(key, "+13105550125").json()
    assert _winner(client, again["ping_id"]) == strict

    report = _verify(api_settings)
    assert report.ok, report.failures[:5]
    assert _listed(market, api_settings) == {strict_target: False, lax_target: False}


def test_only_the_calls_parties_see_its_consent_references(
    client: TestClient, api_settings: Settings
) -> None:
    market, strict, lax = _market(client)
    _, key = market.publisher
    offer = market.ping(key, consent=CONSENT).json()
    assert _winner(client, offer["ping_id"]) == strict
    posted = client.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(key))
    assert posted.status_code == 200, posted.text

    for viewer in (market.buyers[strict], key, market.finance_key, ADMIN_KEY):
        ping = _event(_events(client, viewer, offer["ping_id"]), "PingReceived")
        assert ping["consent"] == CONSENT
    # the other buyer bid and lost: the call is not its own, nor its consent
    other = client.get(f"/v1/calls/{offer['ping_id']}", headers=auth(market.buyers[lax]))
    assert other.status_code == 404
    assert CONSENT["jornaya_leadid"] not in other.text

    # the calls list (from the projections; `ppcx export` writes the same columns)
    project(api_settings)
    for viewer in (market.buyers[strict], key):
        listed = client.get("/v1/calls", headers=auth(viewer)).json()["items"]
        row = next(r for r in listed if r["call_id"] == offer["ping_id"])
        assert row["consent_trustedform_cert_url"] == CONSENT["trustedform_cert_url"]
        assert row["consent_jornaya_leadid"] == CONSENT["jornaya_leadid"]
        assert row["consent_text_version"] == CONSENT["text_version"]
        assert row["consented_at"] == CONSENT["consented_at"]
    others = client.get("/v1/calls", headers=auth(market.buyers[lax])).json()["items"]
    assert offer["ping_id"] not in {r["call_id"] for r in others}


@pytest.mark.parametrize(
    ("consent", "fields"),
    [
        (
            {**CONSENT, "trustedform_cert_url": "https://cert.trustedform.com/abc"},
            {"consent.trustedform_cert_url"},
        ),
        (
            {**CONSENT, "trustedform_cert_url": "http://evil.example/" + "a" * 40},
            {"consent.trustedform_cert_url"},
        ),
        ({**CONSENT, "jornaya_leadid": "not-a-lead-id"}, {"consent.jornaya_leadid"}),
        ({**CONSENT, "consented_at": "2026-12-01 14:30"}, {"consent.consented_at"}),
        ({**CONSENT, "text_version": "x" * 65}, {"consent.text_version"}),
        ({**CONSENT, "ip": "1.2.3.4"}, {"consent.ip"}),
        (
            {"text_version": "v1", "consented_at": "2026-12-01T14:30:00Z"},
            {"consent.trustedform_cert_url"},
        ),
        (
            {"jornaya_leadid": "nope", "consented_at": "yesterday"},
            {"consent.jornaya_leadid", "consent.consented_at"},
        ),
    ],
)
def test_a_bad_consent_is_refused_naming_its_fields_and_nothing_is_recorded(
    client: TestClient, api_settings: Settings, consent: dict[str, Any], fields: set[str]
) -> None:
    market, _, _ = _market(client)
    _, key = market.publisher
    before = event_count(api_settings)
    refused = market.ping(key, consent=consent)
    assert refused.status_code == 422, refused.text
    assert {e["field"] for e in refused.json()["errors"]} == fields
    assert event_count(api_settings) == before


def test_a_twilio_call_carries_consent_on_its_webhook(
    client: TestClient, api_settings: Settings
) -> None:
    market, strict, _ = _market(client)
    market.tracking_number("+18005550177", source="tv")
    inbound = {"CallSid": "CA-C-1", "From": "+13105550123", "To": "+18005550177"}
    before = event_count(api_settings)
    bad = _twilio_post(client, "/v1/voice/inbound", {**inbound, "jornaya_leadid": "nope"})
    assert bad.status_code == 422, bad.text
    assert {e["field"] for e in bad.json()["errors"]} == {"jornaya_leadid"}
    assert event_count(api_settings) == before

    flat = {
        "trustedform_cert_url": CONSENT["trustedform_cert_url"],
        "consent_text_version": CONSENT["text_version"],
    }
    destination, action = _dial_of(_twilio_post(client, "/v1/voice/inbound", {**inbound, **flat}))
    assert destination == "+13105550200"  # the consent-requiring buyer's
    call_id = action.split("call_id=")[1].split("&")[0]
    ping = _event(_events(client, market.buyers[strict], call_id), "PingReceived")
    assert ping["consent"] == {
        "trustedform_cert_url": CONSENT["trustedform_cert_url"],
        "jornaya_leadid": None,
        "text_version": CONSENT["text_version"],
        "consented_at": None,
    }


# -- replay verify ------------------------------------------------------------------------------


def _ping_row(db: Path, call_id: str) -> tuple[int, bytes]:
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "SELECT rowid, topic, state FROM stored_events WHERE originator_id = ?", (call_id,)
        ).fetchall()
    return next(
        (rowid, state) for rowid, topic, state in rows if event_name(topic) == "Call.PingReceived"
    )


def _rewrite(settings: Settings, rowid: int, data: dict[str, Any]) -> None:
    """Edit one event and re-chain the log, as an insider holding the audit key could."""
    assert settings.audit_key is not None
    hasher, previous = ChainHasher(chain_key(settings.audit_key)), GENESIS
    with sqlite3.connect(Path(str(settings.sqlite_dbname))) as con:
        con.execute(
            "UPDATE stored_events SET state = ? WHERE rowid = ?", (orjson.dumps(data), rowid)
        )
        rows = con.execute(
            "SELECT rowid, originator_id, originator_version, topic, state "
            "FROM stored_events ORDER BY rowid"
        ).fetchall()
        for row, originator_id, version, topic, state in rows:
            previous = hasher.link(previous, row, originator_id, version, topic, state)
            con.execute("UPDATE stored_events SET chain = ? WHERE rowid = ?", (previous, row))


@pytest.mark.parametrize("hidden", ["consent_removed", "consent_added"])
def test_verify_catches_a_ping_whose_consent_was_edited(
    client: TestClient, api_settings: Settings, hidden: str
) -> None:
    market, strict, _ = _market(client)
    _, key = market.publisher
    with_consent = market.ping(key, "+13105550123", consent=CONSENT).json()
    without = market.ping(key, "+13105550124").json()
    assert _winner(client, with_consent["ping_id"]) == strict
    assert _verify(api_settings).ok

    target = with_consent["ping_id"] if hidden == "consent_removed" else without["ping_id"]
    rowid, state = _ping_row(Path(str(api_settings.sqlite_dbname)), target)
    data = orjson.loads(state)
    data["consent"] = None if hidden == "consent_removed" else CONSENT
    _rewrite(api_settings, rowid, data)

    report = _verify(api_settings)
    assert not report.ok
    assert {f.check for f in report.failures} == {"auctions"}
    assert any("consent" in f.message for f in report.failures)


def test_an_rtb_ping_carries_consent_as_parameters(
    client: TestClient, api_settings: Settings
) -> None:
    market, strict, _ = _market(client)
    _, key = market.publisher
    market.tracking_number("+18005550178", source="rtb")
    path = f"/v1/rtb/{market.campaign_id}.json"
    before = event_count(api_settings)
    bad = client.post(
        path, json={"CID": "3105550123", "consented_at": "yesterday"}, headers=auth(key)
    )
    assert bad.status_code == 422, bad.text
    assert {e["field"] for e in bad.json()["errors"]} == {"consented_at"}
    assert event_count(api_settings) == before

    body = {"CID": "3105550123", "jornaya_leadid": CONSENT["jornaya_leadid"]}
    answer = client.post(path, json=body, headers=auth(key)).json()
    assert answer["bidAmount"] == 30.0, answer
    assert _winner(client, answer["bidId"]) == strict
    ping = _event(_events(client, market.buyers[strict], answer["bidId"]), "PingReceived")
    assert ping["consent"]["jornaya_leadid"] == CONSENT["jornaya_leadid"]
