"""Finance pages: the ledger's accounts (now and as of an earlier time), open holds, the
transfer journal paged like the API's, the dispute queue with a dispute's evidence and its
accept / reject form, invoices and statements with CSV and a printable page — for finance
staff and admins only."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

import portal.routers.finance as finance_pages
from domain.clock import ManualClock
from ppcx.settings import Settings
from tests.portal.conftest import (
    Browser,
    accept,
    auth,
    build_market,
    completed_call,
    invite_user,
    project,
)

pytestmark = pytest.mark.integration
MARCH = {"from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"}
PATHS = (
    "/finance/accounts",
    "/finance/holds",
    "/finance/journal",
    "/finance/disputes",
    "/finance/invoices",
    "/finance/statements",
)


def _signed_in(client: TestClient, browser: Browser, email: str, role: str, owner: Any) -> Any:
    answer = accept(browser, invite_user(client, email, role, owner))
    assert answer.status_code == 303
    return answer


@pytest.fixture
def scene(
    portal_app: TestClient, browser_factory: Any, clock: ManualClock, api_settings: Settings
) -> dict[str, Any]:
    """Deposits at 15:00; at 15:10 a call billed (50.00) to the first buyer, which disputes
    it; a finance user signed in; projected."""
    market = build_market(portal_app)
    buyer_id = next(iter(market.buyers))
    publisher_id, publisher_key = market.publisher
    clock.advance(timedelta(minutes=10))
    call_id = completed_call(portal_app, clock, publisher_key, market.ping(publisher_key), 75)
    clock.advance(timedelta(minutes=30))
    opened = portal_app.post(
        f"/v1/calls/{call_id}/dispute",
        json={"reason": "wrong number"},
        headers=auth(market.buyers[buyer_id]),
    )
    assert opened.status_code == 201, opened.text
    browser: Browser = browser_factory()
    signed = _signed_in(portal_app, browser, "fay@example.com", "finance", None)
    project(api_settings)
    return {
        "market": market,
        "browser": browser,
        "signed_in": signed,
        "buyer_id": buyer_id,
        "publisher_id": publisher_id,
        "publisher_key": publisher_key,
        "call_id": call_id,
        "dispute_id": opened.json()["dispute_id"],
    }


def _balances(html: str, account: str) -> dict[str, str]:
    """The posted, pending and available balances of an account's row on the accounts page."""
    row = re.search(rf'<tr data-account="{re.escape(account)}">(.*?)</tr>', html, re.S)
    assert row is not None, f"no row for {account}"
    return dict(re.findall(r'data-balance="(\w+)">([^<]*)</td>', row.group(1)))


def test_finance_starts_on_the_accounts_and_as_of_shows_an_earlier_balance(
    scene: dict[str, Any],
) -> None:
    browser, buyer = scene["browser"], f"buyer:{scene['buyer_id']}"
    assert scene["signed_in"].headers["location"] == "/finance/accounts"
    now = browser.get("/finance/accounts")
    assert now.status_code == 200
    assert _balances(now.text, buyer) == {
        "posted": "950.00",
        "pending": "0.00",
        "available": "950.00",
    }
    assert f'data-account="publisher:{scene["publisher_id"]}"' in now.text
    assert 'type="datetime-local"' in now.text
    earlier = browser.get("/finance/accounts", params={"as_of": "2026-03-02T15:05"})
    assert earlier.status_code == 200
    assert _balances(earlier.text, buyer)["available"] == "1000.00"
    assert "as of 2026-03-02 15:05:00 UTC" in earlier.text
    assert f"publisher:{scene['publisher_id']}" not in earlier.text  # paid nothing yet
    before_all = browser.get("/finance/accounts", params={"as_of": "2026-03-01T00:00:00"})
    assert "No account has entries at that time." in before_all.text
    bad = browser.get("/finance/accounts", params={"as_of": "yesterday at noon"})
    assert bad.status_code == 422
    assert re.search(r'<p class="error" id="e-as_of">give a date and time \(UTC\)', bad.text)
    assert 'aria-invalid="true"' in bad.text
    assert buyer not in bad.text  # no balances shown for a time not understood


