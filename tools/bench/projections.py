"""`ppcx-tools bench projections`: relay msgs/s, projector events/s (log and JetStream), and report
query times over 10 million synthetic calls — each next to a raw DuckDB baseline measured in
the same run (inserting the same rows; grouping the raw calls table)."""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import nats
from nats.js.api import AckPolicy, ConsumerConfig
from rich.console import Console

from domain.invariant import present
from ppcx.bootstrap import build_application
from ppcx.settings import Settings
from projections.projector import Projector
from projections.relay import PAGE_EVENTS, ChainedRow, Relay, ensure_stream, message, subject_for
from projections.reports import run_report
from projections.store import ProjectionStore, connect, sql_file
from tools.bench.report import Figure, rate, timed
from tools.sim.synthetic import generate_fast

LOG_CALLS = 20_000
QUERY_CALLS = 10_000_000
ROW_TABLES = ("pings", "bids", "calls", "ledger_entries")


def _raw_insert_rate(store: ProjectionStore, directory: Path) -> float:
    """Rows/s appending the projector's own output rows (as Arrow) to a fresh DuckDB."""
    tables = {}
    for name in ROW_TABLES:
        tables[name] = present(
            store.con.execute(f"SELECT * FROM {name}").to_arrow_table(), f"{name} as Arrow"
        )
    rows = sum(t.num_rows for t in tables.values())
    target = connect(directory / "raw.duckdb")
    try:
        target.execute(sql_file("schema.sql"))

        def insert() -> None:
            for name, table in tables.items():
                target.register("incoming", table)
                target.execute(f"INSERT INTO {name} SELECT * FROM incoming")
                target.unregister("incoming")

        return rate(rows, timed(insert))
    finally:
        target.close()


SYNTHETIC_CALLS = """
INSERT INTO calls BY NAME  -- by name: a column added to the table later stays NULL
SELECT 'call_' || lpad(i::VARCHAR, 32, '0') AS call_id,
       TIMESTAMPTZ '2026-10-01 00:00:00+00' + (i % 2592000) * INTERVAL 1 SECOND AS pinged_at,
       'cmp_' || (hash(i) % 5) AS campaign_id,
       ['legal', 'insurance', 'home_services', 'solar', 'medical'][(hash(i) % 5)::BIGINT + 1]
           AS vertical,
       'pub_' || (hash(i * 3) % 20) AS publisher_id,
       'h' || (hash(i * 7) % 3000000) AS caller_hash,
       ['CA','TX','FL','NY','IL','PA','OH','GA','NC','MI']
           [(hash(i * 11) % 10)::BIGINT + 1] AS state,
       lpad((hash(i * 13) % 99999)::VARCHAR, 5, '0') AS zip,
       ['google','bing','facebook','tv','seo'][(hash(i * 17) % 5)::BIGINT + 1] AS source,
       'cpc' AS medium, NULL AS utm_campaign,
       ['lawyer','attorney','insurance quote','solar','roof','plumber','dentist','claim']
           [(hash(i * 19) % 8)::BIGINT + 1] AS keyword,
       NULL AS tracking_number, 3 AS bid_count, true AS accepted, NULL AS no_buyer_reason,
       'buy_' || (hash(i * 23) % 60) AS buyer_id, 'tgt_' || (hash(i * 23) % 300) AS target_id,
       4000 + (hash(i * 29) % 20) * 100 AS price_cents, 3000 AS payout_offer_cents,
       false AS expired, true AS posted, NULL AS posted_at, 1 AS attempts,
       (hash(i * 31) % 10) < 8 AS answered, NULL AS completed_at,
       (hash(i * 37) % 600)::INTEGER AS duration_s,
       (hash(i * 31) % 10) < 8 AND (hash(i * 37) % 600) >= 90 AS billed,
       NULL AS not_billed_reason,
       CASE WHEN (hash(i * 31) % 10) < 8 AND (hash(i * 37) % 600) >= 90
            THEN 4000 + (hash(i * 29) % 20) * 100 ELSE 0 END AS revenue_cents,
       CASE WHEN (hash(i * 31) % 10) < 8 AND (hash(i * 37) % 600) >= 90
            THEN 3000 ELSE 0 END AS payout_cents,
       CASE WHEN (hash(i * 31) % 10) < 8 AND (hash(i * 37) % 600) >= 90
            THEN 1000 + (hash(i * 29) % 20) * 100 ELSE 0 END AS margin_cents,
       (hash(i * 41) % 10) = 0 AS converted, NULL AS conversion_value_cents,
       false AS disputed, false AS reversed
FROM range({n}) t(i)
"""
RAW_PNL = """
SELECT campaign_id, sum(CASE WHEN posted THEN 1 ELSE 0 END) AS calls,
       sum(CASE WHEN billed AND NOT reversed THEN 1 ELSE 0 END) AS billable,
       sum(revenue_cents), sum(payout_cents), sum(margin_cents)
FROM calls GROUP BY campaign_id ORDER BY campaign_id
"""
RAW_ATTRIBUTION = """
SELECT source, keyword, count(*) FILTER (WHERE posted), sum(revenue_cents), sum(payout_cents)
FROM calls GROUP BY ALL ORDER BY ALL
"""


