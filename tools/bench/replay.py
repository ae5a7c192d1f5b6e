"""`ppcx-tools bench replay`: verification throughput over a month-sized log (1 M calls), next to a
raw read-and-decode of the same rows (fetch + orjson.loads) in the same run.

The synthetic log is generated once with the real recorder and kept in the data dir
(`bench-replay-<calls>/`), so later runs measure verification only."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from eventstore.chain import chain_key
from ppcx.bootstrap import build_application
from ppcx.settings import Settings
from replay.log import pages
from replay.verify import verify
from tools.bench.report import Figure, rate
from tools.sim.synthetic import generate_fast

AUDIT_KEY = "bench-replay"


def _log(settings: Settings, calls: int, console: Console) -> Settings:
    directory = settings.resolved_data_dir / f"bench-replay-{calls}"
    log_settings = settings.model_copy(
        update={
            "data_dir": directory,
            "persistence_module": "eventsourcing.sqlite",
            "sqlite_dbname": str(directory / "events.sqlite"),
            "audit_key": AUDIT_KEY,
        }
    )
    done = directory / "complete"
    if done.exists():
        return log_settings
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "events.sqlite").unlink(missing_ok=True)
    app = build_application(log_settings)
    try:
        columns = (
            TextColumn("generating the log"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("generate", total=calls)
            generate_fast(
                app,
                calls,
                seed=11,
                start=datetime(2026, 10, 1, tzinfo=UTC),
                on_progress=lambda n: progress.update(task, completed=n),
            )
    finally:
        app.close()
    done.write_text("generated\n")  # only a finished log is reused
    return log_settings


def run(settings: Settings, console: Console, *, calls: int = 1_000_000) -> list[Figure]:
    log_settings = _log(settings, calls, console)
    app = build_application(log_settings)
    try:
        console.print("replay: raw read and decode …")
        began = time.perf_counter()
        raw_events = 0
        for page in pages(app.store.read_chained):
            for row in page:
                if row[4] is not None:
                    orjson.loads(row[4])
                    raw_events += 1
        raw_s = time.perf_counter() - began
        console.print("replay: verify …")
        began = time.perf_counter()
        report = verify(app.store.read_chained, chain_key(AUDIT_KEY))
        verify_s = time.perf_counter() - began
    finally:
        app.close()
    if not report.ok:
        raise RuntimeError(f"the benchmark log did not verify: {report.failures[:3]}")
    verified = rate(report.events, verify_s)
    raw = rate(raw_events, raw_s)
    return [
        Figure("log size", float(report.events), "events"),
        Figure(
            "replay verify",
            verified,
            "events/s",
            "raw read + orjson.loads",
            raw,
            target="≥ 100,000",
        ),
        Figure(
            f"verify {calls:,} calls",
            verify_s,
            "s",
            "raw read + decode",
            raw_s,
            higher_is_better=False,
        ),
    ]
