"""`ppcx replay asof --at T`: the projections as they stood at T — balances, open holds, P&L,
attribution — rebuilt from the events whose time is at or before T into a DuckDB file of
their own (month-end close, reproducible any time later). The same SQL as the live
projector, over the log filtered by event time."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import orjson

from eventstore.rows import ChainedRow
from projections.projector import Projector
from projections.store import ProjectionStore, snapshot_path_for
from replay.log import SelectChained


def until(select_chained: SelectChained, moment: datetime) -> SelectChained:
    """`select_chained` restricted to events at or before `moment` (a page may be short;
    reading resumes after the last row returned)."""

    def keep(row: ChainedRow) -> bool:
        state = row[4]
        if row[3] is None or state is None:
            return False
        stamp = orjson.loads(state).get("timestamp")
        return isinstance(stamp, str) and datetime.fromisoformat(stamp) <= moment

    def select(start: int, limit: int) -> list[ChainedRow]:
        found: list[ChainedRow] = []
        position = start
        while len(found) < limit:
            page = select_chained(position, limit)
            if not page:
                break
            found.extend(row for row in page if keep(row))
            position = page[-1][0] + 1
        return found[:limit]

    return select


def rebuild_as_of(select_chained: SelectChained, moment: datetime, target: Path) -> dict[str, int]:
    for path in (target, snapshot_path_for(target), Path(f"{target}.wal")):
        path.unlink(missing_ok=True)
    store = ProjectionStore(target)
    try:
        stats = Projector(store).run_from_log(until(select_chained, moment))
        store.publish_snapshot(force=True)
        con = store.con
        accounts = con.execute("SELECT count(DISTINCT account) FROM ledger_entries").fetchone()
        holds = con.execute("SELECT count(DISTINCT transfer_id) FROM open_holds").fetchone()
        calls = con.execute("SELECT count(*) FROM calls").fetchone()
    finally:
        store.close()
    return {
        "events": stats.events,
        "accounts": int(accounts[0]) if accounts else 0,
        "open_holds": int(holds[0]) if holds else 0,
        "calls": int(calls[0]) if calls else 0,
    }