def _queries(directory: Path, calls: int, console: Console) -> list[Figure]:
    con = connect(directory / "query.duckdb")
    try:
        con.execute(sql_file("schema.sql"))
        console.print(f"projections: {calls:,} synthetic calls into DuckDB …")
        insert_s = timed(lambda: con.execute(SYNTHETIC_CALLS.replace("{n}", str(calls))))
        console.print("projections: building the rollups …")
        con.execute(
            "CREATE TEMP TABLE touched_hours AS SELECT DISTINCT "
            "date_trunc('hour', pinged_at) AS hour FROM calls"
        )
        con.execute(
            "CREATE TEMP TABLE touched_days AS SELECT DISTINCT "
            "CAST(hour AS DATE) AS day FROM touched_hours"
        )
        rollup_s = timed(lambda: con.execute(sql_file("rollups.sql")))
        con.execute("CHECKPOINT")

        def best(query: object, runs: int = 3) -> float:
            return min(timed(query) for _ in range(runs))  # type: ignore[arg-type]

        pnl_s = best(lambda: run_report(con, "pnl", group_by=["campaign"]))
        pnl_day_s = best(lambda: run_report(con, "pnl", group_by=["day", "publisher"]))
        attribution_s = best(lambda: run_report(con, "attribution", group_by=["source", "keyword"]))
        raw_pnl_s = best(lambda: con.execute(RAW_PNL).fetchall())
        raw_attribution_s = best(lambda: con.execute(RAW_ATTRIBUTION).fetchall())
        check = run_report(con, "pnl", group_by=["campaign"]).rows
        raw = con.execute(RAW_PNL).fetchall()
        if [tuple(r[1:]) for r in check] != [tuple(r[1:]) for r in raw]:
            raise RuntimeError("the rollup's P&L differs from the raw calls table")
    finally:
        con.close()
    n = f"{calls / 1e6:g} M calls"
    return [
        Figure(f"raw DuckDB insert of {n}", calls / insert_s, "rows/s"),
        Figure(f"rollup build over {n}", rollup_s, "s", higher_is_better=False),
        Figure(
            f"P&L by campaign over {n}",
            pnl_s * 1000,
            "ms",
            "raw GROUP BY on calls",
            raw_pnl_s * 1000,
            "< 1000 ms",
            higher_is_better=False,
        ),
        Figure(
            f"P&L by day, publisher over {n}",
            pnl_day_s * 1000,
            "ms",
            "raw GROUP BY on calls",
            raw_pnl_s * 1000,
            higher_is_better=False,
        ),
        Figure(
            f"attribution by source, keyword over {n}",
            attribution_s * 1000,
            "ms",
            "raw GROUP BY on calls",
            raw_attribution_s * 1000,
            higher_is_better=False,
        ),
    ]


