"""Finance's audits in the portal: `replay verify` started from the page runs in the
background, shows its progress, and ends with the verdict `verify` gives on the same store;
each audit expects the head of the last one that passed, so a log cut after an audit fails the
next; one runs at a time; an audit whose process died is shown as interrupted; only finance
and admins may open or start them, and only with the form's CSRF token."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from domain.clock import ManualClock
from eventstore.audits import AuditRow, AuditState, AuditStore, NewAudit
from eventstore.chain import chain_key
from portal.audits import RUN_S_MAX, STALE_S, AuditJobs
from portal.routers.audits import POLLS_MAX
from ppcx.settings import Settings
from replay.verify import verify
from tests.portal.conftest import Browser, accept, auth, build_market, invite_user
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration
_AUDIT_URL = re.compile(r"^/finance/audits/(\d+)$")


def _jobs(client: TestClient) -> AuditJobs:
    jobs: AuditJobs = client.app.state.portal.audits  # type: ignore[attr-defined]
    return jobs


def _key(settings: Settings) -> bytes:
    assert settings.audit_key is not None
    return chain_key(settings.audit_key)


def _store(client: TestClient) -> Any:
    return client.app.state.services.app.store  # type: ignore[attr-defined]


def _finance(client: TestClient, email: str = "fi@example.com") -> Browser:
    browser = Browser(client)
    assert accept(browser, invite_user(client, email, "finance")).status_code == 303
    return browser


def _start(browser: Browser) -> Any:
    return browser.post_form("/finance/audits", "/finance/audits", {}, follow_redirects=False)


def _run(client: TestClient, browser: Browser) -> AuditRow:
    """Start an audit from the page and wait for its end → its record."""
    answer = _start(browser)
    assert answer.status_code == 303, answer.text
    found = _AUDIT_URL.match(answer.headers["location"])
    assert found, answer.headers["location"]
    audit_id = int(found.group(1))
    records = _jobs(client).records
    wait_until(lambda: not records.get(audit_id).running, f"audit {audit_id} ending")  # type: ignore[union-attr]
    row = records.get(audit_id)
    assert row is not None
    return row


def _cut(settings: Settings, after: int) -> None:
    with sqlite3.connect(Path(str(settings.sqlite_dbname))) as con:
        con.execute("DELETE FROM stored_events WHERE rowid > ?", (after,))


def test_finance_runs_an_audit_and_sees_the_verdict_verify_gives(
    portal_app: TestClient, api_settings: Settings
) -> None:
    build_market(portal_app)
    finance = _finance(portal_app)
    empty = finance.get("/finance/audits")
    assert empty.status_code == 200
    assert "No audits yet" in empty.text
    assert 'href="/finance/audits"' in empty.text  # the nav's Audits link
    head = _store(portal_app).head()

    row = _run(portal_app, finance)

    direct = verify(_store(portal_app).read_chained, _key(api_settings))
    assert direct.ok
    assert row.state is AuditState.PASSED
    assert row.result == direct.to_json().decode()
    assert (row.head, row.head_link) == (direct.head, direct.head_link) == (head, row.head_link)
    assert row.expect_head is None  # the first audit expects nothing
    assert (row.log_head, row.position, row.events) == (head, head, direct.events)
    assert row.started_by == "fi@example.com"
    page = finance.get(f"/finance/audits/{row.id}")
    assert page.status_code == 200
    assert re.search(r'id="audit-verdict"[^>]*>\s*passed', page.text)
    assert f'id="audit-head">{head}<' in page.text
    assert direct.head_link in page.text
    assert "fi@example.com" in page.text
    assert "none: the first audit" in page.text
    fragment = finance.get(f"/finance/audits/{row.id}/progress?n=1")
    assert fragment.status_code == 200
    assert "<html" not in fragment.text  # a fragment, not a page
    assert "hx-get" not in fragment.text  # done: the page stops polling


def test_each_audit_expects_the_last_passed_head_and_a_cut_log_fails_the_next(
    portal_app: TestClient, api_settings: Settings
) -> None:
    market = build_market(portal_app)
    finance = _finance(portal_app)
    first = _run(portal_app, finance)
    assert first.state is AuditState.PASSED
    buyer_id = next(iter(market.buyers))
    for n in range(3):
        deposit = {"amount": "1.00", "reference": f"top-up {n}"}
        answer = portal_app.post(
            f"/v1/buyers/{buyer_id}/deposits", json=deposit, headers=auth(market.finance_key)
        )
        assert answer.status_code < 300, answer.text
    second = _run(portal_app, finance)
    assert second.state is AuditState.PASSED
    assert (second.expect_head, second.expect_link) == (first.head, first.head_link)
    assert second.head is not None
    assert first.head is not None
    assert second.head > first.head

    # events removed from the end, back before the second audit's head
    _cut(api_settings, second.head - 3)
    third = _run(portal_app, finance)
    assert third.state is AuditState.FAILED
    assert third.expect_head == second.head
    direct = verify(
        _store(portal_app).read_chained,
        _key(api_settings),
        expect_head=second.head,
        expect_link=bytes.fromhex(str(second.head_link)),
    )
    assert not direct.ok
    assert third.result == direct.to_json().decode()
    (failure,) = orjson.loads(str(third.result))["failures"]
    assert failure["check"] == "chain"
    assert "before the expected head" in failure["message"]
    page = finance.get(f"/finance/audits/{third.id}")
    assert re.search(r'id="audit-verdict"[^>]*>\s*FAILED', page.text)
    assert "before the expected head" in page.text
    # a failed audit is no expectation: the next one still expects the last that passed
    fourth = _run(portal_app, finance)
    assert fourth.expect_head == second.head
    listed = finance.get("/finance/audits").text
    order = [int(n) for n in re.findall(r'<td><a href="/finance/audits/(\d+)">', listed)]
    assert order == [fourth.id, third.id, second.id, first.id]


def _running(jobs: AuditJobs, clock: ManualClock, pid: int, log_head: int = 100) -> AuditRow:
    """An audit another API worker (process `pid`) is running, as its records show it."""
    at_ms = int(clock.now().timestamp() * 1000)
    row, created = jobs.records.begin(
        NewAudit("other@example.com", at_ms, pid, jobs.host, log_head)
    )
    assert created
    return row


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_one_audit_at_a_time_its_progress_polled_and_a_dead_one_is_interrupted(
    portal_app: TestClient, clock: ManualClock
) -> None:
    build_market(portal_app)
    finance = _finance(portal_app)
    jobs = _jobs(portal_app)
    other = _running(jobs, clock, os.getppid())  # a live process: another worker's audit
    jobs.records.beat(other.id, int(clock.now().timestamp() * 1000), events=39, position=40)
    page = finance.get(f"/finance/audits/{other.id}")
    assert "running…" in page.text
    assert "40 of 100" in page.text
    assert f'hx-get="/finance/audits/{other.id}/progress?n=1"' in page.text
    assert finance.get("/finance/audits").text.count("40 of 100") == 1  # on the list too
    polled = finance.get(f"/finance/audits/{other.id}/progress?n=7").text
    assert "progress?n=8" in polled
    last = finance.get(f"/finance/audits/{other.id}/progress?n={POLLS_MAX}").text
    assert "hx-get" not in last  # polling is bounded
    assert "Reload the page" in last

    again = _start(finance)  # a second audit while one runs: the running one
    assert again.headers["location"] == f"/finance/audits/{other.id}?already=running"
    assert "An audit is running already" in finance.get(again.headers["location"]).text
    assert [r.id for r in jobs.records.history(10)] == [other.id]

    clock.advance(timedelta(seconds=STALE_S + 1))  # its worker went silent
    stale = finance.get(f"/finance/audits/{other.id}")
    assert re.search(r'id="audit-verdict"[^>]*>\s*interrupted', stale.text)
    assert "no sign of life" in stale.text
    assert "hx-get" not in stale.text

    gone = _running(jobs, clock, _dead_pid())  # its worker's process exited
    assert "interrupted" in finance.get(f"/finance/audits/{gone.id}").text
    assert "stopped" in str(jobs.records.get(gone.id).error)  # type: ignore[union-attr]
    mine = _running(jobs, clock, os.getpid())  # "this process", with no thread running it
    assert "interrupted" in finance.get(f"/finance/audits/{mine.id}").text
    assert jobs.records.get(mine.id).state is AuditState.INTERRUPTED  # type: ignore[union-attr]
    endless = _running(jobs, clock, os.getppid())  # alive and beating, but for too long
    clock.advance(timedelta(seconds=RUN_S_MAX + 1))
    jobs.records.beat(endless.id, int(clock.now().timestamp() * 1000), events=1, position=1)
    assert "given up on" in finance.get(f"/finance/audits/{endless.id}").text
    assert jobs.records.last_passed() is None
    assert finance.get("/finance/audits/999").status_code == 404
    assert finance.get("/finance/audits/x1").status_code == 404


def test_only_finance_and_admins_open_audits_and_a_post_needs_the_csrf_token(
    portal_app: TestClient,
) -> None:
    market = build_market(portal_app)
    buyer = Browser(portal_app)
    buyer_id = next(iter(market.buyers))
    accept(buyer, invite_user(portal_app, "bu@example.com", "buyer", buyer_id))
    for answer in (
        buyer.get("/finance/audits"),
        buyer.post_form("/account", "/finance/audits", {}),
    ):
        assert answer.status_code == 403
        assert "Not for your role" in answer.text
    assert 'href="/finance/audits"' not in buyer.get("/account").text
    admin = Browser(portal_app)
    accept(admin, invite_user(portal_app, "ad@example.com", "admin"))
    assert admin.get("/finance/audits").status_code == 200
    finance = _finance(portal_app)
    forged = finance.post("/finance/audits", data={"csrf": "0" * 64})
    assert forged.status_code == 403
    assert "expired" in forged.text
    bare = finance.post("/finance/audits", data={})
    assert bare.status_code == 403
    assert _jobs(portal_app).records.history(10) == []
    stranger = Browser(portal_app).get("/finance/audits", follow_redirects=False)
    assert stranger.status_code == 303
    assert stranger.headers["location"].startswith("/login")


def test_of_several_workers_starting_at_once_one_audit_begins(tmp_path: Path) -> None:
    """Each worker its own connection to the file: the check and the insert are atomic."""
    path = tmp_path / "audits.sqlite"
    starters = 8
    barrier = threading.Barrier(starters)
    outcomes: list[tuple[int, bool]] = []

    def start(n: int) -> None:
        store = AuditStore(path)
        barrier.wait()
        row, created = store.begin(NewAudit(f"w{n}@example.com", 1_000 + n, 1, "host", 10))
        outcomes.append((row.id, created))

    threads = [
        threading.Thread(target=start, args=(n,), name=f"starter-{n}") for n in range(starters)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == starters
    assert sorted(created for _, created in outcomes) == [False] * (starters - 1) + [True]
    assert {audit_id for audit_id, _ in outcomes} == {1}
    assert len(AuditStore(path).history(10)) == 1
