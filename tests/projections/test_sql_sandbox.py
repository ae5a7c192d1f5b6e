"""`ppcx sql` is read-only for real, and `ppcx export` writes only where it is told: escape
attempts through the CLI against a real projected DuckDB, all refused with a clear message
and nothing read or written; the API's snapshot reader runs in the same sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import duckdb
import orjson
import pytest
from click.testing import Result
from typer.testing import CliRunner

from ppcx.cli import app as cli
from projections.readers import SnapshotReader
from tests.projections.conftest import ProjectedMarket

pytestmark = pytest.mark.e2e
SECRET = "TOPSECRET-7f3a"


@dataclass(frozen=True)
class Bait:
    """Files a query must not reach: secrets to read, a path to write."""

    directory: Path
    out: Path
    csv: Path
    text: Path
    json: Path
    parquet: Path

    def fill(self, template: str) -> str:
        return template.format(
            out=self.out,
            csv=self.csv,
            text=self.text,
            json=self.json,
            parquet=self.parquet,
            dir=self.directory,
        )


@pytest.fixture
def bait(tmp_path: Path) -> Bait:
    directory = tmp_path / "bait"
    directory.mkdir()
    bait = Bait(
        directory=directory,
        out=directory / "leak.out",
        csv=directory / "secret.csv",
        text=directory / "secret.txt",
        json=directory / "secret.json",
        parquet=directory / "secret.parquet",
    )
    bait.csv.write_text(f"token,n\n{SECRET},1\n")
    bait.text.write_text(SECRET + "\n")
    bait.json.write_text(orjson.dumps({"token": SECRET}).decode())
    con = duckdb.connect()
    try:
        con.sql(f"SELECT '{SECRET}' AS token").write_parquet(str(bait.parquet))
    finally:
        con.close()
    return bait


def _run(market: ProjectedMarket, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=market.env)


ESCAPES = {
    "copy_table_to": "COPY calls TO '{out}'",
    "copy_query_to": "COPY (SELECT * FROM calls) TO '{out}' (FORMAT parquet)",
    "copy_from": "COPY campaigns FROM '{csv}'",
    "export_database": "EXPORT DATABASE '{out}'",
    "read_csv": "SELECT * FROM read_csv('{csv}')",
    "read_csv_auto": "SELECT * FROM read_csv_auto('{csv}')",
    "file_as_table": "SELECT * FROM '{csv}'",
    "sniff_csv": "SELECT * FROM sniff_csv('{csv}')",
    "read_text": "SELECT content FROM read_text('{text}')",
    "read_blob": "SELECT content FROM read_blob('{text}')",
    "read_parquet": "SELECT * FROM read_parquet('{parquet}')",
    "parquet_metadata": "SELECT * FROM parquet_metadata('{parquet}')",
    "read_json": "SELECT * FROM read_json('{json}')",
    "read_json_objects": "SELECT * FROM read_json_objects('{json}')",
    "glob": "SELECT * FROM glob('{dir}/*')",
    "glob_root": "SELECT * FROM glob('/*')",
    "nested_query": "SELECT * FROM query('SELECT content FROM read_text(''{text}'')')",
    "attach": "ATTACH '{out}' AS other",
    "detach": "DETACH analytics",
    "install": "INSTALL httpfs",
    "load": "LOAD httpfs",
    "set_external_access": "SET enable_external_access = true",
    "unlock": "SET lock_configuration = false",
    "reset": "RESET enable_external_access",
    "pragma": "PRAGMA enable_profiling",
    "pragma_output": "PRAGMA profiling_output = '{out}'",
    "call": "CALL enable_profiling()",
    "checkpoint": "CHECKPOINT",
    "create_table": "CREATE TABLE stolen AS SELECT * FROM calls",
    "create_temp_table": "CREATE TEMP TABLE stolen (a INTEGER)",
    "create_secret": "CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 'v')",
    "insert": "INSERT INTO publishers SELECT * FROM publishers",
    "update": "UPDATE calls SET revenue_cents = 0",
    "delete": "DELETE FROM calls",
    "two_selects": "SELECT 1; SELECT 2",
    "select_then_copy": "SELECT 1; COPY calls TO '{out}'",
    "select_then_read": "SELECT 1; SELECT content FROM read_text('{text}')",
}


@pytest.mark.parametrize("template", ESCAPES.values(), ids=list(ESCAPES))
def test_sql_refuses_every_escape(
    projected_market: ProjectedMarket, bait: Bait, template: str
) -> None:
    before = sorted(p.name for p in bait.directory.iterdir())
    result = _run(projected_market, "sql", bait.fill(template), "--format", "csv")
    assert result.exit_code not in (0, None), result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not a crash
    assert "Traceback" not in result.output
    message = " ".join(result.stderr.split())
    assert "read-only" in message, message
    if ";" in template:
        assert "one statement at a time" in message
    assert SECRET not in result.output
    assert not bait.out.exists()
    assert sorted(p.name for p in bait.directory.iterdir()) == before


ALLOWED = {
    "select": ("SELECT count(*) AS n FROM calls", "n"),
    "with": ("WITH c AS (SELECT * FROM calls) SELECT count(*) AS n FROM c", "n"),
    "from_first": ("FROM calls SELECT count(*) AS n", "n"),
    "trailing_semicolon": ("SELECT count(*) AS n FROM calls;", "n"),
    "describe": ("DESCRIBE calls", "column_name"),
    "show_tables": ("SHOW TABLES", "name"),
    "summarize": ("SUMMARIZE campaigns", "column_name"),
    "semicolon_in_text": ("SELECT 'a;b' AS s", "s"),
}


@pytest.mark.parametrize(("query", "first_column"), ALLOWED.values(), ids=list(ALLOWED))
def test_sql_still_runs_a_select(
    projected_market: ProjectedMarket, query: str, first_column: str
) -> None:
    result = _run(projected_market, "sql", query, "--format", "csv")
    assert result.exit_code == 0, result.output
    assert result.stdout.split("\n")[0].split(",")[0] == first_column
    assert len(result.stdout.split("\n")) > 2  # a header and at least one row


def test_sql_shows_brackets_and_markup_as_text(projected_market: ProjectedMarket) -> None:
    shown = _run(projected_market, "sql", "SELECT '[/bold] [red]x' AS \"[/i]\"")
    assert shown.exit_code == 0, shown.output
    assert "[/bold] [red]x" in shown.stdout
    assert "[/i]" in shown.stdout
    bad = _run(projected_market, "sql", "SELECT [/x] FROM")
    assert bad.exit_code == 1
    assert "Parser Error" in bad.stderr


ODD_NAMES = (
    "it's here",
    'say "cheese"',
    "semi;colon -- and $HOME",
    "brackets [bold] {x}",
    "x'); DROP TABLE calls; --",
)


@pytest.mark.parametrize("name", ODD_NAMES)
def test_export_writes_where_asked_whatever_the_path(
    projected_market: ProjectedMarket, tmp_path: Path, name: str
) -> None:
    target = tmp_path / name / "parquet"
    for _ in range(2):  # a second export replaces the first
        result = _run(projected_market, "export", "--to", str(target))
        assert result.exit_code == 0, result.output
    assert sorted(p.name for p in target.iterdir()) == sorted(
        [
            "bids",
            "buyers.parquet",
            "calls",
            "campaigns.parquet",
            "ledger_entries",
            "pings",
            "publishers.parquet",
            "targets.parquet",
            "tracking_numbers.parquet",
        ]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    days = sorted(p.name for p in (target / "calls").iterdir())
    assert days
    assert all(d.startswith("day=") for d in days)
    con = duckdb.connect()
    try:
        files = [str(p) for p in (target / "calls").glob("*/*.parquet")]
        exported = con.execute(
            "SELECT count(*) FROM read_parquet($files)", {"files": files}
        ).fetchone()
    finally:
        con.close()
    counted = _run(projected_market, "sql", "SELECT count(*) AS n FROM calls", "--format", "csv")
    assert exported is not None
    assert counted.stdout == f"n\n{exported[0]}\n"
    assert exported[0] == 40


def test_api_snapshot_reader_is_sandboxed(projected_market: ProjectedMarket, bait: Bait) -> None:
    assert projected_market.settings.duckdb_path is not None
    reader = SnapshotReader(projected_market.settings.duckdb_path)
    try:
        cursor = reader.cursor()
        count = cursor.execute("SELECT count(*) FROM calls").fetchone()
        assert count == (40,)
        for query in (
            f"SELECT content FROM read_text('{bait.text}')",
            f"COPY calls TO '{bait.out}'",
            "SET enable_external_access = true",
        ):
            with pytest.raises(duckdb.Error):
                reader.cursor().execute(query)
        assert not bait.out.exists()
    finally:
        reader.close()


READ_TIME_ZONE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from projections.readers import SnapshotReader

    reader = SnapshotReader(Path(sys.argv[1]))
    print(reader.cursor().execute("SELECT current_setting('TimeZone')").fetchone()[0])
    """
)


def test_api_snapshot_reader_reads_times_in_utc_whatever_the_machine_zone(
    projected_market: ProjectedMarket,
) -> None:
    """The API's routes read through cursors of the reader's connection: each of them reads
    (and groups by day) in UTC, not in the zone of the machine running the API."""
    shown = subprocess.run(
        [sys.executable, "-c", READ_TIME_ZONE, str(projected_market.settings.duckdb_path)],
        env={**os.environ, "TZ": "America/New_York"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert shown.stdout.strip() == "UTC"