def run(
    settings: Settings,
    nats_url: str,
    console: Console,
    *,
    log_calls: int = LOG_CALLS,
    query_calls: int = QUERY_CALLS,
) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="ppcx-bench-projections-") as tmp:
        directory = Path(tmp)
        store_settings = settings.model_copy(
            update={
                "data_dir": directory,
                "persistence_module": "eventsourcing.sqlite",
                "sqlite_dbname": str(directory / "events.sqlite"),
                "audit_key": "bench",
                "nats_stream": f"BENCH{time.time_ns()}",
                "nats_subject_prefix": f"bench{time.time_ns()}.events",
            }
        )
        app = build_application(store_settings)
        try:
            console.print(f"projections: a log of {log_calls:,} calls …")
            events = generate_fast(app, log_calls, seed=3, start=datetime(2026, 10, 1, tzinfo=UTC))
            relay = Relay(
                app.store.read_chained,
                app.positions(),
                nats_url=nats_url,
                stream=store_settings.nats_stream,
                subject_prefix=store_settings.nats_subject_prefix,
            )
            console.print(f"projections: relaying {events:,} events to JetStream …")
            relay_s = timed(lambda: asyncio.run(relay.run(follow=False)))
            log_store = ProjectionStore(directory / "log.duckdb")
            console.print("projections: projecting from the log …")
            log_s = timed(lambda: Projector(log_store).run_from_log(app.store.read_chained))
            raw_rows = _raw_insert_rate(log_store, directory)
            nats_store = ProjectionStore(directory / "nats.duckdb")
            console.print("projections: projecting from JetStream …")
            nats_s = timed(
                lambda: asyncio.run(
                    Projector(nats_store).run_from_nats(
                        nats_url,
                        store_settings.nats_stream,
                        store_settings.nats_subject_prefix,
                        follow=False,
                    )
                )
            )
            log_store.close()
            nats_store.close()
            console.print("projections: bare nats-py baselines …")
            bare_fetch = asyncio.run(
                _bare_fetch(
                    nats_url, store_settings.nats_stream, store_settings.nats_subject_prefix, events
                )
            )
            bare_publish = asyncio.run(
                _bare_publish(
                    nats_url, app.store.read_chained(1, events + 1), f"bare{time.time_ns()}.events"
                )
            )
            asyncio.run(_drop_stream(nats_url, store_settings.nats_stream))
        finally:
            app.close()
        figures = [
            Figure(
                "relay to JetStream",
                rate(events, relay_s),
                "msgs/s",
                "bare nats-py publish_async, same messages",
                bare_publish,
            ),
            Figure(
                "projector, from the log",
                rate(events, log_s),
                "events/s",
                "raw DuckDB insert of the rows it wrote",
                raw_rows,
                "≥ 50,000 events/s",
            ),
            Figure(
                "projector, from JetStream",
                rate(events, nats_s),
                "events/s",
                "bare nats-py fetch + ack, same messages",
                bare_fetch,
                "≥ 50,000 events/s",
            ),
        ]
        figures += _queries(directory, query_calls, console)
    return figures


async def _bare_publish(nats_url: str, rows: list[ChainedRow], prefix: str) -> float:
    """msgs/s of bare pipelined publishing of the same messages (no log read, no position)."""
    connection = await nats.connect(nats_url)
    stream = f"BARE{time.time_ns()}"
    try:
        js = connection.jetstream(publish_async_max_pending=PAGE_EVENTS)
        await ensure_stream(js, stream, prefix)
        payloads = [(subject_for(prefix, r[3] or ""), message(r), str(r[0])) for r in rows]
        started = time.perf_counter()
        for i in range(0, len(payloads), PAGE_EVENTS):
            futures = [
                await js.publish_async(
                    subject, body, wait_stall=None, headers={"Nats-Msg-Id": msg_id}
                )
                for subject, body, msg_id in payloads[i : i + PAGE_EVENTS]
            ]
            await asyncio.gather(*futures)
        elapsed = time.perf_counter() - started
        await js.delete_stream(stream)
        return rate(len(rows), elapsed)
    finally:
        await connection.close()


async def _bare_fetch(nats_url: str, stream: str, prefix: str, count: int) -> float:
    """msgs/s of bare fetch-and-ack of the same stream by a consumer that does nothing."""
    connection = await nats.connect(nats_url)
    try:
        js = connection.jetstream()
        subscription = await js.pull_subscribe(
            f"{prefix}.>",
            durable="bench-bare",
            stream=stream,
            config=ConsumerConfig(
                durable_name="bench-bare", ack_policy=AckPolicy.ALL, max_ack_pending=count + 1
            ),
        )
        received = 0
        started = time.perf_counter()
        while received < count:
            messages = await subscription.fetch(40_000, timeout=2)
            received += len(messages)
            await messages[-1].ack()
        return rate(received, time.perf_counter() - started)
    finally:
        await connection.close()


async def _drop_stream(nats_url: str, stream: str) -> None:
    connection = await nats.connect(nats_url)
    try:
        await connection.jetstream().delete_stream(stream)
    finally:
        await connection.close()
