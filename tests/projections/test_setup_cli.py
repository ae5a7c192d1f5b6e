"""`ppcx targets list|show`, `ppcx campaigns list|show`, `ppcx keys list` in every format, and
shell completion."""

from __future__ import annotations

import csv
import io

import orjson
import pytest
from typer.testing import CliRunner

from ppcx.cli import app as cli
from tests.projections.conftest import ProjectedMarket

pytestmark = pytest.mark.e2e


def _out(market: ProjectedMarket, *args: str) -> str:
    result = CliRunner().invoke(cli, list(args), env=market.env)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_targets_list_in_every_format(projected_market: ProjectedMarket) -> None:
    listed = orjson.loads(_out(projected_market, "targets", "list", "--format", "json"))
    assert len(listed) == 3
    assert {t["status"] for t in listed} == {"active"}
    assert sorted(t["bid"] for t in listed) == ["40.00", "45.00", "50.00"]  # dollars
    rows = list(
        csv.reader(io.StringIO(_out(projected_market, "targets", "list", "--format", "csv")))
    )
    assert rows[0][:2] == ["target_id", "buyer_id"]
    assert "bid" in rows[0]
    assert len(rows) == 4
    table = _out(projected_market, "targets", "list")
    assert "targets" in table  # the title (a terminal this narrow folds the columns)
    assert [line[0] for line in table.splitlines()].count("│") == 3  # a row per target
    one = orjson.loads(
        _out(
            projected_market,
            "targets",
            "list",
            "--buyer-id",
            listed[0]["buyer_id"],
            "--format",
            "json",
        )
    )
    assert [t["target_id"] for t in one] == [listed[0]["target_id"]]
    assert (
        orjson.loads(
            _out(projected_market, "targets", "list", "--status", "archived", "--format", "json")
        )
        == []
    )
    bad = CliRunner().invoke(cli, ["targets", "list", "--status", "gone"], env=projected_market.env)
    assert bad.exit_code == 2


def test_show_reads_the_store_in_the_apis_shape(projected_market: ProjectedMarket) -> None:
    listed = orjson.loads(_out(projected_market, "targets", "list", "--format", "json"))
    target_id = listed[0]["target_id"]
    shown = orjson.loads(_out(projected_market, "targets", "show", target_id, "--format", "json"))
    assert (shown["id"], shown["status"], shown["version"]) == (target_id, "active", 1)
    assert shown["bid"] == listed[0]["bid"]
    fields = dict(
        csv.reader(
            io.StringIO(_out(projected_market, "targets", "show", target_id, "--format", "csv"))
        )
    )
    assert fields["id"] == target_id
    assert fields["bid"] == shown["bid"]
    assert target_id in _out(projected_market, "targets", "show", target_id)
    missing = CliRunner().invoke(cli, ["targets", "show", "tgt_nonesuch"], env=projected_market.env)
    assert missing.exit_code == 1
    assert "does not exist" in missing.output


def test_campaigns_list_and_show(projected_market: ProjectedMarket) -> None:
    (listed,) = orjson.loads(_out(projected_market, "campaigns", "list", "--format", "json"))
    shown = orjson.loads(
        _out(projected_market, "campaigns", "show", listed["campaign_id"], "--format", "json")
    )
    assert shown["id"] == listed["campaign_id"]
    assert shown["name"] == listed["name"]
    assert shown["min_bid"] == listed["min_bid"]


def test_keys_list_never_prints_a_hash(projected_market: ProjectedMarket) -> None:
    keys = orjson.loads(_out(projected_market, "keys", "list", "--format", "json"))
    assert isinstance(keys, list)
    for key in keys:
        assert not any("hash" in name for name in key)
    header = next(
        csv.reader(io.StringIO(_out(projected_market, "keys", "list", "--format", "csv")))
    )
    assert header[:3] == ["key_id", "role", "owner_id"]
    assert "status" in header


def test_shell_completion_prints_a_script(monkeypatch: pytest.MonkeyPatch) -> None:
    # the shell is named, not detected from the processes above the test (a run whose parent
    # shell has gone has none to detect): Typer reads this when it builds the command
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    result = CliRunner().invoke(cli, ["--show-completion", "bash"])
    assert result.exit_code == 0, result.output
    assert "complete" in result.stdout
    assert "ppcx" in result.stdout.lower() or "_PPCX_COMPLETE" in result.stdout
