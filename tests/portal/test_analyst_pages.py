"""The analyst pages through the real app: the SQL console (the sandbox's refusals on the
page, the table, CSV and Parquet downloads equal to it, saved queries per user) and the P&L
page (the API's report numbers); who may open them."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient

from domain.clock import ManualClock
from ppcx.settings import Settings
from tests.portal.conftest import Browser, accept, auth, build_market, invite_user, project

pytestmark = pytest.mark.integration
QUERY = "SELECT call_id, revenue_cents, billed FROM calls ORDER BY call_id"
CLICK_ID = "gclid-analyst-1"


def _call(client: TestClient, clock: ManualClock, key: str, ping: Any) -> str:
    offer = ping.json()
    assert offer["accepted"] is True, offer
    call_id = str(
        client.post(f"/v1/pings/{offer['ping_id']}/post", headers=auth(key)).json()["call_id"]
    )
    for event in ({"type": "answered"}, {"type": "completed", "duration_s": 90}):
        answer = client.post(f"/v1/calls/{call_id}/events", json=event, headers=auth(key))
        assert answer.status_code == 200, answer.text
    clock.advance(timedelta(minutes=2))
    return call_id


@pytest.fixture
def scene(
    portal_app: TestClient, browser_factory: Any, clock: ManualClock, api_settings: Settings
) -> dict[str, Any]:
    """Two billed calls (one from an ad click), a refused ping, projected; an analyst signed in."""
    market = build_market(portal_app)
    _, publisher_key = market.publisher
    attribution = {"source": "google", "keyword": "car accident lawyer", "click_id": CLICK_ID}
    calls = [
        _call(
            portal_app, clock, publisher_key, market.ping(publisher_key, attribution=attribution)
        ),
        _call(portal_app, clock, publisher_key, market.ping(publisher_key, number="+13105550999")),
    ]
    analyst: Browser = browser_factory()
    assert accept(analyst, invite_user(portal_app, "ana@example.com", "analyst")).status_code == 303
    project(api_settings)
    return {"market": market, "analyst": analyst, "calls": calls}


def _cells(page: str, table_id: str) -> list[list[str]]:
    """The rows of a table of the page, as the text of their cells."""
    body = page.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    return [
        [
            html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>", 1)[1], re.S)
    ]


def test_analysts_start_on_pnl_and_other_roles_are_refused(
    scene: dict[str, Any], browser_factory: Any, portal_app: TestClient
) -> None:
    analyst: Browser = scene["analyst"]
    home = analyst.get("/", follow_redirects=False)
    assert home.headers["location"] == "/analyst/pnl"
    for path in ("/analyst/pnl", "/analyst/sql"):
        assert f'href="{path}" aria-current="page"' in analyst.get(path).text  # in the nav
    market = scene["market"]
    buyer_id = next(iter(market.buyers))
    publisher_id, _ = market.publisher
    for email, role, owner in (
        ("bo@example.com", "buyer", buyer_id),
        ("pia@example.com", "publisher", publisher_id),
    ):
        other: Browser = browser_factory()
        assert accept(other, invite_user(portal_app, email, role, owner)).status_code == 303
        for path in ("/analyst/sql", "/analyst/pnl", f"/analyst/sql.csv?sql={QUERY}"):
            page = other.get(path)
            assert page.status_code == 403, (role, path)
            assert "Not for your role" in page.text
        refused = other.post_form(
            "/account", "/analyst/sql/saved", {"name": "x", "sql": "SELECT 1"}
        )
        assert refused.status_code == 403
    finance: Browser = browser_factory()
    assert accept(finance, invite_user(portal_app, "fin@example.com", "finance")).status_code == 303
    assert finance.get("/analyst/sql").status_code == 200


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        ("select * from read_csv('/etc/passwd')", "refused"),
        ("SELECT content FROM read_text('/etc/hostname')", "refused"),
        ("COPY calls TO '/tmp/ppcx-stolen.csv'", "a COPY statement is refused"),
        ("ATTACH '/tmp/ppcx-other.duckdb' AS other", "a ATTACH statement is refused"),
        ("SELECT 1; SELECT 2", "one statement at a time"),
        ("SET enable_external_access = true", "statement is refused"),
    ],
)
def test_the_console_refuses_what_leaves_the_sandbox(
    scene: dict[str, Any], sql: str, words: str
) -> None:
    analyst: Browser = scene["analyst"]
    for path in ("/analyst/sql", "/analyst/sql.csv", "/analyst/sql.parquet"):
        page = analyst.get(path, params={"sql": sql})
        assert page.status_code == 422, (path, page.status_code)
        assert 'id="sql-refused"' in page.text
        assert words in html.unescape(page.text)
        assert "read-only" in page.text
    assert not Path("/tmp/ppcx-stolen.csv").exists()
    bad = analyst.get("/analyst/sql", params={"sql": "SELECT nothing FROM nowhere"})
    assert bad.status_code == 422
    assert "nowhere" in html.unescape(bad.text)


def test_the_console_shows_rows_and_its_downloads_equal_them(
    scene: dict[str, Any], tmp_path: Path
) -> None:
    analyst: Browser = scene["analyst"]
    page = analyst.get("/analyst/sql", params={"sql": QUERY})
    assert page.status_code == 200
    shown = _cells(page.text, "sql-result")
    assert [r[0] for r in shown] == sorted(scene["calls"])
    assert "2 rows." in page.text
    csv_answer = analyst.get("/analyst/sql.csv", params={"sql": QUERY})
    assert csv_answer.status_code == 200
    assert csv_answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(csv_answer.text)))
    assert rows[0] == ["call_id", "revenue_cents", "billed"]
    assert rows[1:] == shown
    parquet = analyst.get("/analyst/sql.parquet", params={"sql": QUERY})
    assert parquet.status_code == 200
    path = tmp_path / "result.parquet"
    path.write_bytes(parquet.content)
    read = duckdb.connect().execute("SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
    assert [[str(c) for c in r] for r in read] == shown
    assert [str(r[1]) for r in read] == ["5000", "5000"]  # revenue, cents


def test_a_long_result_is_cut_and_says_so(scene: dict[str, Any]) -> None:
    page = scene["analyst"].get("/analyst/sql", params={"sql": "SELECT * FROM range(1000)"})
    assert page.status_code == 200
    assert "The first 500 rows only" in page.text
    assert len(_cells(page.text, "sql-result")) == 500


def test_saved_queries_are_each_users_own(
    scene: dict[str, Any], browser_factory: Any, portal_app: TestClient
) -> None:
    analyst: Browser = scene["analyst"]
    saved = analyst.post_form(
        "/analyst/sql",
        "/analyst/sql/saved",
        {"name": "Billed calls", "sql": QUERY},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == "/analyst/sql?saved=Billed+calls"
    run = analyst.get(saved.headers["location"])
    assert run.status_code == 200
    assert [r[0] for r in _cells(run.text, "sql-result")] == sorted(scene["calls"])
    assert _cells(run.text, "saved-queries")[0][0] == "Billed calls"
    download = analyst.get("/analyst/sql.csv", params={"saved": "Billed calls"})
    assert download.headers["content-disposition"] == 'attachment; filename="Billed-calls.csv"'
    nameless = analyst.post_form("/analyst/sql", "/analyst/sql/saved", {"name": "", "sql": QUERY})
    assert nameless.status_code == 422
    assert 'id="e-name"' in nameless.text

    other: Browser = browser_factory()
    assert accept(other, invite_user(portal_app, "oz@example.com", "analyst")).status_code == 303
    assert "Billed calls" not in other.get("/analyst/sql").text
    assert other.get("/analyst/sql", params={"saved": "Billed calls"}).status_code == 404
    gone = other.post_form("/analyst/sql", "/analyst/sql/saved/remove", {"name": "Billed calls"})
    assert gone.status_code == 404  # not theirs to remove

    removed = analyst.post_form(
        "/analyst/sql",
        "/analyst/sql/saved/remove",
        {"name": "Billed calls"},
        follow_redirects=False,
    )
    assert removed.status_code == 303
    assert 'id="saved-queries"' not in analyst.get("/analyst/sql").text


def _api_rows(
    client: TestClient, key: str, name: str, params: dict[str, str]
) -> list[dict[str, Any]]:
    answer = client.get(f"/v1/reports/{name}", params=params, headers=auth(key))
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["rows"]
    return rows


def _shown(value: Any) -> str:
    return "–" if value is None else str(value)


def test_the_pnl_page_shows_the_apis_report_numbers(
    scene: dict[str, Any], portal_app: TestClient, clock: ManualClock
) -> None:
    analyst: Browser = scene["analyst"]
    key = scene["market"].analyst_key
    page = analyst.get(
        "/analyst/pnl", params={"days": "7", "by": "buyer", "attribution": "keyword"}
    )
    assert page.status_code == 200
    today = clock.now().date()
    period = {
        "from": f"{today - timedelta(days=6)}T00:00:00Z",
        "to": f"{today + timedelta(days=1)}T00:00:00Z",
    }
    columns = ("calls", "billable", "revenue", "payout", "margin")
    pnl = _api_rows(portal_app, key, "pnl", {"group_by": "day,buyer", **period})
    assert pnl, "the API reports the calls"
    want = sorted([[r["day"], r["buyer_id"], *(_shown(r[c]) for c in columns)] for r in pnl])
    assert sorted(_cells(page.text, "pnl-table")) == want
    assert '"margin": [' in page.text or '"margin":[' in page.text  # the chart's data

    attribution = _api_rows(portal_app, key, "attribution", {"group_by": "keyword", **period})
    want_attribution = sorted(
        [
            [
                r["keyword"],
                *(_shown(r[c]) for c in ("calls", "billable", "conversion_rate", *columns[2:])),
            ]
            for r in attribution
        ]
    )
    assert sorted(_cells(page.text, "attribution-table")) == want_attribution
    assert want_attribution[0][:3] == ["car accident lawyer", "2", "2"]

    funnel = _api_rows(portal_app, key, "funnel", period)[0]
    shown_funnel = {r[0]: r[1] for r in _cells(page.text, "funnel-table")}
    assert shown_funnel == {k: str(v or 0) for k, v in funnel.items()}
    buyers = _api_rows(portal_app, key, "buyers", period)
    assert [r[0] for r in _cells(page.text, "buyers-table")] == [b["buyer_id"] for b in buyers]
    assert [r[5] for r in _cells(page.text, "buyers-table")] == [str(b["wins"]) for b in buyers]
    targets = _api_rows(portal_app, key, "buyers", {**period, "group_by": "target"})
    assert targets  # every target of the buyers, with its answer rate and quality columns
    assert [r[0] for r in _cells(page.text, "targets-table")] == [t["target_id"] for t in targets]
    assert [r[4] for r in _cells(page.text, "targets-table")] == [
        _shown(t["answer_rate"]) for t in targets
    ]

    clicks = analyst.get("/analyst/pnl", params={"days": "7", "attribution": "click_id"})
    rows = _cells(clicks.text, "attribution-table")
    assert rows == [[CLICK_ID, "1", "1", "0", "50.00", "30.00", "20.00"]]
