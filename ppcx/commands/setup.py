"""`ppcx targets list|show`, `ppcx campaigns list|show`, `ppcx keys list`: the set-up from the
shell. Lists read the projections' published snapshot (as `ppcx sql` does: a few seconds
behind the log); `show` loads the object from the event store (its exact current values, the
shape `GET /v1/<things>/{id}` answers). Every one prints a table, CSV or JSON."""

from __future__ import annotations

import sys
from typing import Any

import duckdb
import orjson
import typer
from rich.table import Table
from rich.text import Text

from ppcx.commands.analytics import Format, print_result
from ppcx.commands.common import console, fail, load_settings

targets_app = typer.Typer(
    help="Buyers' targets: list, show and change their rules.", no_args_is_help=True
)
campaigns_app = typer.Typer(help="Campaigns: list and show their rules.", no_args_is_help=True)
FORMAT = typer.Option(Format.table, "--format", help="table, csv or json")
LIMIT = typer.Option(1000, "--limit", min=1, max=100_000, help="at most this many rows")

TARGETS_SQL = """
SELECT target_id, buyer_id, campaign_id, name, status, bid_cents, rtb_url, buffer_s,
       priority, weight, version, changed_at, changed_by
FROM targets
WHERE ($campaign_id IS NULL OR campaign_id = $campaign_id)
  AND ($buyer_id IS NULL OR buyer_id = $buyer_id)
  AND ($status IS NULL OR status = $status)
ORDER BY target_id LIMIT $limit
"""
CAMPAIGNS_SQL = """
SELECT campaign_id, name, vertical, market, payout, distribution, min_bid_cents,
       min_margin_cents, duplicate_window_days, max_attempts, version, changed_at, changed_by
FROM campaigns ORDER BY campaign_id LIMIT $limit
"""
KEYS_SQL = """
SELECT key_id, role, owner_id, label, created_at, created_by, expires_at, revoked_at,
       CASE WHEN revoked_at IS NOT NULL THEN 'revoked'
            WHEN expires_at <= now() THEN 'expired' ELSE 'active' END AS status
FROM api_keys ORDER BY key_id LIMIT $limit
"""


def _list(sql: str, params: dict[str, Any], fmt: Format, title: str) -> None:
    from projections.readers import NoProjections, open_snapshot

    try:
        con = open_snapshot(load_settings().resolved_duckdb_path)
    except NoProjections as error:
        raise fail(str(error)) from None
    try:
        cursor = con.execute(sql, params)
        columns = [d[0] for d in cursor.description or []]
        rows = cursor.fetchall()
    except duckdb.Error as error:
        raise fail(str(error).strip()) from None
    finally:
        con.close()
    print_result(columns, rows, fmt, title=title)


def _show(view: dict[str, Any], fmt: Format) -> None:
    """One object: JSON as the API answers it, or its fields one a line (table, CSV)."""
    if fmt is Format.json:
        sys.stdout.write(orjson.dumps(view, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    cells: list[tuple[object, ...]] = [
        (name, value if isinstance(value, str) else orjson.dumps(value).decode())
        for name, value in view.items()
    ]
    if fmt is Format.csv:
        print_result(["field", "value"], cells, fmt)
        return
    table = Table(show_header=False)
    for name, value in cells:
        table.add_row(Text(str(name)), Text(str(value)))
    console.print(table)


def _load(kind: str, object_id: str) -> dict[str, Any]:
    from api.setup_views import campaign_view, target_view
    from domain.campaign import Campaign
    from domain.errors import DomainError
    from domain.target import Target
    from ppcx.bootstrap import build_application

    app = build_application(load_settings())
    try:
        if kind == "target":
            return target_view(app.load(Target, object_id, "target_id"))
        return campaign_view(app.load(Campaign, object_id, "campaign_id"))
    except DomainError as error:
        raise fail(error.message) from None
    finally:
        app.close()


@targets_app.command("list")
def list_targets(
    campaign_id: str | None = typer.Option(None, "--campaign-id", help="only this campaign's"),
    buyer_id: str | None = typer.Option(None, "--buyer-id", help="only this buyer's"),
    status: str | None = typer.Option(None, help="active, paused or archived"),
    limit: int = LIMIT,
    fmt: Format = FORMAT,
) -> None:
    """Targets and their current rules, from the projections."""
    if status is not None and status not in ("active", "paused", "archived"):
        raise fail("--status must be active, paused or archived", code=2)
    params = {"campaign_id": campaign_id, "buyer_id": buyer_id, "status": status, "limit": limit}
    _list(TARGETS_SQL, params, fmt, "targets")


@targets_app.command("show")
def show_target(
    target_id: str = typer.Argument(..., help="the target's id (tgt_…)"), fmt: Format = FORMAT
) -> None:
    """One target's current rules, from the event store."""
    _show(_load("target", target_id), fmt)


@campaigns_app.command("list")
def list_campaigns(limit: int = LIMIT, fmt: Format = FORMAT) -> None:
    """Campaigns and their current rules, from the projections."""
    _list(CAMPAIGNS_SQL, {"limit": limit}, fmt, "campaigns")


@campaigns_app.command("show")
def show_campaign(
    campaign_id: str = typer.Argument(..., help="the campaign's id (cmp_…)"),
    fmt: Format = FORMAT,
) -> None:
    """One campaign's current rules, from the event store."""
    _show(_load("campaign", campaign_id), fmt)


def list_keys(limit: int = LIMIT, fmt: Format = FORMAT) -> None:
    """API keys (never their secret or hash): role, owner, label, issued, expiry, revocation,
    from the projections."""
    _list(KEYS_SQL, {"limit": limit}, fmt, "API keys")