def test_open_holds_and_the_journal_paged_like_the_api(
    scene: dict[str, Any],
    portal_app: TestClient,
    api_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    browser, market, key = scene["browser"], scene["market"], scene["publisher_key"]
    offer = market.ping(key, number="+13105550777").json()
    posted = portal_app.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(key))
    assert posted.status_code == 200, posted.text
    project(api_settings)
    holds = browser.get("/finance/holds")
    assert holds.status_code == 200
    row = re.search(rf"<tr>(?:(?!</tr>).)*{posted.json()['call_id']}.*?</tr>", holds.text, re.S)
    assert row is not None
    assert f"buyer:{scene['buyer_id']}" in row.group(0)
    assert "50.00" in row.group(0)

    monkeypatch.setattr(finance_pages, "PAGE_SIZE", 3)
    first = browser.get("/finance/journal")
    assert first.status_code == 200
    api_first = portal_app.get(
        "/v1/ledger/transfers", params={"limit": 3}, headers=auth(market.finance_key)
    ).json()
    for line in api_first["items"]:
        assert line["transfer_id"] in first.text
    found = re.search(r'href="/finance/journal\?account=&amp;cursor=(\d+)"', first.text)
    assert found is not None
    assert found.group(1) == api_first["next_cursor"]
    second = browser.get("/finance/journal", params={"cursor": found.group(1)})
    api_second = portal_app.get(
        "/v1/ledger/transfers",
        params={"limit": 3, "cursor": found.group(1)},
        headers=auth(market.finance_key),
    ).json()
    shown = re.findall(r"<td><code>(\w+)</code></td>\s*<td>", second.text)
    assert shown == [line["transfer_id"] for line in api_second["items"]]
    assert "(a later page)" in second.text
    assert browser.get("/finance/journal", params={"cursor": "1;drop"}).status_code == 422
    mine = browser.get("/finance/journal", params={"account": f"buyer:{scene['buyer_id']}"})
    assert "platform:cash</code>" not in mine.text


def test_the_dispute_queue_and_a_disputes_evidence(scene: dict[str, Any]) -> None:
    browser, dispute_id = scene["browser"], scene["dispute_id"]
    queue = browser.get("/finance/disputes")
    assert queue.status_code == 200
    assert f'href="/finance/disputes/{dispute_id}"' in queue.text
    assert "wrong number" in queue.text
    assert dispute_id not in browser.get("/finance/disputes", params={"status": "accepted"}).text
    assert dispute_id in browser.get("/finance/disputes", params={"status": "any"}).text
    assert browser.get("/finance/disputes", params={"cursor": "x" * 5000}).status_code == 404
    page = browser.get(f"/finance/disputes/{dispute_id}")
    assert page.status_code == 200
    assert '<dd id="dispute-status" class="">open</dd>' in page.text
    assert "75 s against a buffer of 60 s" in page.text
    assert "at or over the buffer" in page.text
    assert "not a duplicate" in page.text
    assert '<dd id="evidence-consent">none sent with the ping</dd>' in page.text
    assert "50.00 USD (publisher payout 30.00 USD)" in page.text
    assert "publisher id" in page.text  # unredacted: finance sees the publisher's part too
    assert "Accept (reverse the charge)" in page.text
    assert browser.get("/finance/disputes/dsp_nosuchdispute").status_code == 404


def _buyer_balance(client: TestClient, key: str, buyer_id: str) -> str:
    found = client.get(f"/v1/buyers/{buyer_id}", headers=auth(key))
    assert found.status_code == 200, found.text
    return str(found.json()["available"])


def _dispute_status(client: TestClient, key: str, call_id: str, dispute_id: str) -> str:
    events = client.get(f"/v1/calls/{call_id}", headers=auth(key)).json()["events"]
    resolved = [e for e in events if e["type"] == "DisputeResolved"]
    if not resolved:
        return "open"
    assert [e["dispute_id"] for e in resolved] == [dispute_id]
    return "accepted" if resolved[0]["accepted"] else "rejected"


