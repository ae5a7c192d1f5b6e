"""A projector killed mid-batch, and the analysts' commands, as real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from ppcx.bootstrap import Domain
from ppcx.settings import Settings
from projections.projector import Projector
from projections.store import ProjectionStore
from tests.projections.conftest import dump, project_log

PROJECT_STEP_BY_STEP = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from ppcx.bootstrap import build_application
    from ppcx.settings import Settings
    from projections.projector import Projector
    from projections.store import ProjectionStore

    def step(stats):  # say where it is, then go on only when the test says so
        print(stats.position, flush=True)
        sys.stdin.readline()

    app = build_application(Settings())
    projector = Projector(ProjectionStore(Path(sys.argv[1])))
    projector.run_from_log(app.store.read_chained, batch_events=25, on_progress=step)
    """
)


def _env(settings: Settings, duckdb_path: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "PPCX_DATA_DIR": str(settings.data_dir),
        "SQLITE_DBNAME": str(settings.sqlite_dbname),
        "PPCX_AUDIT_KEY": str(settings.audit_key),
        "PPCX_SECRET_KEY": str(settings.secret_key),
        "PPCX_DUCKDB_PATH": str(duckdb_path),
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
    }
    return env


@pytest.mark.integration
def test_projector_killed_mid_batch_leaves_no_duplicate_and_no_gap(
    market_log: Domain, local_settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "killed.duckdb"
    process = subprocess.Popen(
        [sys.executable, "-c", PROJECT_STEP_BY_STEP, str(path)],
        env=_env(local_settings, path),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    seen = []
    for _ in range(8):  # the projector waits after each batch until it is told to go on
        seen.append(int(process.stdout.readline()))
        process.stdin.write("go\n")
        process.stdin.flush()
    process.send_signal(signal.SIGKILL)  # in the next batch at the latest, whatever the speed
    process.wait(timeout=30)
    assert seen == sorted(seen)
    store = ProjectionStore(path)
    resumed_from = store.position()
    assert seen[-1] <= resumed_from < (market_log.app.store.head())
    Projector(store).run_from_log(market_log.app.store.read_chained)
    clean = project_log(market_log, tmp_path / "clean.duckdb")
    assert dump(store) == dump(clean)


def _ppcx(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ppcx.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.e2e
def test_sql_report_and_export_commands(
    market_log: Domain, local_settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "analytics.duckdb"
    project_log(market_log, path).close()
    env = _env(local_settings, path)

    ok = _ppcx(env, "sql", "SELECT count(*) AS n FROM calls", "--format", "json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)[0]["n"] == 120

    bad = _ppcx(env, "sql", "SELEC nonsense FROM")
    assert bad.returncode != 0
    assert "Parser Error" in bad.stderr
    assert "Traceback" not in bad.stderr + bad.stdout

    missing = _ppcx(env, "sql", "SELECT * FROM no_such_table")
    assert missing.returncode != 0
    assert "no_such_table" in missing.stderr

    for statement in (
        "DELETE FROM calls",
        "CREATE TABLE x (a INT)",
        "INSERT INTO campaigns VALUES ('x','x','x','x','x', now())",
    ):
        refused = _ppcx(env, "sql", statement)
        assert refused.returncode != 0, statement
        assert "read-only" in refused.stderr.lower(), refused.stderr
        assert "Traceback" not in refused.stderr
    count = _ppcx(env, "sql", "SELECT count(*) AS n FROM calls", "--format", "csv")
    assert count.stdout.splitlines() == ["n", "120"]

    pnl = _ppcx(env, "report", "pnl", "--by", "campaign,day", "--format", "json")
    assert pnl.returncode == 0, pnl.stderr
    rows = json.loads(pnl.stdout)
    assert rows
    assert {"campaign_id", "day", "revenue", "payout", "margin"} <= set(rows[0])
    table = _ppcx(env, "report", "funnel")
    assert table.returncode == 0
    assert "pings" in table.stdout
    wrong = _ppcx(env, "report", "pnl", "--by", "planet")
    assert wrong.returncode != 0
    assert "cannot group by 'planet'" in wrong.stderr

    out = tmp_path / "parquet"
    exported = _ppcx(env, "export", "--to", str(out))
    assert exported.returncode == 0, exported.stderr
    days = sorted(p.name for p in (out / "calls").iterdir())
    assert days
    assert all(d.startswith("day=") for d in days)
    con = duckdb.connect()  # the Parquet files, read where an analyst takes them
    try:
        check = con.execute(
            "SELECT count(*) FROM read_parquet($files)",
            {"files": [str(p) for p in (out / "calls").glob("*/*.parquet")]},
        ).fetchone()
    finally:
        con.close()
    assert check == (120,)