def test_accepting_a_dispute_reverses_the_charge(
    scene: dict[str, Any], api_settings: Settings
) -> None:
    browser, dispute_id, call_id = scene["browser"], scene["dispute_id"], scene["call_id"]
    client, key = browser.client, scene["market"].finance_key
    page = f"/finance/disputes/{dispute_id}"
    action = f"{page}/resolve"
    forged = browser.post(action, data={"decision": "accept", "csrf": "0" * 64})
    assert forged.status_code == 403
    undecided = browser.post_form(page, action, {"decision": "maybe"})
    assert undecided.status_code == 422
    assert "choose accept or reject" in undecided.text
    too_long = browser.post_form(page, action, {"decision": "accept", "note": "x" * 5000})
    assert too_long.status_code == 422
    assert 'id="e-note"' in too_long.text
    assert _dispute_status(client, key, call_id, dispute_id) == "open"  # nothing changed
    assert _buyer_balance(client, key, scene["buyer_id"]) == "950.00"

    done = browser.post_form(
        page, action, {"decision": "accept", "note": "carrier record"}, follow_redirects=False
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"{page}?done=accepted"
    assert _dispute_status(client, key, call_id, dispute_id) == "accepted"
    assert _buyer_balance(client, key, scene["buyer_id"]) == "1000.00"
    shown = browser.get(done.headers["location"])
    assert "Dispute accepted" in shown.text
    assert "carrier record" in shown.text
    assert "Accept (reverse the charge)" not in shown.text
    again = browser.post_form("/finance/disputes", action, {"decision": "reject"})
    assert again.status_code == 409
    assert "already accepted" in again.text
    project(api_settings)
    accounts = browser.get("/finance/accounts").text
    assert _balances(accounts, f"buyer:{scene['buyer_id']}")["available"] == "1000.00"
    assert dispute_id not in browser.get("/finance/disputes").text  # the queue: open ones


def test_rejecting_a_dispute_leaves_the_charge(scene: dict[str, Any]) -> None:
    browser, dispute_id, call_id = scene["browser"], scene["dispute_id"], scene["call_id"]
    client, key = browser.client, scene["market"].finance_key
    page = f"/finance/disputes/{dispute_id}"
    done = browser.post_form(page, f"{page}/resolve", {"decision": "reject"})
    assert done.status_code == 200
    assert "Dispute rejected" in done.text
    assert _dispute_status(client, key, call_id, dispute_id) == "rejected"
    assert _buyer_balance(client, key, scene["buyer_id"]) == "950.00"


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _as_csv(lines: list[dict[str, Any]]) -> list[dict[str, str]]:
    columns = ("at", "transfer_id", "kind", "call_id", "debit", "credit")
    return [{c: "" if line[c] is None else str(line[c]) for c in columns} for line in lines]


@pytest.mark.parametrize(
    ("kind", "holder", "api_path"),
    [("invoices", "buyer", "/v1/invoices"), ("statements", "publisher", "/v1/statements")],
)
def test_invoices_and_statements_csv_match_the_api_and_print(
    scene: dict[str, Any], kind: str, holder: str, api_path: str
) -> None:
    browser, key = scene["browser"], scene["market"].finance_key
    holder_id = scene[f"{holder}_id"]
    query = {holder: holder_id, "month": "2026-03"}
    page = browser.get(f"/finance/{kind}", params=query)
    assert page.status_code == 200
    assert f'<option value="{holder_id}" selected>' in page.text
    assert f"/finance/{kind}.csv?{holder}={holder_id}&amp;month=2026-03" in page.text
    document = browser.client.get(f"{api_path}/{holder_id}", params=MARCH, headers=auth(key))
    assert document.status_code == 200, document.text
    answer = browser.get(f"/finance/{kind}.csv", params=query)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].startswith("attachment;")
    rows = _csv_rows(answer.text)
    assert rows == _as_csv(document.json()["lines"])
    assert scene["call_id"] in {r["call_id"] for r in rows}
    printable = browser.get(f"/finance/{kind}/print", params=query)
    assert printable.status_code == 200
    assert "Sign out" not in printable.text  # no navigation on paper
    assert document.json()["closing_balance"] in printable.text
    assert browser.get(f"/finance/{kind}", params={**query, "month": "March"}).status_code == 422
    unknown = {holder: "byr_nosuchholder", "month": "2026-03"}
    assert browser.get(f"/finance/{kind}.csv", params=unknown).status_code == 404


def test_an_admin_may_open_the_finance_pages(
    portal_app: TestClient, browser_factory: Any, api_settings: Settings
) -> None:
    build_market(portal_app)
    project(api_settings)
    browser = browser_factory()
    _signed_in(portal_app, browser, "ann@example.com", "admin", None)
    for path in PATHS:
        assert browser.get(path).status_code == 200, path
    # every finance page is in an admin's finance sub-navigation, the audits too
    assert 'href="/finance/audits"' in browser.get("/finance/accounts").text


def test_buyer_and_publisher_users_get_the_forbidden_page(
    portal_app: TestClient, browser_factory: Any
) -> None:
    market = build_market(portal_app)
    publisher_id, _ = market.publisher
    buyer_id = next(iter(market.buyers))
    for email, role, owner in (
        ("bea@example.com", "buyer", buyer_id),
        ("pat@example.com", "publisher", publisher_id),
    ):
        browser = browser_factory()
        _signed_in(portal_app, browser, email, role, owner)
        for path in (*PATHS, "/finance/invoices.csv", "/finance/statements/print"):
            answer = browser.get(path)
            assert answer.status_code == 403, (role, path)
            assert "Not for your role" in answer.text
        forged = browser.post_form(
            "/account", "/finance/disputes/dsp_x/resolve", {"decision": "accept"}
        )
        assert forged.status_code == 403


def test_a_disputes_evidence_shows_the_consent_the_ping_carried(
    portal_app: TestClient, browser_factory: Any, clock: ManualClock, api_settings: Settings
) -> None:
    market = build_market(portal_app)
    buyer_id = next(iter(market.buyers))
    _, publisher_key = market.publisher
    cert = "https://cert.trustedform.com/" + "ab" * 20
    consent = {
        "trustedform_cert_url": cert,
        "jornaya_leadid": "3F2504E0-4F89-11D3-9A0C-0305E82C3301",
    }
    ping = market.ping(publisher_key, consent=consent)
    call_id = completed_call(portal_app, clock, publisher_key, ping, 75)
    opened = portal_app.post(
        f"/v1/calls/{call_id}/dispute",
        json={"reason": "no consent on file"},
        headers=auth(market.buyers[buyer_id]),
    )
    assert opened.status_code == 201, opened.text
    browser: Browser = browser_factory()
    _signed_in(portal_app, browser, "fay@example.com", "finance", None)
    page = browser.get(f"/finance/disputes/{opened.json()['dispute_id']}")
    assert page.status_code == 200
    evidence = re.search(r'<dd id="evidence-consent">(.*?)</dd>', page.text, re.S)
    assert evidence is not None
    assert f'TrustedForm <a href="{cert}"' in evidence.group(1)
    assert "Jornaya LeadiD <code>3F2504E0-4F89-11D3-9A0C-0305E82C3301</code>" in evidence.group(1)


def test_a_disputes_evidence_shows_a_billed_buzzer_beater(
    portal_app: TestClient, browser_factory: Any, clock: ManualClock, api_settings: Settings
) -> None:
    """A campaign that bills buzzer-beaters: the buyer disputes one; finance sees who hung up
    and the flag, with the rules that decided it."""
    market = build_market(portal_app)
    market.admin("PATCH", f"/v1/campaigns/{market.campaign_id}", json={"bill_buzzer_beaters": True})
    buyer_id = next(iter(market.buyers))
    _, publisher_key = market.publisher
    offer = market.ping(publisher_key).json()
    posted = portal_app.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(publisher_key))
    call_id = posted.json()["call_id"]
    for body in (
        {"type": "answered"},
        {"type": "completed", "duration_s": 55, "ended_by": "buyer"},  # buffer 60
    ):
        done = portal_app.post(
            f"/v1/calls/{call_id}/events", json=body, headers=auth(publisher_key)
        )
        assert done.status_code == 200, done.text
    assert done.json()["billable"] is True
    opened = portal_app.post(
        f"/v1/calls/{call_id}/dispute",
        json={"reason": "caller hung up"},
        headers=auth(market.buyers[buyer_id]),
    )
    assert opened.status_code == 201, opened.text
    browser: Browser = browser_factory()
    _signed_in(portal_app, browser, "fay@example.com", "finance", None)
    page = browser.get(f"/finance/disputes/{opened.json()['dispute_id']}")
    assert page.status_code == 200
    assert '<dd id="evidence-ended-by">buyer</dd>' in page.text
    flags = re.search(r'<dd id="evidence-flags">(.*?)</dd>', page.text, re.S)
    assert flags is not None
    assert '<span class="status-bad">buzzer beater</span>' in flags.group(1)
    assert "buzzer margin 10 s before the buffer" in flags.group(1)
